"""Readers for the CIFAR-10 and CIFAR-100 "python version" pickles.

Format (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images", and the file
description at https://www.cs.toronto.edu/~kriz/cifar.html): each batch is a pickled dict with
bytes keys; ``b'data'`` is a uint8 ``(N, 3072)`` array whose rows hold the 1024 red, then green,
then blue values of a 32x32 image in row-major order, so a row reshapes directly to
``(3, 32, 32)``.  CIFAR-10 has ``data_batch_1..5`` + ``test_batch`` with ``b'labels'`` and
``batches.meta[b'label_names']``; CIFAR-100 has ``train`` / ``test`` with ``b'fine_labels'``
(and ``b'coarse_labels'``) and ``meta[b'fine_label_names']``.

Choices:
- Unpickling runs code named by the file, so a restricted unpickler allows only what a numpy
  array needs (``_reconstruct``/``_frombuffer``, ``ndarray``, ``dtype``, ``_codecs.encode``).  A
  file asking for anything else is rejected with a ``ValueError`` instead of executed.
- The fine (100-class) labels are used for CIFAR-100, as in the usual CIFAR-100 benchmarks;
  the coarse labels are ignored.
- ``root`` may be the extracted folder itself or its parent.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import ImageDataset

__all__ = [
    "CIFAR10_DIR",
    "CIFAR100_DIR",
    "find_cifar_dir",
    "load_cifar10",
    "load_cifar100",
    "read_cifar_batch",
]

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = (*CIFAR10_TRAIN, "test_batch", "batches.meta")
CIFAR100_FILES = ("train", "test", "meta")

# (module, name) pairs a numpy-array pickle may reference; "numpy.core" is the pre-2.0 spelling.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


def _canonical_module(module: str) -> str:
    if module == "numpy.core" or module.startswith("numpy.core."):
        return "numpy._core" + module[len("numpy.core") :]
    return module


class _RefusedGlobal(ValueError):
    """A pickle asked for a global outside the allow-list."""


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        canonical = _canonical_module(module)
        if (canonical, name) not in _ALLOWED_GLOBALS:
            raise _RefusedGlobal(
                f"CIFAR file {self._path}: pickle references {module}.{name}, which a CIFAR batch never "
                "needs; refusing to load it"
            )
        try:
            mod = importlib.import_module(canonical)
        except ImportError:  # numpy < 2 has no numpy._core
            mod = importlib.import_module(module)
        return getattr(mod, name)


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f, path).load()
    except FileNotFoundError:
        raise FileNotFoundError(f"CIFAR file {path} does not exist") from None
    except _RefusedGlobal:
        raise
    except Exception as err:  # pickle raises many types on garbage / truncation
        raise ValueError(f"CIFAR file {path}: not a readable pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise ValueError(f"CIFAR file {path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _require(obj: dict, path: Path, keys: tuple[bytes, ...]) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ValueError(
            f"CIFAR file {path}: missing key(s) {missing}; present keys are {sorted(map(repr, obj))}"
        )


def read_cifar_batch(
    path: str | Path, label_key: bytes = b"labels", num_classes: int | None = None
) -> tuple[Tensor, Tensor]:
    """Read one CIFAR batch file as uint8 ``(N, 3, 32, 32)`` images and int64 ``(N,)`` labels.

    With ``num_classes`` the labels must lie in ``[0, num_classes)``.
    """
    path = Path(path)
    obj = _unpickle(path)
    _require(obj, path, (b"data", label_key))
    data = obj[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"CIFAR file {path}: b'data' must be a uint8 (N, 3072) array, got {desc}")
    try:
        raw = np.asarray(obj[label_key])
    except (TypeError, ValueError) as err:
        raise ValueError(f"CIFAR file {path}: {label_key!r} is not a list of integers ({err})") from err
    lab = obj[label_key]
    has_bool = isinstance(lab, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in lab)
    if raw.size and (raw.dtype.kind not in "iu" or has_bool):  # 1.5 or True must not become a class
        got = "booleans" if has_bool else f"dtype {raw.dtype}"
        raise ValueError(f"CIFAR file {path}: {label_key!r} must hold integers, got {got}")
    labels = raw.astype(np.int64)
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"CIFAR file {path}: {data.shape[0]} images but {label_key!r} has shape {labels.shape}"
        )
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"CIFAR file {path}: {label_key!r} values must lie in [0, {num_classes}), "
            f"got range [{labels.min()}, {labels.max()}]"
        )
    x = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return x, torch.from_numpy(labels)


def _read_names(path: Path, key: bytes, expected: int) -> tuple[str, ...]:
    obj = _unpickle(path)
    _require(obj, path, (key,))
    names = tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in obj[key])
    if len(names) != expected:
        raise ValueError(f"CIFAR file {path}: {key!r} lists {len(names)} names, expected {expected}")
    return names


def find_cifar_dir(root: str | Path, folder: str, files: tuple[str, ...]) -> Path | None:
    """``root`` or ``root/folder`` when it holds every file of ``files``, else None."""
    for cand in (Path(root), Path(root) / folder):
        if all((cand / f).is_file() for f in files):
            return cand
    return None


def _locate(root: str | Path, folder: str, files: tuple[str, ...]) -> Path:
    found = find_cifar_dir(root, folder, files)
    if found is None:
        raise FileNotFoundError(f"no CIFAR files in {root} or {Path(root) / folder}: need {', '.join(files)}")
    return found


def load_cifar10(root: str | Path) -> ImageDataset:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (or ``root`` itself): 50,000 / 10,000 images."""
    d = _locate(root, CIFAR10_DIR, CIFAR10_FILES)
    parts = [read_cifar_batch(d / f, b"labels", 10) for f in CIFAR10_TRAIN]
    test_x, test_y = read_cifar_batch(d / "test_batch", b"labels", 10)
    return ImageDataset(
        name="cifar10",
        train_x=torch.cat([p[0] for p in parts]),
        train_y=torch.cat([p[1] for p in parts]),
        test_x=test_x,
        test_y=test_y,
        classes=_read_names(d / "batches.meta", b"label_names", 10),
    )


def load_cifar100(root: str | Path) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``root/cifar-100-python`` (or ``root`` itself)."""
    d = _locate(root, CIFAR100_DIR, CIFAR100_FILES)
    train_x, train_y = read_cifar_batch(d / "train", b"fine_labels", 100)
    test_x, test_y = read_cifar_batch(d / "test", b"fine_labels", 100)
    return ImageDataset(
        name="cifar100",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=_read_names(d / "meta", b"fine_label_names", 100),
    )
