"""Reader for SVHN "format 2" (cropped 32x32 digits) MATLAB files.

Format (Netzer et al. 2011, "Reading Digits in Natural Images with Unsupervised Feature
Learning", and http://ufldl.stanford.edu/housenumbers/): ``train_32x32.mat`` / ``test_32x32.mat``
hold ``X`` as uint8 ``(32, 32, 3, N)`` (H, W, C, N) and ``y`` as ``(N, 1)`` with labels 1..10,
where 10 stands for the digit 0.

Choices: labels are mapped so that class ``k`` is the digit ``k`` (10 -> 0), the convention of
torchvision and most papers.  ``extra_32x32.mat`` (531k easier images) is not loaded; papers that
use it say so explicitly.  Files are read with ``scipy.io.loadmat`` (MATLAB v5 files; SVHN is not
distributed as v7.3/HDF5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import ImageDataset

__all__ = ["SVHN_CLASSES", "SVHN_FILES", "load_svhn", "read_svhn_mat"]

SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
SVHN_CLASSES = tuple(str(d) for d in range(10))


def read_svhn_mat(path: str | Path) -> tuple[Tensor, Tensor]:
    """Read one SVHN ``*_32x32.mat`` as uint8 ``(N, 3, 32, 32)`` and int64 labels in 0..9."""
    import scipy.io  # scikit-learn already depends on scipy; imported here to keep import time low

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SVHN file {path} does not exist")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, ... on bad files
        raise ValueError(
            f"SVHN file {path}: not a readable MATLAB file ({type(err).__name__}: {err})"
        ) from err
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"SVHN file {path}: missing variable(s) {missing}; present are {present}")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise ValueError(f"SVHN file {path}: X must be uint8 (H, W, 3, N), got {x.dtype} {x.shape}")
    n = x.shape[3]
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"SVHN file {path}: X holds {n} images but y holds {y.shape[0]} labels")
    if n and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"SVHN file {path}: y must lie in 1..10 (10 = digit 0), got [{y.min()}, {y.max()}]")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    labels = torch.from_numpy(y.astype(np.int64) % 10)
    return images, labels


def load_svhn(root: str | Path) -> ImageDataset:
    """SVHN from ``root/train_32x32.mat`` and ``root/test_32x32.mat`` (73,257 / 26,032 images)."""
    root = Path(root)
    train_x, train_y = read_svhn_mat(root / SVHN_FILES[0])
    test_x, test_y = read_svhn_mat(root / SVHN_FILES[1])
    return ImageDataset("svhn", train_x, train_y, test_x, test_y, SVHN_CLASSES)
