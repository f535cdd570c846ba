"""Checks and target arithmetic every mixing method shares.

Targets are soft rows ``(B, K)`` that sum to 1 (label smoothing already folded in by the
caller); a mixed image's target is the same convex combination of its sources' targets as
its pixels (Zhang et al. 2018, Yun et al. 2019), which keeps every row summing to 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..base import check_sides
from ..ops._common import check_image
from ..sample import permutation

__all__ = ["check_alpha", "check_pair_batch", "check_range", "mix_targets", "partners"]


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Beta/Dirichlet concentrations must be finite and > 0 (Beta(0, 0) is undefined)."""
    number = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if not number or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {alpha!r}")
    return float(alpha)


def check_range(v: float, name: str, lo: float, hi: float) -> float:
    """A finite real number (not bool, not a tensor) in [lo, hi]."""
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    if not number or not lo <= v <= hi:  # NaN fails the comparison
        raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def check_pair_batch(x: Tensor, y: Tensor, num_classes: int | None = None) -> None:
    """A batch that can be mixed: >= 2 images, one target per image, hard labels in [0, K).

    ``y`` is either hard labels ``(B,)`` (integers) or soft targets ``(B, K)``.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")
    check_image(x)
    check_sides(x)
    if not isinstance(y, Tensor) or y.ndim not in (1, 2):
        got = getattr(y, "shape", type(y))
        raise ValueError(f"y must be hard labels (B,) or soft targets (B, K), got {got}")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be an int >= 1 or None, got {num_classes!r}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of samples, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"mixing needs a batch of at least 2 images, got {x.shape[0]}")
    if y.ndim == 1:
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"hard labels y must be an integer tensor, got dtype {y.dtype}")
        if num_classes is not None and y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise ValueError(
                f"hard labels y must lie in [0, {num_classes}), got min {int(y.min())} and max {int(y.max())}"
            )
    elif num_classes is not None and y.shape[1] != num_classes:
        raise ValueError(f"soft targets y must have {num_classes} columns, got {y.shape[1]}")
    elif y.shape[1] == 0 or y.dtype.is_complex:
        raise ValueError(f"soft targets y must be a real (B, K >= 1) tensor, got {y.dtype} {tuple(y.shape)}")


def partners(b: int, generator: torch.Generator, device) -> Tensor:
    """Mixing partner of each image: a random permutation (Zhang et al.'s shuffled batch).

    An image may be its own partner (probability 1/B per image, as in the reference code);
    then mixing leaves it unchanged, which is correct, not a special case.
    """
    return permutation(b, generator, device)


def mix_targets(t: Tensor, index: Tensor, lam: Tensor) -> Tensor:
    """``lam * t + (1 - lam) * t[index]`` with per-image ``lam`` (B,) or a scalar."""
    lam = torch.as_tensor(lam, dtype=t.dtype, device=t.device)
    lam = lam.view(-1, 1) if lam.ndim else lam
    return lam * t + (1 - lam) * t[index]
