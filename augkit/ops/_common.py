"""Shared conventions for every kernel in :mod:`augkit.ops`.

Kernels are pure functions on ``(B, C, H, W)`` tensors.  They accept uint8 images in
[0, 255] or floating images in [0, 1] and return the dtype and device they were given.
Internally a kernel works in float32 in the *native range* of the input (``bound`` = 255
for uint8, 1 for float) so that thresholds and bit operations keep their Pillow meaning,
and uint8 results are rounded (never truncated) on the way back.

Per-image parameters are tensors of shape ``(B,)`` (or ``(B, ...)``) on any device; a
kernel moves them to the image's device.  No kernel draws random numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "bound_of",
    "check_image",
    "finish",
    "per_image",
    "to_work",
]


def check_image(x: Tensor, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a ``(B, C, H, W)`` uint8 or floating tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be uint8 or floating point, got dtype {x.dtype}")


def bound_of(x: Tensor) -> float:
    """Largest legal pixel value of ``x``'s dtype: 255 for uint8, 1 for float."""
    return 255.0 if x.dtype == torch.uint8 else 1.0


def to_work(x: Tensor) -> Tensor:
    """Working copy in float (float32 for uint8, the input's float dtype otherwise)."""
    return x.to(torch.float32) if x.dtype == torch.uint8 else x


def finish(out: Tensor, like: Tensor, clamp: bool = True) -> Tensor:
    """Cast a working tensor back to ``like``'s dtype.

    uint8: round half to even then clamp to [0, 255].  Float: clamp to [0, 1] when
    ``clamp`` (blending ops, as Pillow clips) and leave values alone otherwise (pure
    resampling keeps out-of-range float input out of range, documented behaviour).
    """
    if like.dtype == torch.uint8:
        return out.round().clamp_(0, 255).to(torch.uint8)
    if clamp:
        out = out.clamp(0.0, 1.0)
    return out.to(like.dtype)


def per_image(value: Tensor | float | int, x: Tensor, name: str = "value", dtype=torch.float32) -> Tensor:
    """Broadcast a scalar or ``(B,)`` parameter to a ``(B,)`` tensor on ``x``'s device."""
    t = torch.as_tensor(value, dtype=dtype).to(x.device)
    if t.ndim == 0:
        return t.expand(x.shape[0])
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"{name} must be a scalar or have shape ({x.shape[0]},), got shape {tuple(t.shape)}")
    return t
