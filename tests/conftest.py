"""Shared fixtures: real photos from scikit-image, resized with Pillow, as uint8 batches."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image

_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "motorcycle_left")


@functools.lru_cache(maxsize=32)
def _photo_batch(h: int, w: int, channels: int) -> torch.Tensor:
    import skimage.data

    imgs = []
    for name in _PHOTOS:
        try:
            arr = getattr(skimage.data, name)()
        except Exception:  # some photos need optional downloads (pooch); skip those
            continue
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        pil = Image.fromarray(arr[..., :3]).resize((w, h), Image.BILINEAR)
        if channels == 1:
            pil = pil.convert("L")
        a = np.asarray(pil)
        a = a[..., None] if a.ndim == 2 else a
        imgs.append(torch.from_numpy(a.copy()).permute(2, 0, 1))
    return torch.stack(imgs)


def photos(h: int = 32, w: int = 32, channels: int = 3) -> torch.Tensor:
    """(B, C, H, W) uint8 batch of real photos (B = number of bundled photos available)."""
    return _photo_batch(h, w, channels).clone()


@pytest.fixture
def real_batch() -> torch.Tensor:
    return photos(32, 32, 3)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny batches: intra-op threads only add synchronisation (badly so on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels():
    """Compile numba's kernels once before any test (seconds on a fresh machine, then cached on
    disk), so a first compile is not charged to a hypothesis deadline meant to catch hangs."""
    from augkit.ops import _jit

    _jit.warm()
