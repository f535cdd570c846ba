"""An out-of-distribution image set that means something: crops of real photos, not noise.

Uniform-noise images made a poor OOD set (AUROC unstable across seeds and *below 50 %* for
converged models: a trained net can be more confident on noise than on hard test images).
These are random crops of the photographs that ship with scikit-image (no download), in grey
for one-channel data, resized to the dataset's image size: natural images that belong to none
of the classes, as Hendrycks & Gimpel (2017) use natural-image sets for baselines.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["OOD_NAME", "OOD_PHOTOS", "photo_crops"]

OOD_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "text", "brick")
OOD_NAME = "random crops of scikit-image's photographs"


def _photos() -> list[Tensor]:
    import skimage.data

    out = []
    for name in OOD_PHOTOS:
        try:
            arr = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a photo that needs an optional download (pooch) is left out
            continue
        arr = np.stack([arr] * 3, -1) if arr.ndim == 2 else arr[..., :3]
        out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).float())
    if not out:
        raise RuntimeError("no scikit-image photograph could be loaded for the OOD set")
    return out


def photo_crops(n: int, shape: tuple[int, int, int], seed: int = 2024) -> Tensor:
    """``n`` uint8 crops ``(n, C, H, W)``: photo, crop side (1/8 to 1/2 of the photo's short side) and
    position drawn from ``torch.Generator().manual_seed(seed)``; bilinear-resampled to ``H x W``; grey
    (ITU-R 601 weights) when ``C == 1``.  The same arguments give the same bits (cached)."""
    return _crops(int(n), tuple(int(v) for v in shape), int(seed)).clone()


@functools.lru_cache(maxsize=4)
def _crops(n: int, shape: tuple[int, int, int], seed: int) -> Tensor:
    c, h, w = shape
    generator = torch.Generator().manual_seed(seed)
    photos = _photos()
    pick = torch.randint(len(photos), (n,), generator=generator)
    frac = torch.rand(n, generator=generator) * (0.5 - 0.125) + 0.125
    pos = torch.rand(n, 2, generator=generator)
    x = torch.empty(n, 3, h, w)
    for k, img in enumerate(photos):  # one batched bilinear resample per photograph
        idx = (pick == k).nonzero().squeeze(1)
        if not idx.numel():
            continue
        ph, pw = img.shape[1:]
        side = frac[idx] * min(ph, pw)  # crop side in pixels, centre kept inside the photo
        cy = side / 2 + pos[idx, 0] * (ph - side)
        cx = side / 2 + pos[idx, 1] * (pw - side)
        theta = torch.zeros(idx.numel(), 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = side / pw, side / ph
        theta[:, 0, 2], theta[:, 1, 2] = 2 * cx / pw - 1, 2 * cy / ph - 1
        grid = F.affine_grid(theta, [idx.numel(), 3, h, w], align_corners=False)
        src = img.expand(idx.numel(), -1, -1, -1)
        x[idx] = F.grid_sample(src, grid, mode="bilinear", align_corners=False)
    if c == 1:
        x = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return x.round().clamp(0, 255).to(torch.uint8)
