"""A PNG of what the generative module makes: textures from scikit-image's photographs, and
Fashion-MNIST-sized content re-rendered in those textures' style.

    python -m augkit.generative.gallery docs/results/generative/textures.png [--steps 300]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ..gallery import grid_png
from ..io import atomic_write_bytes
from .texture import style_transfer, synthesize_texture

__all__ = ["texture_gallery_png"]

TEXTURES = ("brick", "grass", "gravel")


def _textures(side: int) -> torch.Tensor:
    import skimage.data
    from PIL import Image

    ims = [
        np.asarray(Image.fromarray(getattr(skimage.data, n)()).resize((side, side), Image.BILINEAR))
        for n in TEXTURES
    ]
    return torch.from_numpy(np.stack(ims))[:, None]


def texture_gallery_png(steps: int = 300, seed: int = 0) -> bytes:
    """Rows: source textures, synthesised textures, a camera crop, that crop in each texture's style."""
    import skimage.data
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    src = _textures(64)
    synth, _ = synthesize_texture(src, (64, 64), steps, g)
    cam = np.asarray(Image.fromarray(skimage.data.camera()).resize((64, 64), Image.BILINEAR))
    content = torch.from_numpy(cam.copy())[None, None].expand(len(TEXTURES), -1, -1, -1).contiguous()
    styled, _ = style_transfer(content, src, style_weight=5.0, steps=steps, generator=g)
    rows = [("textures", src), ("synthesised", synth), ("content", content), ("styled", styled)]
    return grid_png(rows, cell=64)


def main() -> None:
    a = argparse.ArgumentParser(description="texture synthesis / style transfer gallery (PNG)")
    a.add_argument("out", help="PNG file to write")
    a.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    a.add_argument("--seed", type=int, default=0, help="seed of the noise and the random filters")
    ns = a.parse_args()
    atomic_write_bytes(ns.out, texture_gallery_png(ns.steps, ns.seed))


if __name__ == "__main__":
    main()
