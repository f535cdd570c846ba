"""Fixed-seed, class-balanced subsets and stratified validation splits.

Small-data experiments (e.g. "Fashion-MNIST with 100 images per class") need subsets that are
balanced, reproducible from a seed, and nested in no hidden way.  Everything here is a pure
function of the labels and an explicit ``torch.Generator`` (DESIGN.md section 4: no global RNG).

Choices:
- ``size``: an ``int`` is a count, a ``float`` in (0, 1] a fraction of ``len(y)`` rounded half
  up.  ``bool`` is rejected (``True`` is an int in Python, rarely what the caller meant).
- Balanced subsets give each class ``size // K`` samples; the ``size % K`` left over go one each
  to the lowest class labels, so the split is deterministic and needs no random tie-break.
  ``K`` is the number of distinct labels present in ``y``.
- Stratified splits allot ``val_size`` proportionally to class sizes by the largest-remainder
  method (integer arithmetic, ties to the lower label), so the total is exact.
- Within a class the chosen samples are a uniform random draw: one ``randperm`` of all indices,
  then a stable sort by label, so no Python loop over samples or classes is needed.
- Returned indices are sorted ascending: a subset is a set, its order is the loader's business.
- ``apply_subset`` carves the validation set first, from the full training set, then draws the
  subset from what remains: the validation set for a seed is then the same whatever the subset
  size, so runs of different sizes are scored on the same images.
- Training images held as files (a streamed folder) stay files through the subset; the
  validation split is decoded into memory, like the test split (see ``base.py``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import torch
from torch import Tensor

from .base import ImageDataset
from .files import FileImages

__all__ = ["apply_subset", "balanced_subset", "decoded", "take", "train_val_split"]


def _check_labels(y: Tensor) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor of integer labels, got {type(y).__name__}")
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must be a 1-D integer tensor, got {y.dtype} {tuple(y.shape)}")
    return y.to("cpu", torch.int64)


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def _resolve_count(size: int | float, n: int, name: str, upper: int) -> int:
    """Turn an int count or a float fraction of ``n`` into a count in [1, upper]."""
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise TypeError(f"{name} must be an int count or a float fraction, got {size!r}")
    if isinstance(size, numbers.Integral):
        count = int(size)
    else:
        if not (0.0 < size <= 1.0):
            raise ValueError(f"{name} as a fraction must lie in (0, 1], got {size!r}")
        count = math.floor(size * n + 0.5)
    if not (1 <= count <= upper):
        raise ValueError(f"{name}={size!r} gives {count} samples; expected 1 to {upper} for {n} labels")
    return count


def _ranked_by_class(y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random within-class order: (indices, labels, rank within class, class counts), label-sorted."""
    perm = torch.randperm(y.numel(), generator=generator, device=generator.device).cpu()
    order = torch.sort(y[perm], stable=True).indices
    idx = perm[order]
    labels = y[idx]
    classes, counts = torch.unique_consecutive(labels, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(y.numel()) - starts.repeat_interleave(counts)
    return idx, classes, rank, counts


def balanced_subset(y: Tensor, size: int | float, generator: torch.Generator) -> Tensor:
    """Indices of a class-balanced random subset of ``size`` samples (sorted, int64).

    Each of the ``K`` classes present gets ``size // K``, the first ``size % K`` classes one more.
    Raises ``ValueError`` if a class has fewer samples than its share.
    """
    y = _check_labels(y)
    _check_generator(generator)
    n = y.numel()
    if n == 0:
        raise ValueError("y is empty; cannot draw a subset")
    count = _resolve_count(size, n, "size", n)
    idx, classes, rank, counts = _ranked_by_class(y, generator)
    k = classes.numel()
    if count < k:
        raise ValueError(f"size={size!r} gives {count} samples, fewer than the {k} classes present")
    quota = torch.full((k,), count // k, dtype=torch.int64)
    quota[: count % k] += 1
    short = (counts < quota).nonzero().flatten()
    if short.numel():
        detail = ", ".join(f"class {int(classes[i])}: {int(counts[i])} < {int(quota[i])}" for i in short[:5])
        raise ValueError(f"size={size!r} needs more samples than some classes have ({detail})")
    keep = rank < quota.repeat_interleave(counts)
    return idx[keep].sort().values


def train_val_split(y: Tensor, val_size: int | float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Stratified split of ``range(len(y))`` into sorted ``(train_idx, val_idx)``.

    ``val_size`` is a count or a fraction of ``len(y)``; each class contributes in proportion to
    its size (largest remainder), and at least one sample stays in training.
    """
    y = _check_labels(y)
    _check_generator(generator)
    n = y.numel()
    if n < 2:
        raise ValueError(f"y must hold at least 2 labels to split, got {n}")
    total = _resolve_count(val_size, n, "val_size", n - 1)
    idx, classes, rank, counts = _ranked_by_class(y, generator)
    share = total * counts
    quota = share // n
    remainder = share % n
    missing = total - int(quota.sum())
    # Largest remainder first; stable sort keeps the lower label first among ties.
    bonus = torch.sort(-remainder, stable=True).indices[:missing]
    quota[bonus] += 1
    is_val = rank < quota.repeat_interleave(counts)
    return idx[~is_val].sort().values, idx[is_val].sort().values


def take(x: Tensor | FileImages, idx: Tensor) -> Tensor | FileImages:
    """``x[idx]`` that keeps files as files (a :class:`FileImages` view decodes nothing)."""
    return x.subset(idx) if isinstance(x, FileImages) else x[idx]


def decoded(x: Tensor | FileImages) -> Tensor:
    """Pixels of ``x``: a tensor as it is, files decoded."""
    return x.decode() if isinstance(x, FileImages) else x


def apply_subset(
    ds: ImageDataset,
    subset: int | float | None = None,
    val: int | float | None = None,
    seed: int = 0,
) -> ImageDataset:
    """New dataset with a stratified validation split and/or a balanced training subset.

    ``val`` (count or fraction of the full training set) is carved first, then ``subset``
    (count or fraction of the remaining training pool) is drawn from the rest; both use
    ``torch.Generator().manual_seed(seed)``.  The test split is untouched.
    """
    if not isinstance(ds, ImageDataset):
        raise TypeError(f"ds must be an ImageDataset, got {type(ds).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if val is not None and ds.val_x is not None:
        raise ValueError(f"dataset {ds.name!r} already has a validation split; pass val=None")
    generator = torch.Generator().manual_seed(int(seed))
    x, y = ds.train_x, ds.train_y
    changes: dict = {}
    if val is not None:
        tr, va = train_val_split(y, val, generator)
        changes.update(val_x=decoded(take(x, va)), val_y=y[va])  # validation images live in memory
        x, y = take(x, tr), y[tr]
    if subset is not None:
        keep = balanced_subset(y, subset, generator)
        x, y = take(x, keep), y[keep]
    if not changes and subset is None:
        return ds
    return dataclasses.replace(ds, train_x=x, train_y=y, **changes)
