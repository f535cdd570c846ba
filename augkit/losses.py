"""The one soft-target cross-entropy every strategy, mixer and saliency pass uses.

Targets inside training are probability rows ``(B, K)`` (DESIGN §4); hard labels are turned
into rows once (``strategies.base.one_hot``).  Logits are promoted to float32 first so the loss
is the same under bfloat16 autocast.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["soft_cross_entropy", "weighted_mean"]

_REDUCTIONS = ("mean", "sum", "none")


def soft_cross_entropy(
    logits: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """``-sum_k target_k log softmax(logits)_k`` per row, reduced by ``reduction``.

    ``weight`` (B,) turns the mean into a weighted mean (sum of weighted losses / sum of weights).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    loss = -(target * F.log_softmax(logits.float(), dim=1)).sum(1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return (loss * weight).sum() if weight is not None else loss.sum()
    return weighted_mean(loss, weight)


def weighted_mean(loss: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of per-sample losses, or their ``weight``-weighted mean (SPA, selection weights)."""
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum().clamp(min=1e-12)
