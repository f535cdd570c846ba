"""A policy's op group computed straight from and into the whole batch (compiled uint8 CPU path).

:func:`augkit.stages.run_stages` groups the images that drew the same op; the torch path
gathers each group (``index_select``), runs the kernel and scatters the result back
(``index_copy_``): two extra copies of every group plus two dispatches.  For the ops with a
compiled kernel (:mod:`augkit.ops._jit`) the functions here instead hand the kernel the batch,
the group's image indices and the output batch.  Each returns False when it cannot (float or
accelerator input, a group under ``_jit.MIN_BYTES``, a non-contiguous buffer, a non-finite factor,
bilinear warps); the caller then takes the torch path.  ``out`` may be ``src`` (a policy's later
stages update the batch in place): every kernel is written to allow it.  The parameters are built
exactly as the op's kernel builds them, so the bits are the same either way (``tests/test_jit.py``
runs whole policies both ways).

Every function has the signature ``into(src, idx, value, out, fill=, interpolation=) -> bool``
with ``value`` the op table's native values for the group (:func:`augkit.space.op_value`) and
``fill`` on the 8-bit scale (uint8 only here, so it is already native).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from augkit.ops import _jit, color, geometry, rowshift

__all__ = ["INTO", "identity_into", "warp_into"]

Into = Callable[..., bool]


def _ready(src: Tensor, idx: Tensor, out: Tensor) -> bool:
    """The compiled kernels can read ``src[idx]`` and write ``out[idx]`` directly (every kernel
    may run in place: out is src)."""
    if not (_jit.usable(src) and src.is_contiguous() and out.is_contiguous() and out.dtype == torch.uint8):
        return False
    return idx.numel() * src[0].numel() >= _jit.MIN_BYTES


def _alias(src: Tensor, out: Tensor) -> bool:
    return out.data_ptr() == src.data_ptr()


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


def _enhance(kernel_name: str, channels: tuple[int, ...] = (1, 3)) -> Into:
    """Color / Contrast: a per-image factor, flat planes."""

    def into(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
        if src.shape[1] not in channels or not _ready(src, idx, out):
            return False
        f = _factor(value)
        return f is not None and _call(kernel_name, src, idx, out, f)

    return into


def _sharpness(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
    if min(src.shape[-2:]) < 3 or not _ready(src, idx, out):
        return False
    f = _factor(value)
    return f is not None and _call("_sharp_kernel", src, idx, out, f, _alias(src, out), flat=False)


def _brightness(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
    if not _ready(src, idx, out):
        return False
    return _call("_lut_kernel", src, idx, out, _tables(color._brightness_table(src, value), src.shape[1]))


def _solarize(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
    if not _ready(src, idx, out):
        return False
    # the op table's 8-bit threshold in native units, as the op's adapter computes it (uint8: x 255 / 255)
    k = color._solarize_k((value * 255.0 / 255.0).to(torch.float32).view(-1, 1, 1, 1))
    return _call("_lut_kernel", src, idx, out, _tables(color._solarize_table(k), src.shape[1]))


def _tables(table: Tensor, c: int) -> np.ndarray:
    return _jit._tables(table, table.shape[0], c)


def _stat(kernel_name: str) -> Into:
    def into(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
        return _ready(src, idx, out) and _call(kernel_name, src, idx, out)

    return into


def warp_into(matrix: Callable[[Tensor, int, int], Tensor]) -> Into:
    """A nearest warp whose per-image matrix is ``matrix(values float64, H, W)``: whole-row moves
    (TranslateX/Y, ShearX: :mod:`augkit.ops.rowshift`) as row copies, any other as the warp."""

    def into(
        src: Tensor, idx: Tensor, value: Tensor, out: Tensor, fill=128.0, interpolation="nearest"
    ) -> bool:
        if interpolation != "nearest" or not _ready(src, idx, out):
            return False
        h, w = src.shape[-2:]
        coef = geometry._fixed_table(matrix(value.detach().to(torch.float64), h, w))
        c = src.shape[1]
        fills = geometry._native_fill(fill, src).reshape(-1, c).expand(idx.numel(), c).contiguous().numpy()
        plan = rowshift.row_shift_plan(coef, h)
        if plan is not None:
            rows, shifts = (p.contiguous().numpy() for p in plan)
            return _call("_rowshift_kernel", src, idx, out, rows, shifts, fills, _alias(src, out), flat=False)
        return _call("_warp_kernel", src, idx, out, coef.numpy(), fills, flat=False)

    return into


def _affine(*rows: float | None) -> Callable[[Tensor, int, int], Tensor]:
    """The op's Pillow matrix with the value at the ``None`` place (as :mod:`augkit.ops.geometry`)."""

    def matrix(v: Tensor, h: int, w: int) -> Tensor:
        return geometry._matrix(v, [v if r is None else r for r in rows])  # the batch size is v's

    return matrix


def _table_into(table: Callable[[Tensor], Tensor | None]) -> Into:
    """An op whose result is ``table(value)[x]``: a ``(G, 256)`` uint8 table per image (None: the
    values are outside the op's domain and the torch path raises its error)."""

    def into(src: Tensor, idx: Tensor, value: Tensor, out: Tensor, **_: object) -> bool:
        if not _ready(src, idx, out):
            return False
        t = table(value)
        return t is not None and _call("_lut_kernel", src, idx, out, _tables(t, src.shape[1]))

    return into


_LEVELS = torch.arange(256, dtype=torch.uint8)


def _posterize_table(value: Tensor) -> Tensor | None:
    bits = value.detach().round()  # the op table's adapter rounds the same way
    if not bool(((bits >= 0) & (bits <= 8)).all()):
        return None
    return _LEVELS.view(1, 256) & color._posterize_mask(bits).view(-1, 1)


def identity_into(src: Tensor, idx: Tensor, value: Tensor | None, out: Tensor, **_: object) -> bool:
    """Identity: nothing to do in place; else the group's images copied as they are."""
    if _alias(src, out) and src.shape == out.shape and src.stride() == out.stride():
        return True
    return _ready(src, idx, out) and src.shape == out.shape and _call("_copy_kernel", src, idx, out)


# Keyed by the kernel function the op table wraps, so each op row finds its indexed form.
INTO: dict[Callable, Into] = {
    color.brightness: _brightness,
    color.color: _enhance("_color_kernel", channels=(3,)),
    color.contrast: _enhance("_contrast_kernel"),
    color.sharpness: _sharpness,
    color.autocontrast: _stat("_autocontrast_kernel"),
    color.equalize: _stat("_equalize_kernel"),
    color.solarize: _solarize,
    geometry.rotate: warp_into(geometry._rotation_matrix),
    geometry.shear_y: warp_into(_affine(1, 0, 0, None, 1, 0)),
    geometry.shear_x: warp_into(_affine(1, None, 0, 0, 1, 0)),
    geometry.translate_x: warp_into(_affine(1, 0, None, 0, 1, 0)),
    geometry.translate_y: warp_into(_affine(1, 0, 0, 0, 1, None)),
    color.posterize: _table_into(_posterize_table),
    color.invert: _table_into(lambda v: (255 - _LEVELS).view(1, 256).expand(v.shape[0], 256)),
}
