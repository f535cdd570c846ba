"""Compiled uint8 CPU kernels (numba) behind the colour and nearest-warp ops.

Why: on CPU the torch forms of these ops are bound by batch-sized float32 temporaries and an
int64 gather index, 5-40 ns per pixel at 224 px (docs/RESULTS.md section 14); a compiled loop
over the uint8 pixels touches each byte once.  Each kernel computes *the same arithmetic* as
the torch path it replaces, so results are bit-identical (``tests/test_jit.py`` compares every
kernel with the torch path, exhaustively over the 256 levels where the result depends on them):

- ``lut``: a per-row (image and channel) table of 256 levels, built by the caller with the
  torch expression of the op on the levels; applying a table is exact by construction.
- ``color`` / ``sharpness``: float32 ``v * f + d * (1 - f)`` rounded half to even and clamped,
  in the order torch evaluates ``(img * f).add_(d * (1 - f))``; float32 multiplies and adds
  are IEEE in both (numba is run without fastmath, so nothing is contracted into an FMA).
  The Pillow luminance and the SMOOTH filter sum are exact integers in both.
- ``warp_nearest``: Pillow's 16.16 fixed-point source indices, integer arithmetic only.
- ``shift_rows``: the row-shift warps (:mod:`augkit.ops.rowshift`: TranslateX/Y, ShearX) as one
  fill, one copy and one fill per row (``memcpy``/``memset``, :mod:`augkit.ops._jit_mem`).
- ``equalize`` / ``autocontrast`` / ``contrast``: the statistic (histogram, min/max, integer mean
  luminance), the table and its application fused per image, with the torch path's arithmetic.

The kernels are serial (one thread) and take contiguous numpy views of CPU tensors.  They are
used only for uint8 CPU tensors when numba imports and ``AUGKIT_JIT`` is not ``0``; float
inputs, autograd and other devices keep the torch path.  Compiled code is cached on disk by
numba (``cache=True``) so a new process does not recompile.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

# numba is a declared dependency, imported on the first compiled call (0.4 s a process that never
# augments uint8 on the CPU should not pay); the torch path stays complete without it.
_HAVE_NUMBA = importlib.util.find_spec("numba") is not None

__all__ = [
    "warm",
    "autocontrast",
    "available",
    "color",
    "contrast",
    "disabled",
    "equalize",
    "finite",
    "lut",
    "sharpness",
    "shift_rows",
    "usable",
    "warp_nearest",
]

_state = {"on": _HAVE_NUMBA and os.environ.get("AUGKIT_JIT", "1") != "0", "loaded": False}


def available() -> bool:
    """Whether the compiled kernels are in use (numba importable and not switched off)."""
    return _state["on"]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the torch reference path inside the block (tests and benchmarks compare the two)."""
    before = _state["on"]
    _state["on"] = False
    try:
        yield
    finally:
        _state["on"] = before


# Below this many bytes numba's per-call dispatch (~10-30 us) costs more than the torch path saves
# (measured on 1-64 images of 32 px: a table op on fewer than ~20 such images is faster in torch).
MIN_BYTES = 1 << 16


def usable(x: Tensor) -> bool:
    """A uint8 CPU tensor of at least ``MIN_BYTES`` (a policy's op groups can be tiny)."""
    ok = _state["on"] and x.dtype == torch.uint8 and x.device.type == "cpu" and x.numel() >= MIN_BYTES
    return ok and _load()


def _np(x: Tensor) -> np.ndarray:
    return x.contiguous().numpy()


def finite(factor: Tensor) -> Tensor | None:
    """The factors as a flat float32 tensor when all are finite (the kernels' domain), else None."""
    f = factor.detach().to(torch.float32).reshape(-1).contiguous()
    return f if bool(torch.isfinite(f).all()) else None


# numba intrinsics (augkit/ops/_jit_mem.py), bound by _load: memcpy / memset of 1-byte arrays
_copy_bytes = _fill_bytes = None


def _round_u8(v):  # pragma: no cover - compiled
    # clamp(rint(v), 0, 255): clamping to [-1, 256] first cannot change the result, and
    # below 2**22 adding and subtracting 1.5 * 2**23 rounds half to even (IEEE float32).
    v = min(max(v, np.float32(-1.0)), np.float32(256.0))
    r = (v + np.float32(12582912.0)) - np.float32(12582912.0)
    return np.uint8(min(max(r, np.float32(0.0)), np.float32(255.0)))


def _rint_small(v):  # pragma: no cover - compiled
    """Round half to even for |v| < 2**22 (1.5 * 2**23 trick, IEEE float32)."""
    return (v + np.float32(12582912.0)) - np.float32(12582912.0)


def _apply_row(s, t, o):  # pragma: no cover - compiled
    for j in range(s.shape[0]):
        o[j] = t[s[j]]


# Every kernel reads images ``src[idx[n]]`` and writes ``out[idx[n]]`` with the n-th parameter, so
# a policy's op group is computed straight from and into the whole batch (no gather, no scatter).
# Every kernel may run in place (out is src): pointwise kernels (a pixel's output depends on that
# pixel and per-image statistics read first) by construction; Sharpness, the warp and the row
# shift read neighbours, so they first copy the image's plane (``alias``; the warp always does).


def _lut_kernel(src, idx, table, out):  # pragma: no cover - compiled
    for n in range(idx.shape[0]):
        i = idx[n]
        for k in range(src.shape[1]):
            _apply_row(src[i, k], table[n, k], out[i, k])


def _color_kernel(src, idx, f, out):  # pragma: no cover - compiled
    npx = src.shape[2]
    one = np.float32(1.0)
    d = np.empty(npx, dtype=np.float32)
    for n in range(idx.shape[0]):
        i = idx[n]
        fi = f[n]
        gi = one - fi
        r, g, bl = src[i, 0], src[i, 1], src[i, 2]
        for j in range(npx):
            acc = 19595 * np.int32(r[j]) + 38470 * np.int32(g[j]) + 7471 * np.int32(bl[j])
            luma = (acc + 32768) >> 16
            d[j] = np.float32(luma) * gi
        for k in range(3):
            s = src[i, k]
            o = out[i, k]
            for j in range(npx):
                o[j] = _round_u8(np.float32(s[j]) * fi + d[j])


def _sharp_kernel(src, idx, f, alias, out):  # pragma: no cover - compiled
    c, h, w = src.shape[1:]
    one = np.float32(1.0)
    thirteen = np.float32(13.0)
    plane = np.empty(h * w, dtype=np.uint8)  # the source plane when out is src (in place)
    for n in range(idx.shape[0]):
        i = idx[n]
        fi = f[n]
        gi = one - fi
        for k in range(c):
            if alias:
                _copy_bytes(plane, src[i, k].reshape(h * w), h * w)
                s = plane.reshape(h, w)
            else:
                s = src[i, k]
            o = out[i, k]
            for y in range(h):  # border rows and columns: the degenerate is the pixel itself
                if y == 0 or y == h - 1:
                    for x in range(w):
                        v = np.float32(s[y, x])
                        o[y, x] = _round_u8(v * fi + v * gi)
                    continue
                for x in (0, w - 1):
                    v = np.float32(s[y, x])
                    o[y, x] = _round_u8(v * fi + v * gi)
                up, mid, down = s[y - 1], s[y], s[y + 1]
                for x in range(1, w - 1):
                    tot = (
                        np.int32(up[x - 1])
                        + np.int32(up[x])
                        + np.int32(up[x + 1])
                        + np.int32(mid[x - 1])
                        + 5 * np.int32(mid[x])
                        + np.int32(mid[x + 1])
                        + np.int32(down[x - 1])
                        + np.int32(down[x])
                        + np.int32(down[x + 1])
                    )
                    d = _rint_small(np.float32(tot) / thirteen)
                    o[y, x] = _round_u8(np.float32(mid[x]) * fi + d * gi)


def _warp_kernel(src, idx, coef, fill, out):  # pragma: no cover - compiled
    c, h, w = src.shape[1:]
    hw = h * w
    at = np.empty(hw, dtype=np.uint32)  # flat source index per output pixel; hw = the fill slot
    # one source plane plus its fill value: the gather has no branch (15-20 % faster than a
    # per-pixel test, measured) and reads the copy, so out may be src
    ext = np.empty(hw + 1, dtype=np.uint8)
    outside = np.uint32(hw)
    for n in range(idx.shape[0]):
        i = idx[n]
        a0, a1, a2, a3, a4, a5 = coef[n, 0], coef[n, 1], coef[n, 2], coef[n, 3], coef[n, 4], coef[n, 5]
        for y in range(h):
            bx = a2 + y * a1
            by = a5 + y * a4
            for x in range(w):
                sx = (bx + x * a0) >> 16
                sy = (by + x * a3) >> 16
                ok = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
                at[y * w + x] = np.uint32(sy * w + sx) if ok else outside
        for k in range(c):
            _copy_bytes(ext, src[i, k].reshape(hw), hw)
            ext[hw] = fill[n, k]
            o = out[i, k].reshape(hw)
            for j in range(hw):
                o[j] = ext[at[j]]


def _rowshift_kernel(src, idx, rows, shifts, fill, alias, out):  # pragma: no cover - compiled
    # out[i, k, y, x] = src[i, k, rows[n, y], x + shifts[n, y]], fill outside (augkit.ops.rowshift):
    # per row one fill, one copy and one fill of contiguous bytes
    c, h, w = src.shape[1:]
    hw = h * w
    plane = np.empty(hw, dtype=np.uint8)  # the source plane when out is src (in place)
    for n in range(idx.shape[0]):
        i = idx[n]
        for k in range(c):
            s = src[i, k].reshape(hw)
            if alias:
                _copy_bytes(plane, s, hw)
                s = plane
            o = out[i, k].reshape(hw)
            fv = fill[n, k]
            for y in range(h):
                r, sh = rows[n, y], shifts[n, y]
                lo = min(max(-sh, 0), w)
                hi = max(min(w - sh, w), lo)
                if r < 0 or r >= h:
                    lo = hi = 0
                row = o[y * w : (y + 1) * w]
                _fill_bytes(row, fv, lo)
                if hi > lo:
                    _copy_bytes(row[lo:], s[r * w + lo + sh :], hi - lo)
                _fill_bytes(row[hi:], fv, w - hi)


def _copy_kernel(src, idx, out):  # pragma: no cover - compiled
    n_bytes = src.shape[1] * src.shape[2]
    for n in range(idx.shape[0]):
        _copy_bytes(out[idx[n]].reshape(n_bytes), src[idx[n]].reshape(n_bytes), n_bytes)


def _equalize_kernel(src, idx, out):  # pragma: no cover - compiled
    npx = src.shape[2]
    hist = np.zeros(256, dtype=np.int64)
    part = np.zeros((4, 256), dtype=np.int64)
    table = np.empty(256, dtype=np.uint8)
    m = npx - npx % 4
    for n in range(idx.shape[0]):
        i = idx[n]
        for k in range(src.shape[1]):
            s = src[i, k]
            part[:] = 0  # four partial histograms: consecutive equal bytes do not serialise
            for j in range(0, m, 4):
                part[0, s[j]] += 1
                part[1, s[j + 1]] += 1
                part[2, s[j + 2]] += 1
                part[3, s[j + 3]] += 1
            for j in range(m, npx):
                part[0, s[j]] += 1
            for v in range(256):
                hist[v] = part[0, v] + part[1, v] + part[2, v] + part[3, v]
            last = 255
            while hist[last] == 0:
                last -= 1
            step = (npx - hist[last]) // 255  # Pillow: (total - count of the last non-zero bin) // 255
            below = 0
            for v in range(256):
                table[v] = min((step // 2 + below) // step, 255) if step > 0 else v
                below += hist[v]
            _apply_row(s, table, out[i, k])


def _autocontrast_kernel(src, idx, out):  # pragma: no cover - compiled
    npx = src.shape[2]
    table = np.empty(256, dtype=np.uint8)
    scale = np.float32(255.0)
    for n in range(idx.shape[0]):
        i = idx[n]
        for k in range(src.shape[1]):
            s = src[i, k]
            lo, hi = 255, 0
            for j in range(npx):
                v = s[j]
                lo = min(lo, v)
                hi = max(hi, v)
            lo32 = np.float32(lo)
            span = np.float32(hi) - lo32
            for v in range(256):
                table[v] = v if span <= 0 else _round_u8((np.float32(v) - lo32) * scale / span)
            _apply_row(s, table, out[i, k])


def _contrast_kernel(src, idx, f, out):  # pragma: no cover - compiled
    c, npx = src.shape[1:]
    table = np.empty(256, dtype=np.uint8)
    one = np.float32(1.0)
    for n in range(idx.shape[0]):
        i = idx[n]
        total = np.int64(0)
        if c == 3:
            r, g, bl = src[i, 0], src[i, 1], src[i, 2]
            for j in range(npx):
                acc = 19595 * np.int64(r[j]) + 38470 * np.int64(g[j]) + 7471 * np.int64(bl[j])
                total += (acc + 32768) >> 16
        else:
            for j in range(npx):
                total += np.int64(src[i, 0, j])
        mean = np.float32(np.floor(np.float64(total) / npx + 0.5))  # Pillow: int(mean + 0.5)
        fi = f[n]
        base = mean * (one - fi)
        for v in range(256):
            table[v] = _round_u8(np.float32(v) * fi + base)
        for k in range(c):
            _apply_row(src[i, k], table, out[i, k])


# Helpers first: numba resolves a kernel's callees from these globals when it compiles it.
_KERNELS = (
    "_round_u8",
    "_rint_small",
    "_apply_row",
    "_lut_kernel",
    "_color_kernel",
    "_sharp_kernel",
    "_warp_kernel",
    "_rowshift_kernel",
    "_copy_kernel",
    "_equalize_kernel",
    "_autocontrast_kernel",
    "_contrast_kernel",
)


def _load() -> bool:
    """Replace the kernels above by their numba-compiled forms (once per process)."""
    if not _state["loaded"]:
        try:
            import numba
        except ImportError:  # pragma: no cover - a broken install: keep the torch path
            _state["on"] = False
            return False
        from augkit.ops import _jit_mem

        globals().update(_copy_bytes=_jit_mem.copy_bytes, _fill_bytes=_jit_mem.fill_bytes)
        jit = numba.njit(cache=True, nogil=True, boundscheck=False)
        for name in _KERNELS:
            globals()[name] = jit(globals()[name])
        _state["loaded"] = True
    return True


def _flat(x: Tensor) -> np.ndarray:
    """``(B, C, H * W)`` numpy view (a contiguous copy first if needed)."""
    return _np(x).reshape(x.shape[0], x.shape[1], -1)


def _fresh(kernel, x: Tensor, *params: np.ndarray, flat: bool = True) -> Tensor:
    """Run ``kernel`` on every image of ``x`` into a new tensor."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    idx = np.arange(x.shape[0], dtype=np.int64)
    src, dst = (_flat(x), _flat(out)) if flat else (_np(x), out.numpy())
    kernel(src, idx, *params, dst)
    return out


def _f32(t: Tensor) -> np.ndarray:
    return _np(t.detach().to(torch.float32).reshape(-1))


def _tables(table: Tensor, n: int, c: int) -> np.ndarray:
    return _np(table.to(torch.uint8).reshape(n, -1, 256).expand(n, c, 256))


def equalize(x: Tensor) -> Tensor:
    """``ImageOps.equalize`` per image and channel (Pillow's integer table), uint8."""
    return _fresh(_equalize_kernel, x)


def autocontrast(x: Tensor) -> Tensor:
    """``ImageOps.autocontrast`` per image and channel: the float32 stretch on the levels, uint8."""
    return _fresh(_autocontrast_kernel, x)


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Contrast`` (blend with the rounded mean luminance), 1 or 3 channels, uint8."""
    return _fresh(_contrast_kernel, x, _f32(factor))


def lut(x: Tensor, table: Tensor) -> Tensor:
    """``out[b, c] = table[b(, c)][x[b, c]]`` for uint8 ``x`` and a ``(B, 256)`` or ``(B, C, 256)`` table."""
    return _fresh(_lut_kernel, x, _tables(table, x.shape[0], x.shape[1]))


def color(x: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Color`` on an RGB uint8 batch (factor ``(B,)``)."""
    return _fresh(_color_kernel, x, _f32(factor))


def sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """``ImageEnhance.Sharpness`` on a uint8 batch with H, W >= 3 (factor ``(B,)``)."""
    return _fresh(_sharp_kernel, x, _f32(factor), False, flat=False)


def shift_rows(x: Tensor, src_row: Tensor, shift: Tensor, fill: Tensor) -> Tensor:
    """:func:`augkit.ops.rowshift.shift_rows` compiled: int64 ``(B, H)`` rows and shifts, ``(B, C)`` fill."""
    rows, shifts = _np(src_row.to(torch.int64)), _np(shift.to(torch.int64))
    return _fresh(_rowshift_kernel, x, rows, shifts, _np(fill.to(torch.uint8)), False, flat=False)


def warp_nearest(x: Tensor, coef: Tensor, fill: Tensor) -> Tensor:
    """Nearest warp with int64 16.16 coefficients ``(B, 6)``; outside pixels get ``fill`` ``(B, C)`` uint8."""
    return _fresh(_warp_kernel, x, _np(coef.to(torch.int64)), _np(fill.to(torch.uint8)), flat=False)


def warm() -> None:
    """Compile (or load from numba's disk cache) every kernel now, on a tiny batch.

    The first call of a kernel compiles it (seconds, once per machine: the result is cached on
    disk); call this before timing anything or inside a deadline.
    """
    if not _state["on"] or not _load():
        return
    x = torch.zeros(1, 3, 3, 3, dtype=torch.uint8)
    f = torch.ones(1)
    lut(x, torch.zeros(1, 256, dtype=torch.uint8))
    color(x, f)
    contrast(x, f)
    sharpness(x, f)
    equalize(x)
    autocontrast(x)
    warp_nearest(x, torch.zeros(1, 6, dtype=torch.int64), torch.zeros(1, 3, dtype=torch.uint8))
    one, rows = np.zeros(1, dtype=np.int64), np.zeros((1, 3), dtype=np.int64)
    for alias in (False, True):
        _rowshift_kernel(_np(x), one, rows, rows, np.zeros((1, 3), dtype=np.uint8), alias, _np(x).copy())
        _sharp_kernel(_np(x), one, _f32(f), alias, _np(x).copy())
    _copy_kernel(_flat(x), one, _flat(x).copy())
