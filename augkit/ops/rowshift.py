"""Row-window warps: nearest warps whose every output row is a shifted window of one input row.

Under Pillow's 16.16 fixed-point nearest rule (see :mod:`augkit.ops.geometry`), a matrix whose
fixed-point coefficients are ``a0 = a4 = 65536`` (x and y scale exactly 1) and ``a3 = 0`` maps
output pixel ``(x, y)`` to::

    ix = (a2 + y a1 + x 65536) >> 16 = x + ((a2 + y a1) >> 16)     (adding x * 2**16 commutes
    iy = (a5 + y 65536) >> 16        = y + (a5 >> 16)               with the floor of >> 16)

so output row ``y`` is input row ``y + (a5 >> 16)`` shifted by a per-row integer.  TranslateX,
TranslateY and ShearX (the AutoAugment/Pillow matrices) are all of this form.  Why: a
per-pixel ``gather`` with an int64 index costs tens of copies of the batch, while this path
pads each row once with the fill and copies whole rows with one ``index_select`` of
overlapping W-long windows: the same integers, the same bits, 2-3x faster at 224 px (measured
in ``benchmarks/bench_ops.py``).  CPU only (it reads the shift range, a synchronisation on
accelerators), and not under autograd (the gather path keeps its gradient).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["row_shift_plan", "shift_rows"]

_ONE = 65536  # 1.0 in 16.16 fixed point


def _padded_rows(x: Tensor, pad: int, fill: Tensor) -> Tensor:
    """``(B, C, H + 1, W + 2 pad)``: each row framed by ``pad`` fill pixels, plus one fill row."""
    b, c, h, w = x.shape
    buf = x.new_empty(b, c, h + 1, w + 2 * pad)
    buf.copy_(fill.expand_as(buf))
    buf[:, :, :h, pad : pad + w] = x
    return buf


def shift_rows(x: Tensor, src_row: Tensor, shift: Tensor, fill: Tensor) -> Tensor:
    """``out[b, :, y, j] = x[b, :, src_row[b, y], j + shift[b, y]]``, or ``fill`` outside the image.

    ``src_row`` and ``shift`` are int64 ``(B, H)``; ``fill`` is ``(1 or B, C, 1, 1)`` in ``x``'s
    dtype.  A shift of W or more shows only fill, as the gather would.
    """
    b, c, h, w = x.shape
    pad = min(w, int(shift.abs().max()))
    buf = _padded_rows(x, pad, fill)
    wp = w + 2 * pad
    row = torch.where((src_row >= 0) & (src_row < h), src_row, h)  # row h of buf is all fill
    within = row * wp + pad + shift.clamp(-pad, pad)  # (B, H) window start inside one plane
    planes = torch.arange(b * c, device=x.device).view(b, c, 1) * ((h + 1) * wp)
    starts = (planes + within.view(b, 1, h)).view(-1)
    flat = buf.view(-1)
    windows = flat.as_strided((flat.numel() - w + 1, w), (1, 1))
    return windows.index_select(0, starts).view(b, c, h, w)


def row_shift_plan(coef: Tensor, h: int) -> tuple[Tensor, Tensor] | None:
    """``(src_row, shift)`` (both ``(B, H)``) when the fixed-point coefficients ``a0..a5``
    ((B, 6) int64) move whole rows; None for any other matrix (rotation, scale, ShearY).

    ShearY is the transpose of this case, but two uint8 transposes cost more than the gather
    they would replace (measured), so it stays on the gather path.
    """
    a0, a1, a2, a3, a4, a5 = coef.unsqueeze(-1).unbind(1)  # each (B, 1)
    if not bool(((a0 == _ONE) & (a4 == _ONE) & (a3 == 0)).all()):
        return None
    ys = torch.arange(h, device=a0.device).view(1, h)
    return ys + (a5 >> 16), (a2 + ys * a1) >> 16
