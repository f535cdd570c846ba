"""The one in-memory dataset record every loader returns.

Images are kept as uint8 ``(N, C, H, W)`` tensors (the natural storage type of every supported
format: IDX, CIFAR pickles, SVHN ``.mat``, 8-bit image files), labels as int64 ``(N,)``.
Conversion to float and normalisation happen after augmentation, in the strategy or the model
(DESIGN.md section 4), so the dataset only reports the statistics a normaliser needs.

Choices:
- ``mean()``/``std()`` are per channel over every training pixel, scaled to [0, 1], with the
  population (ddof = 0) standard deviation.  This is the "dataset std" convention; some CIFAR code
  quotes 0.2023/0.1994/0.2010, which is the mean of *per-image* stds and is not what we compute.
- ``eq=False``: two datasets compare by identity; comparing tensors field by field is ambiguous.
- The record is treated as immutable: ``mean()``/``std()`` are cached on first use, so do not
  modify its tensors in place (derive a new dataset with ``dataclasses.replace`` instead).
- ``train_x`` may instead be a :class:`~augkit.data.files.FileImages` (an image folder too large
  to decode, streamed while training); it has the same ``shape`` and its ``mean()``/``std()``
  are the same numbers.  Validation and test images are always tensors: evaluation reads them
  many times, and a streamed run decodes them once (cut a large test set with ``test_subset``).
- ``skipped`` lists the files a folder loader left out as unreadable (``bad_files="skip"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .files import FileImages

__all__ = ["ImageDataset"]

# Rows per chunk for the channel statistics: bounds the int32 working copy to a few tens of MB.
_STATS_CHUNK = 4096


def _check_split(name: str, x: Tensor | FileImages | None, y: Tensor | None) -> None:
    if isinstance(x, FileImages) and name != "train":
        raise TypeError(f"{name}_x must be a uint8 tensor: only train_x may be a FileImages (streamed)")
    if not isinstance(x, (Tensor, FileImages)) or not isinstance(y, Tensor):
        raise TypeError(
            f"{name}_x and {name}_y must be torch.Tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise ValueError(f"{name}_x must be a uint8 (N, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
    if y.ndim != 1 or y.dtype != torch.int64:
        raise ValueError(f"{name}_y must be an int64 (N,) tensor, got {y.dtype} {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}_x has {x.shape[0]} images but {name}_y has {y.shape[0]} labels")


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Train/test (and optional validation) split of one image-classification dataset."""

    name: str
    train_x: Tensor | FileImages
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: tuple[str, ...]
    val_x: Tensor | None = None
    val_y: Tensor | None = None
    skipped: tuple[str, ...] = ()
    # Derived statistics; a dict so the frozen record can fill it lazily.  Not an __init__ argument.
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.classes, tuple) or not all(isinstance(c, str) for c in self.classes):
            raise TypeError(f"classes must be a tuple of str, got {self.classes!r}")
        if len(self.classes) == 0:
            raise ValueError("classes must name at least one class, got ()")
        if not isinstance(self.skipped, tuple) or not all(isinstance(s, str) for s in self.skipped):
            raise TypeError(f"skipped must be a tuple of str, got {self.skipped!r:.80}")
        splits = [("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)]
        if (self.val_x is None) != (self.val_y is None):
            raise ValueError("val_x and val_y must both be given or both be None")
        if self.val_x is not None:
            splits.append(("val", self.val_x, self.val_y))
        for split, x, y in splits:
            _check_split(split, x, y)
            if x.shape[1:] != self.train_x.shape[1:]:
                raise ValueError(
                    f"{split}_x images have shape {tuple(x.shape[1:])}, "
                    f"train_x images have {tuple(self.train_x.shape[1:])}"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
                raise ValueError(
                    f"{split}_y labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes, "
                    f"got range [{int(y.min())}, {int(y.max())}]"
                )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        c, h, w = self.train_x.shape[1:]
        return (int(c), int(h), int(w))

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and variance of ``train_x / 255`` (computed once, then cached)."""
        if "moments" not in self._cache:
            # Exact integer sums of v and v^2 (v in 0..255), then one float64 division.  numpy's
            # integer reductions are an order of magnitude faster than torch's on CPU here.
            c = self.train_x.shape[1]
            total = np.zeros(c, dtype=np.int64)
            total_sq = np.zeros(c, dtype=np.int64)
            if isinstance(self.train_x, FileImages):  # the per-image sums of the checking pass
                total += self.train_x.sums.sum(0).numpy()
                total_sq += self.train_x.sq_sums.sum(0).numpy()
            for chunk in self.train_x.split(_STATS_CHUNK) if isinstance(self.train_x, Tensor) else ():
                v = chunk.cpu().numpy().astype(np.int32)
                total += v.sum(axis=(0, 2, 3), dtype=np.int64)
                total_sq += (v * v).sum(axis=(0, 2, 3), dtype=np.int64)
            count = max(self.train_x.shape[0] * self.train_x.shape[2] * self.train_x.shape[3], 1)
            mean = total / (count * 255.0)
            var = np.clip(total_sq / (count * 255.0**2) - mean * mean, 0.0, None)
            self._cache["moments"] = (mean, var)
        return self._cache["moments"]

    def mean(self) -> tuple[float, ...]:
        """Per-channel mean of ``train_x / 255``."""
        return tuple(float(v) for v in self._moments()[0])

    def std(self) -> tuple[float, ...]:
        """Per-channel population standard deviation of ``train_x / 255``."""
        return tuple(float(v) for v in np.sqrt(self._moments()[1]))

    def __repr__(self) -> str:
        val = f", val={self.val_x.shape[0]}" if self.val_x is not None else ""
        files = " streamed from files" if isinstance(self.train_x, FileImages) else ""
        return (
            f"ImageDataset(name={self.name!r}, train={self.train_x.shape[0]}{files}{val}, "
            f"test={self.test_x.shape[0]}, image_shape={self.image_shape}, classes={self.num_classes})"
        )
