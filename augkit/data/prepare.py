"""One call from run options to the dataset a run trains on: load, validation split, subset, test subset.

Sizes follow :mod:`augkit.data.subsets`: 0 means "none" (or "all" for the training subset), a
value in (0, 1) a fraction, a value >= 1 a count.  Everything is drawn from ``subset_seed`` so
that every strategy and seed of a comparison sees the same images.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .base import ImageDataset
from .registry import load_dataset
from .subsets import apply_subset, balanced_subset, decoded, take

__all__ = ["as_size", "prepare_data"]


AUTO_VAL_FRACTION, AUTO_VAL_MAX = 0.1, 1000


def as_size(v: float) -> int | float | None:
    """0 -> None; >= 1 -> an int count; (0, 1) -> the fraction itself."""
    if not v:
        return None
    return int(v) if v >= 1 else float(v)


def prepare_data(
    dataset: str,
    data_dir: str | None = None,
    subset: float = 0.0,
    val: float | str = 0.0,
    subset_seed: int = 0,
    test_subset: float = 0.0,
    loader: str = "auto",
    bad_files: str = "error",
    workers: int = 0,
) -> ImageDataset:
    """Load ``dataset`` from local files and cut it as the run options say.

    ``loader``, ``bad_files``, ``workers``: for datasets of image files (``folder``), see
    :func:`augkit.data.folder.load_image_folder`.
    """
    ds = load_dataset(dataset, data_dir, loader=loader, bad_files=bad_files, workers=workers)
    if val == "auto":  # 10 % of the training set, at most 1,000 images; none if the data has its own
        val = 0 if ds.val_x is not None else min(AUTO_VAL_MAX, round(AUTO_VAL_FRACTION * ds.train_x.shape[0]))
    n, v = as_size(subset), as_size(val)
    if n is not None or v is not None:
        ds = apply_subset(ds, n, v, seed=subset_seed)
    t = as_size(test_subset)
    if t is not None:
        idx = balanced_subset(ds.test_y, t, torch.Generator().manual_seed(subset_seed))
        ds = dataclasses.replace(ds, test_x=ds.test_x[idx], test_y=ds.test_y[idx])
    return ds


def unlabeled_pool(
    dataset: str,
    data_dir: str | None = None,
    subset: float = 0.0,
    val: float | str = 0.0,
    subset_seed: int = 0,
) -> Tensor:
    """The training images a ``subset`` run leaves out (neither its training subset nor its validation split).

    Same draws as :func:`prepare_data` (validation split first, then the balanced subset, from one
    generator seeded by ``subset_seed``), so the pool is disjoint from both; empty without a subset.
    """
    from .subsets import balanced_subset, train_val_split

    ds = load_dataset(dataset, data_dir)
    if val == "auto":
        val = 0 if ds.val_x is not None else min(AUTO_VAL_MAX, round(AUTO_VAL_FRACTION * ds.train_x.shape[0]))
    n, v = as_size(subset), as_size(val)
    if n is None:
        return decoded(take(ds.train_x, torch.arange(0)))
    g = torch.Generator().manual_seed(int(subset_seed))
    x, y = ds.train_x, ds.train_y
    if v is not None:
        tr, _ = train_val_split(y, v, g)
        x, y = take(x, tr), y[tr]
    keep = torch.zeros(y.shape[0], dtype=torch.bool)
    keep[balanced_subset(y, n, g)] = True
    return decoded(take(x, ~keep))
