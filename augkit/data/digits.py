"""scikit-learn's 8x8 handwritten digits as an always-available dataset.

Source: ``sklearn.datasets.load_digits`` -- the UCI "Optical Recognition of Handwritten Digits"
test set (Alpaydin & Kaynak 1998), 1,797 images of 8x8 blocks counted 0..16 per pixel.  It ships
inside scikit-learn, so tests and smoke runs never depend on a download.

Choices: counts 0..16 are scaled to 0..255 as ``round(v * 255 / 16)`` (16 -> 255, exact for 0 and
16); the train/test split is stratified with a fixed seed, 360 test images (about 20 %) leaving
1,437 for training.  The dataset has no official split, so this one is ours.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import ImageDataset
from .subsets import train_val_split

__all__ = ["DIGITS_CLASSES", "load_digits_dataset"]

DIGITS_CLASSES = tuple(str(d) for d in range(10))


def load_digits_dataset(test_size: int = 360, seed: int = 0) -> ImageDataset:
    """The 1,797 sklearn digits as uint8 ``(N, 1, 8, 8)``, split 1,437 / 360 by default."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = train_val_split(y, test_size, torch.Generator().manual_seed(seed))
    return ImageDataset("digits", x[train_idx], y[train_idx], x[test_idx], y[test_idx], DIGITS_CLASSES)
