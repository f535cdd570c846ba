"""Find a training image's row (and so its subgroup) from its pixels, for a whole batch at once.

The training loop hands a strategy ``(x, y)`` batches only, as it does for every strategy; GDRO
and CLAMP also need each image's subgroup and, for CLAMP, its precomputed translation.  Rather
than widen the loop and the loader for two strategies, the strategy builds this index over the
training images once and looks a raw (not yet augmented) batch up in it: a 62-bit content key per
image (two polynomial hashes of the pixels modulo Mersenne-like primes, weights from a fixed
seed), one ``searchsorted``, and an exact pixel comparison that rejects any key collision or an
image not in the table with a clear error.  No Python loop over images.

Identical training images share one key; the index keeps the first row and refuses to build if
duplicates disagree in subgroup (their group would be ambiguous).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["GroupIndex", "image_keys"]

_PRIMES = (2_147_483_647, 2_147_483_629)  # two primes below 2**31
_WEIGHT_SEED = 0x5EED


def _weights(n: int, prime: int, salt: int) -> Tensor:
    g = torch.Generator().manual_seed(_WEIGHT_SEED + salt)
    return torch.randint(1, prime, (n,), generator=g, dtype=torch.int64)


def image_keys(x: Tensor) -> Tensor:
    """One int64 key per uint8 image of ``x`` (B, ...); equal images give equal keys.

    Each partial sum is below 2**39 per pixel and the images hold fewer than 2**24 values, so
    the int64 dot products cannot overflow before the reduction modulo each prime.
    """
    if x.dtype != torch.uint8:
        raise TypeError(f"image_keys needs uint8 images (the raw batch, before augmentation), got {x.dtype}")
    flat = x.reshape(x.shape[0], -1).to(torch.int64).cpu()
    if flat.shape[1] >= 2**24:
        raise ValueError(f"images of {flat.shape[1]} values are too large to key")
    parts = []
    for salt, p in enumerate(_PRIMES):
        w = _weights(flat.shape[1], p, salt)
        parts.append(((flat * w).sum(1) + 1) % p)
    return parts[0] * _PRIMES[1] + parts[1]


class GroupIndex:
    """Rows of ``images`` (uint8 N, C, H, W) by content, with each row's subgroup ``groups`` (N,)."""

    def __init__(self, images: Tensor, groups: Tensor) -> None:
        if images.shape[0] != groups.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {groups.shape[0]} group ids")
        keys = image_keys(images)
        order = torch.argsort(keys, stable=True)
        sk = keys[order]
        first = torch.ones_like(sk, dtype=torch.bool)
        first[1:] = sk[1:] != sk[:-1]
        run_id = first.cumsum(0) - 1
        head_group = groups[order][first][run_id]
        if bool((head_group != groups[order]).any()):
            raise ValueError(
                "identical training images carry different subgroup ids; the subgroup is ambiguous"
            )
        self.keys, self.rows = sk[first], order[first]
        self.images, self.groups = images.cpu(), groups.cpu()

    def rows_of(self, x: Tensor) -> Tensor:
        """The training row of every image of the uint8 batch ``x`` (same device as ``x``)."""
        k = image_keys(x)
        pos = torch.searchsorted(self.keys, k).clamp_max(self.keys.numel() - 1)
        rows = self.rows[pos]
        found = (self.keys[pos] == k) & (self.images[rows] == x.cpu()).flatten(1).all(1)
        if not bool(found.all()):
            raise ValueError(
                f"{int((~found).sum())} batch image(s) are not training images of this run's grouped "
                f"dataset: gdro and clamp look subgroups up from the raw batch (run them on a dataset "
                f"with subgroup labels, e.g. through augkit patch)"
            )
        return rows.to(x.device)

    def groups_of(self, x: Tensor) -> Tensor:
        return self.groups.to(x.device)[self.rows_of(x)]
