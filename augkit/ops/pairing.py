"""Two-image blending kernels: a per-image convex blend and SamplePairing.

* SamplePairing -- Inoue, "Data Augmentation by Pairing Samples for Images Classification",
  arXiv:1801.02929, 2018.  The original *averages* the two images pixel-wise (weight 0.5)
  and keeps the first image's label.
* AutoAugment (Cubuk et al., CVPR 2019) turned it into an op with a magnitude: "linearly add
  the image with another image (selected at random from the same mini-batch) with weight
  magnitude, without changing the label", magnitude range [0, 0.4].  :func:`sample_pairing`
  is that op: ``out = (1 - w) * x + w * partner``; Inoue's original is ``w = 0.5``.

:func:`blend` is the generic per-image convex blend that SamplePairing uses and that mixup
reuses.  Weights must lie in [0, 1] (a convex blend; no extrapolation).  Work happens in
float32 for uint8 (rounded half to even on the way back, never truncated) and in the input's
float dtype otherwise, so the kernels are differentiable in both images and the weight.
``(1 - w) * x + w * y`` rather than ``x + w * (y - x)`` so that ``w = 0`` and ``w = 1``
return ``x`` and ``y`` bit for bit, in float as in uint8.
"""

from __future__ import annotations

import torch
from torch import Tensor

from augkit.ops._common import check_image, finish, to_work

__all__ = ["blend", "sample_pairing"]


def _check_pair(x: Tensor, y: Tensor, name: str) -> None:
    check_image(x)
    check_image(y, name)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise ValueError(
            f"{name} must match x in shape and dtype, got {tuple(y.shape)} {y.dtype} "
            f"for x {tuple(x.shape)} {x.dtype}"
        )
    if y.device != x.device:
        raise ValueError(f"{name} must be on x's device {x.device}, got {y.device}")


def _weight(weight: Tensor | float, x: Tensor, work: Tensor, name: str) -> Tensor:
    """Scalar or ``(B,)`` weight in [0, 1] as ``(B, 1, 1, 1)`` in ``work``'s dtype (keeps grad)."""
    t = weight if isinstance(weight, Tensor) else torch.as_tensor(weight)
    if t.dtype == torch.bool or t.dtype.is_complex:
        raise TypeError(f"{name} must be real numbers, got dtype {t.dtype}")
    t = t.to(device=x.device, dtype=work.dtype)
    b = x.shape[0]
    if t.ndim == 0:
        t = t.expand(b)
    elif tuple(t.shape) != (b,):
        raise ValueError(f"{name} must be a scalar or have shape ({b},), got shape {tuple(t.shape)}")
    bad = ~((t >= 0) & (t <= 1))
    if bool(bad.any()):
        raise ValueError(f"{name} must lie in [0, 1], got {t[bad][0].item()}")
    return t.reshape(b, 1, 1, 1)


def blend(x: Tensor, y: Tensor, weight: Tensor | float) -> Tensor:
    """Per-image convex blend ``(1 - w) * x + w * y``; ``weight`` scalar or ``(B,)`` in [0, 1].

    ``y`` must have ``x``'s shape, dtype and device.  Returns ``x``'s dtype.
    """
    _check_pair(x, y, "y")
    wx, wy = to_work(x), to_work(y)
    w = _weight(weight, x, wx, "weight")
    return finish((1 - w) * wx + w * wy, x, clamp=True)


def sample_pairing(x: Tensor, partner: Tensor, weight: Tensor | float) -> Tensor:
    """SamplePairing as AutoAugment's op: ``(1 - w) * x + w * partner``, ``w`` per image.

    AutoAugment's range for ``w`` is [0, 0.4]; Inoue (2018) averages, ``w = 0.5``.  Any
    weight in [0, 1] is accepted.  ``partner`` (usually another image of the batch, e.g.
    ``x[perm]``) must have ``x``'s shape, dtype and device.
    """
    _check_pair(x, partner, "partner")
    return blend(x, partner, weight)
