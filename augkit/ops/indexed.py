"""A policy's op group computed straight from and into the whole batch (compiled uint8 CPU path).

:func:`augkit.stages.run_stages` groups the images that drew the same op; the torch path
gathers each group (``index_select``), runs the kernel and scatters the result back
(``index_copy_``): two extra copies of every group plus two dispatches.  For the ops with a
compiled kernel (:mod:`augkit.ops._jit`) the functions here instead hand the kernel the batch,
the group's image indices and the output batch.  Each returns False when it cannot (float or
accelerator input, a group under ``_jit.MIN_BYTES``, a non-contiguous buffer, a non-finite factor,
bilinear warps, or an in-place write for a kernel that reads neighbouring pixels); the caller then
takes the torch path.  The parameters are built exactly as the op's kernel builds them, so the
bits are the same either way (``tests/test_jit.py`` runs whole policies both ways).

Every function has the signature ``into(src, idx, value, out, fill=, interpolation=) -> bool``
with ``value`` the op table's native values for the group (:func:`augkit.space.op_value`) and
``fill`` on the 8-bit scale (uint8 only here, so it is already native).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from augkit.ops import _jit, color, geometry

__all__ = ["INTO", "warp_into"]

Into = Callable[..., bool]


def _ready(src: Tensor, idx: Tensor, out: Tensor, pointwise: bool) -> bool:
    """The compiled kernels can read ``src[idx]`` and write ``out[idx]`` directly."""
    if not (_jit.usable(src) and src.is_contiguous() and out.is_contiguous() and out.dtype == torch.uint8):
        return False
    if idx.numel() * src[0].numel() < _jit.MIN_BYTES:
        return False
    return pointwise or out.data_ptr() != src.data_ptr()


def _call(
    kernel_name: str, src: Tensor, idx: Tensor, out: Tensor, *params: np.ndarray, flat: bool = True
) -> bool:
    """Run ``_jit.<kernel_name>`` on ``(B, C, H * W)`` views (``flat``) or the 4-D arrays."""
    s, o = src.numpy(), out.numpy()
    if flat:
        s, o = s.reshape(s.shape[0], s.shape[1], -1), o.reshape(o.shape[0], o.shape[1], -1)
    getattr(_jit, kernel_name)(s, idx.contiguous().numpy(), *params, o)  # looked up after _jit's load
    return True


def _factor(value: Tensor) -> np.ndarray | None:
    f = _jit.finite(value)
    return None if f is None else f.numpy()


def _enhance(
    kernel_name: str, pointwise: bool, flat: bool, min_side: int = 1, channels: tuple[int, ...] = (1, 3)
) -> Into:
    def into(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
        if src.shape[1] not in channels or min(src.shape[-2:]) < min_side:
            return False
        if not _ready(src, idx, out, pointwise):
            return False
        f = _factor(value)
        return f is not None and _call(kernel_name, src, idx, out, f, flat=flat)

    return into


def _brightness(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
    if not _ready(src, idx, out, pointwise=True):
        return False
    return _call("_lut_kernel", src, idx, out, _tables(color._brightness_table(src, value), src.shape[1]))


def _solarize(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
    if not _ready(src, idx, out, pointwise=True):
        return False
    # the op table's 8-bit threshold in native units, as the op's adapter computes it (uint8: x 255 / 255)
    k = color._solarize_k((value * 255.0 / 255.0).to(torch.float32).view(-1, 1, 1, 1))
    return _call("_lut_kernel", src, idx, out, _tables(color._solarize_table(k), src.shape[1]))


def _tables(table: Tensor, c: int) -> np.ndarray:
    return _jit._tables(table, table.shape[0], c)


def _stat(kernel_name: str) -> Into:
    def into(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
        return _ready(src, idx, out, pointwise=True) and _call(kernel_name, src, idx, out)

    return into


def warp_into(matrix: Callable[[Tensor, int, int], Tensor]) -> Into:
    """A nearest warp whose per-image matrix is ``matrix(values float64, H, W)``."""

    def into(
        src: Tensor, idx: Tensor, value: Tensor, out: Tensor, fill=128.0, interpolation="nearest"
    ) -> bool:
        if interpolation != "nearest" or not _ready(src, idx, out, pointwise=False):
            return False
        h, w = src.shape[-2:]
        m = matrix(value.detach().to(torch.float64), h, w)
        coef = torch.cat(geometry._fixed_coefficients(m), 1).view(-1, 6)
        c = src.shape[1]
        fills = geometry._native_fill(fill, src).reshape(-1, c).expand(idx.numel(), c)
        return _call(
            "_warp_kernel", src, idx, out, coef.contiguous().numpy(), fills.contiguous().numpy(), flat=False
        )

    return into


def _shear_y(v: Tensor, h: int, w: int) -> Tensor:
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return torch.stack([one, zero, zero, v, one, zero], dim=1).view(-1, 2, 3)


# Keyed by the kernel function the op table wraps, so each op row finds its indexed form.
INTO: dict[Callable, Into] = {
    color.brightness: _brightness,
    color.color: _enhance("_color_kernel", pointwise=True, flat=True, channels=(3,)),
    color.contrast: _enhance("_contrast_kernel", pointwise=True, flat=True),
    color.sharpness: _enhance("_sharp_kernel", pointwise=False, flat=False, min_side=3),
    color.autocontrast: _stat("_autocontrast_kernel"),
    color.equalize: _stat("_equalize_kernel"),
    color.solarize: _solarize,
    geometry.rotate: warp_into(geometry._rotation_matrix),
    geometry.shear_y: warp_into(_shear_y),
}
