"""Image galleries: every op, transform and policy applied to real images, as a PNG grid.

Rows are augmentations, columns are images (scikit-image's bundled photos and, when its
files are present, Fashion-MNIST).  Each row uses a fixed generator, so the gallery is
reproducible bit for bit.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from . import policies, transforms
from .space import OPS, op_value

__all__ = ["gallery_png", "grid_png", "real_images", "standard_rows"]

CELL = 64
LABEL_W = 150


def real_images(n_photos: int = 4, n_fashion: int = 4, size: int = 64, data_dir: str | None = None) -> Tensor:
    """(N, 3, size, size) uint8: photos from scikit-image plus Fashion-MNIST items if present."""
    import skimage.data

    imgs = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "immunohistochemistry")[
        :n_photos
    ]:
        try:
            arr = getattr(skimage.data, name)()
        except Exception:  # a photo that needs an optional download is skipped
            continue
        arr = np.stack([arr] * 3, -1) if arr.ndim == 2 else arr[..., :3]
        imgs.append(np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR)))
    if n_fashion:
        from .data import available, load_dataset

        if available("fashion-mnist", data_dir):
            ds = load_dataset("fashion-mnist", data_dir)
            picks = [int((ds.test_y == c).nonzero()[0]) for c in range(n_fashion)]
            for i in picks:
                a = Image.fromarray(ds.test_x[i, 0].numpy()).resize((size, size), Image.NEAREST)
                imgs.append(np.stack([np.asarray(a)] * 3, -1))
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


def grid_png(rows: Sequence[tuple[str, Tensor]], cell: int = CELL) -> bytes:
    """Compose labelled rows of uint8 (N, C, H, W) batches into one PNG."""
    ncols = max(r[1].shape[0] for r in rows)
    canvas = Image.new("RGB", (LABEL_W + ncols * (cell + 2), len(rows) * (cell + 2)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (label, batch) in enumerate(rows):
        y0 = r * (cell + 2)
        draw.text((4, y0 + cell // 2 - 6), label[:24], fill="black")
        for c in range(batch.shape[0]):
            img = batch[c]
            img = img.expand(3, -1, -1) if img.shape[0] == 1 else img
            pil = Image.fromarray(img.permute(1, 2, 0).numpy()).resize((cell, cell), Image.NEAREST)
            canvas.paste(pil, (LABEL_W + c * (cell + 2), y0))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _op_row(name: str, m: float = 0.7) -> Callable[[Tensor, torch.Generator], Tensor]:
    from .space import apply_op

    def run(x: Tensor, g: torch.Generator) -> Tensor:
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        sign = torch.where(torch.arange(b) % 2 == 0, 1.0, -1.0)
        v = op_value(name, torch.full((b,), m), sign, h, w)
        kw = {"partner": x.roll(1, 0)} if "partner" in OPS[name].aux else {}
        return apply_op(x, name, v, **kw)

    return run


def standard_rows() -> list[tuple[str, Callable[[Tensor, torch.Generator], Tensor]]]:
    """Every op of the table (magnitude 0.7), every transform module and every policy."""
    rows: list[tuple[str, Callable]] = [("original", lambda x, g: x)]
    rows += [(f"op {n}", _op_row(n)) for n in sorted(OPS) if n != "Identity"]
    modules = {
        "hflip": transforms.RandomFlip(1.0),
        "vflip": transforms.RandomFlip(1.0, "vertical"),
        "pad-crop 8": transforms.PadCrop(8),
        "resized crop": transforms.RandomResizedCrop(64),
        "affine": transforms.RandomAffine(25, (0.1, 0.1), (0.8, 1.2), 0.3),
        "elastic": transforms.ElasticDistortion(20.0, 4.0),
        "color jitter": transforms.ColorJitter(0.4, 0.4, 0.4, 0.1),
        "grayscale": transforms.RandomGrayscale(1.0),
        "gaussian blur": transforms.GaussianBlur((1.0, 2.0), p=1.0),
        "gaussian noise": transforms.GaussianNoise((0.05, 0.15), p=1.0),
        "cutout 24": transforms.Cutout(24),
        "random erasing": transforms.RandomErasing(1.0),
        "erasing random": transforms.RandomErasing(1.0, value="random"),
        "hide-and-seek": transforms.HideAndSeek(4, 0.5),
        "gridmask": transforms.GridMask(p=1.0, rotate=20),
        "samplepairing": transforms.SamplePairing(0.4),
        "AA cifar10": policies.AutoAugment("cifar10"),
        "AA svhn": policies.AutoAugment("svhn"),
        "AA imagenet": policies.AutoAugment("imagenet"),
        "AA cifar10 code": policies.AutoAugment("cifar10", "code"),
        "RandAugment n2 m9": policies.RandAugment(2, 9),
        "TrivialAugment": policies.TrivialAugment(),
    }
    rows += [(k, (lambda x, g, m=m: m(x, generator=g))) for k, m in modules.items()]
    return rows


def gallery_png(images: Tensor | None = None, seed: int = 0, rows=None) -> bytes:
    x = real_images() if images is None else images
    out = []
    for i, (label, fn) in enumerate(rows or standard_rows()):
        out.append((label, fn(x, torch.Generator().manual_seed(seed + i))))
    return grid_png(out)
