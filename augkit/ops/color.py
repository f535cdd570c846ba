"""Batched color kernels with Pillow ``ImageEnhance`` / ``ImageOps`` semantics.

References
----------
- Cubuk, Zoph, Mane, Vasudevan, Le. *AutoAugment: Learning Augmentation Strategies from Data*,
  CVPR 2019, and its released code (tensorflow/models, ``research/autoaugment/
  augmentation_transforms.py``), which applies Pillow's ``ImageEnhance.{Brightness, Contrast,
  Color, Sharpness}`` and ``ImageOps.{autocontrast, equalize, invert, solarize, posterize}``.
  The kernels below reproduce those Pillow functions (measured against Pillow 13) on batches.
  Magnitude ranges (factor 0.1..1.9, threshold 0..256, bits 4..8) belong to the op table, not here.
- Hue rotation (not an AutoAugment op) follows the usual RGB -> HSV -> RGB definition
  (Smith 1978; as in ``colorsys`` and ColorJitter-style hue jitter).

Conventions (see :mod:`augkit.ops._common`)
-------------------------------------------
Images are ``(B, C, H, W)``, uint8 in [0, 255] or float in [0, 1].  Every value parameter is
in the image's *native range*: for uint8 a solarize threshold is in 0..256 (the 8-bit scale),
for float it is that number divided by 255 (so ``x / 255`` and ``x`` agree exactly).  Factors,
shifts and bits are range-free numbers.  Parameters are scalars or ``(B,)`` tensors.

Choices the references leave open, and where we depart
------------------------------------------------------
- Luminance is Pillow's ``convert("L")``: ``(19595 R + 38470 G + 7471 B + 2**15) >> 16``
  (ITU-R 601-2 in 16-bit fixed point, rounded).  uint8 reproduces it bit for bit; float uses
  the same weights without rounding.  A 1-channel image is its own luminance, so ``color`` and
  ``hue`` are the identity on C = 1 (as Pillow's ``Color`` on mode "L").
- Blends (brightness, contrast, color, sharpness) compute ``img * f + degenerate * (1 - f)``
  (exact at f = 0 and f = 1) and clip.  Pillow's ``Image.blend`` *truncates*; augkit rounds
  (library-wide uint8 rule), so uint8 results are Pillow's or one level above it (measured: on
  real photos 22-47 % of pixels are one level higher, none lower, none further).
- ``contrast``: uint8 uses Pillow's degenerate ``int(mean(L) + 0.5)``; float uses the exact
  mean of the unrounded luminance (differentiable; at most half a level from uint8).
- ``sharpness``: degenerate is Pillow's ``ImageFilter.SMOOTH`` (3x3 kernel
  ``[[1,1,1],[1,5,1],[1,1,1]] / 13``, border rows/columns kept from the input).  Pillow rounds
  the filtered 8-bit value to nearest; uint8 does the same, float keeps it unrounded.  The 3x3
  sum is done with exact slice additions, not ``conv2d`` (which may use TF32 on GPUs).
- ``autocontrast``: Pillow computes ``int(v * scale + offset)`` (truncation); augkit rounds
  ``(v - lo) * 255 / (hi - lo)`` to nearest: Pillow's value or one above.  Float stretches
  without quantising.
- ``equalize``: Pillow's algorithm bit for bit on uint8; float is quantised with
  ``round(x * 255)``, equalised, and divided by 255 (identical to uint8 on ``u8 / 255`` input).
- ``posterize``: float quantises with ``round(x * 255)`` (not floor), so ``u8 / 255`` input
  gives exactly the uint8 result / 255.  ``bits`` must be integers in 0..8 (checked; this
  reads the values, one host sync on GPU).  Pillow 13 rejects 0 bits; augkit allows it (black).
- ``hue`` does not quantise hue to 8 bits (Pillow's "HSV" mode would); float is differentiable.
- Bit-for-bit batch/per-image equality: every kernel is elementwise or reduces within one
  image; the contrast mean is accumulated in float64 so reduction order cannot change it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from augkit.ops import _jit
from augkit.ops._common import bound_of, check_image, finish, per_image, to_work

__all__ = [
    "autocontrast",
    "brightness",
    "color",
    "contrast",
    "equalize",
    "grayscale",
    "hue",
    "invert",
    "posterize",
    "sharpness",
    "solarize",
]

# Pillow Convert.c ``L24``: 16-bit fixed-point ITU-R 601-2 weights (they sum to 2**16).
_LUMA_WEIGHTS = (19595, 38470, 7471)
_LUMA_SHIFT = 16
# Pillow ImageFilter.SMOOTH = [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 = (3x3 box sum + 4 * centre) / 13.
_SMOOTH_CENTRE_EXTRA = 4.0
_SMOOTH_DIVISOR = 13.0
# hsv -> rgb: channel n of (R, G, B) uses k = (n + 6 h) mod 6 (Smith 1978 closed form).
_HSV_OFFSETS = (5.0, 3.0, 1.0)


def _check_luma_image(x: Tensor, name: str = "x") -> None:
    """Ops built on luminance need grayscale (C = 1) or RGB (C = 3)."""
    check_image(x, name)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels (grayscale or RGB), got C={x.shape[1]}")


def _param(value: Tensor | float | int, x: Tensor, name: str, dtype: torch.dtype) -> Tensor:
    """Per-image parameter as a ``(B, 1, 1, 1)`` tensor (keeps autograd through ``value``)."""
    t = per_image(value, x, name, dtype=dtype)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a scalar or have shape ({x.shape[0]},), got shape {tuple(t.shape)}")
    return t.view(-1, 1, 1, 1)


def _work_dtype(x: Tensor) -> torch.dtype:
    return torch.float32 if x.dtype == torch.uint8 else x.dtype


def _luma_u8(x: Tensor) -> Tensor:
    """Pillow ``convert("L")`` of an RGB uint8 batch as int32 ``(B, 1, H, W)`` (in-place int ops)."""
    xi = x.to(torch.int32)
    acc = xi[:, 0:1] * _LUMA_WEIGHTS[0]
    acc.add_(xi[:, 1:2], alpha=_LUMA_WEIGHTS[1]).add_(xi[:, 2:3], alpha=_LUMA_WEIGHTS[2])
    return acc.add_(1 << (_LUMA_SHIFT - 1)).bitwise_right_shift_(_LUMA_SHIFT)


def _luma(x: Tensor) -> Tensor:
    """Pillow ``convert("L")`` as a ``(B, 1, H, W)`` working tensor (exact integers for uint8)."""
    if x.shape[1] == 1:
        return to_work(x)
    if x.dtype == torch.uint8:
        return _luma_u8(x).to(torch.float32)
    w = torch.tensor(_LUMA_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) / float(1 << _LUMA_SHIFT)
    return (x * w).sum(dim=1, keepdim=True)


def _finish_tmp(out: Tensor, like: Tensor) -> Tensor:
    """``finish(out, like)`` (clipping) for a temporary ``out``, rounding and clamping in place.

    Fresh float temporaries of a 224 px batch exceed glibc's mmap threshold, so each one
    costs page faults; reusing ``out`` avoids them (same operations, same bits).
    """
    if out.requires_grad:
        return finish(out, like)
    if like.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out.clamp_(0.0, 1.0).to(like.dtype)


_LEVELS = 256


def _levels(x: Tensor) -> Tensor:
    """The 256 uint8 levels as float32 ``(256,)``: the domain of a per-image lookup table."""
    return torch.arange(_LEVELS, dtype=torch.float32, device=x.device)


def _apply_lut(x: Tensor, lut: Tensor) -> Tensor:
    """Map uint8 ``x`` through a per-image ``(B, 256)`` or per-channel ``(B, C, 256)`` uint8 table.

    A uint8 op whose output pixel depends only on (image, channel, input value) is computed
    on its 256 levels with the very same float32 expression, then applied with one gather:
    bit-identical to the full-size float path, with no float temporaries of the batch size.
    """
    b, c, h, w = x.shape
    if x.numel() == 0:
        return x.clone()
    if _jit.usable(x):
        return _jit.lut(x, lut)
    rows = lut.reshape(-1, _LEVELS)
    idx = x.reshape(rows.shape[0], -1).to(torch.int64)
    return rows.gather(1, idx).view(b, c, h, w)


def _jit_factor(x: Tensor, f: Tensor) -> Tensor | None:
    """The ``(B,)`` factors when the compiled uint8 kernel applies (finite factors), else None."""
    return _jit.finite(f) if _jit.usable(x) else None


def _brightness_table(like: Tensor, f: Tensor) -> Tensor:
    """Brightness's float32 product on the 256 levels, rounded and clipped: ``(B, 256)`` uint8."""
    return _finish_tmp(_levels(like) * f.detach().to(torch.float32).view(-1, 1), like)


def _solarize_k(t: Tensor) -> Tensor:
    """For an integer v, v < t  <=>  v < ceil(t) = k (NaN compares false: k = 0); k in 0..256."""
    td = t.detach()
    return torch.where(torch.isnan(td), 0.0, torch.ceil(td)).clamp_(0, 256)


def _solarize_table(k: Tensor) -> Tensor:
    """Solarize's integer rule on the 256 levels for thresholds ``k`` ``(B, 1, 1, 1)``: ``(B, 256)``."""
    levels = torch.arange(_LEVELS, dtype=torch.uint8).expand(k.shape[0], 1, 1, _LEVELS)
    return _solarize_u8(levels, k).view(-1, _LEVELS)


def _blend(img: Tensor, degenerate: Tensor, factor: Tensor, like: Tensor) -> Tensor:
    """Pillow ``Image.blend(degenerate, img, factor)``, clipped; rounded (not truncated) for uint8."""
    if img.requires_grad or degenerate.requires_grad or factor.requires_grad:
        return finish(img * factor + degenerate * (1.0 - factor), like)
    return _finish_tmp((img * factor).add_(degenerate * (1.0 - factor)), like)


def brightness(x: Tensor, factor: Tensor | float) -> Tensor:
    """``ImageEnhance.Brightness``: blend with black, i.e. ``x * factor`` clipped."""
    check_image(x)
    f = _param(factor, x, "factor", _work_dtype(x))
    if _jit.usable(x):  # the same float32 product on the 256 levels, applied as a table
        return _apply_lut(x, _brightness_table(x, f))
    return _finish_tmp(to_work(x) * f, x)


def contrast(x: Tensor, factor: Tensor | float) -> Tensor:
    """``ImageEnhance.Contrast``: blend with the image's mean luminance (a flat gray image)."""
    _check_luma_image(x)
    f = _param(factor, x, "factor", _work_dtype(x))
    if x.numel() == 0:
        return x.clone()
    n = x.shape[2] * x.shape[3]
    fj = _jit_factor(x, f)
    if fj is not None:  # the same integer mean and float32 table, fused in one compiled pass
        return _jit.contrast(x, fj)
    if x.dtype == torch.uint8:
        # integer luminance summed exactly in int64 (= the float64 sum of the exact levels)
        luma = _luma_u8(x) if x.shape[1] == 3 else x
        total = luma.reshape(x.shape[0], -1).sum(1, dtype=torch.int64).view(-1, 1, 1, 1)
        mean = torch.floor(total.to(torch.float64) / n + 0.5)  # Pillow: int(ImageStat.mean + 0.5)
        fd = f.detach()
        lut = _levels(x) * fd.view(-1, 1) + (mean.to(f.dtype) * (1.0 - fd)).view(-1, 1)
        return _apply_lut(x, lut.round_().clamp_(0, 255).to(torch.uint8))
    luma = _luma(x)
    mean = luma.sum(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) / n
    return _blend(to_work(x), mean.to(f.dtype), f, x)


def color(x: Tensor, factor: Tensor | float) -> Tensor:
    """``ImageEnhance.Color`` (saturation): blend with the grayscale image; identity on C = 1."""
    _check_luma_image(x)
    f = _param(factor, x, "factor", _work_dtype(x))
    if x.shape[1] == 1:
        return x.clone()
    fj = _jit_factor(x, f)
    if fj is not None:
        return _jit.color(x, fj)
    return _blend(to_work(x), _luma(x), f, x)


def sharpness(x: Tensor, factor: Tensor | float) -> Tensor:
    """``ImageEnhance.Sharpness``: blend with the SMOOTH-filtered image (border kept)."""
    check_image(x)
    f = _param(factor, x, "factor", _work_dtype(x))
    work = to_work(x)
    h, w = x.shape[-2:]
    if h < 3 or w < 3:  # every pixel is border: the degenerate is the image itself
        return finish(work.clone(), x)
    fj = _jit_factor(x, f)
    if fj is not None:
        return _jit.sharpness(x, fj)
    if work.requires_grad:
        rows = work[..., :, :-2] + work[..., :, 1:-1] + work[..., :, 2:]
        box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
        inner = (box + _SMOOTH_CENTRE_EXTRA * work[..., 1:-1, 1:-1]) / _SMOOTH_DIVISOR
    else:  # the same sums in place (4 * centre is exact, so add's alpha cannot change a bit)
        rows = (work[..., :, :-2] + work[..., :, 1:-1]).add_(work[..., :, 2:])
        box = (rows[..., :-2, :] + rows[..., 1:-1, :]).add_(rows[..., 2:, :])
        inner = box.add_(work[..., 1:-1, 1:-1], alpha=_SMOOTH_CENTRE_EXTRA).div_(_SMOOTH_DIVISOR)
    if x.dtype == torch.uint8:
        inner = inner.round_()  # Pillow's 8-bit filter rounds to nearest (never a tie: k / 13)
    degenerate = work.clone()
    degenerate[..., 1:-1, 1:-1] = inner
    return _blend(work, degenerate, f, x)


def grayscale(x: Tensor) -> Tensor:
    """Pillow ``convert("L")`` replicated to the input's channel count (C = 1: a copy)."""
    _check_luma_image(x)
    if x.shape[1] == 1:
        return x.clone()
    return finish(_luma(x).expand(-1, 3, -1, -1).contiguous(), x)


def hue(x: Tensor, shift: Tensor | float) -> Tensor:
    """Rotate hue by ``shift`` turns (periodic; [-0.5, 0.5] covers all) in HSV; identity on C = 1."""
    _check_luma_image(x)
    s = _param(shift, x, "shift", _work_dtype(x))
    if x.shape[1] == 1:
        return x.clone()
    work = to_work(x)  # HSV -> RGB below is scale-free, so the native range works as is
    r, g, b = work.unbind(dim=1)
    maxc = work.amax(dim=1)
    chroma = maxc - work.amin(dim=1)
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    h6 = torch.where(
        maxc == r,
        (g - b) / safe,
        torch.where(maxc == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    h6 = torch.remainder(h6 + 6.0 * s.view(-1, 1, 1), 6.0)
    out = []
    for n in _HSV_OFFSETS:  # three channels, fixed
        k = torch.remainder(h6 + n, 6.0)
        out.append(maxc - chroma * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))
    return finish(torch.stack(out, dim=1), x)


def autocontrast(x: Tensor) -> Tensor:
    """``ImageOps.autocontrast(cutoff=0)``: per image and channel stretch [min, max] to the full range."""
    check_image(x)
    if x.numel() == 0:
        return x.clone()
    if _jit.usable(x):  # per-channel min/max and the same float32 table, fused
        return _jit.autocontrast(x)
    u8 = x.dtype == torch.uint8
    # uint8: the same float32 expression on the 256 levels per image and channel, one gather
    work = _levels(x).view(1, 1, _LEVELS) if u8 else to_work(x)
    lo = x.amin(dim=(2, 3)).view(x.shape[0], x.shape[1], 1, 1).to(work.dtype)
    hi = x.amax(dim=(2, 3)).view(x.shape[0], x.shape[1], 1, 1).to(work.dtype)
    if u8:
        lo, hi = lo.view(lo.shape[0], -1, 1), hi.view(hi.shape[0], -1, 1)
    span = hi - lo
    flat = span <= 0  # Pillow: "hi <= lo: don't bother" -> identity
    stretched = (work - lo) * bound_of(x) / torch.where(flat, torch.ones_like(span), span)
    out = torch.where(flat, work, stretched)
    if u8:
        return _apply_lut(x, _finish_tmp(out, x))
    return finish(out, x)


def _to_levels(x: Tensor) -> Tensor:
    """uint8 view of ``x``: itself, or ``round(clamp(x, 0, 1) * 255)`` for float."""
    if x.dtype == torch.uint8:
        return x
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def _from_levels(q: Tensor, like: Tensor) -> Tensor:
    return q if like.dtype == torch.uint8 else q.to(like.dtype) / 255.0


def equalize(x: Tensor) -> Tensor:
    """``ImageOps.equalize`` per image and channel, all histograms in one ``bincount``."""
    check_image(x)
    if x.numel() == 0:
        return x.clone()
    q = _to_levels(x)
    if _jit.usable(q):  # Pillow's integer table per image and channel, fused
        return _from_levels(_jit.equalize(q), x)
    b, c, h, w = q.shape
    rows, n = b * c, h * w
    offsets = torch.arange(rows, device=x.device).mul_(256).unsqueeze(1)
    idx = q.reshape(rows, n).to(torch.int64)
    hist = torch.bincount((idx + offsets).flatten(), minlength=rows * 256).view(rows, 256)
    levels = torch.arange(256, device=x.device)
    last = torch.where(hist > 0, levels, -1).amax(dim=1, keepdim=True)
    step = (n - hist.gather(1, last)) // 255  # Pillow: (total - count of last non-zero bin) // 255
    cum = hist.cumsum(dim=1) - hist  # pixels strictly below each level
    lut = (step // 2 + cum) // step.clamp(min=1)
    lut = torch.where(step > 0, lut, levels).clamp_(0, 255)  # step 0 -> identity; Pillow clips lut
    out = lut.to(torch.uint8).gather(1, idx).view(b, c, h, w)  # as _apply_lut, reusing idx
    return _from_levels(out, x)


def invert(x: Tensor) -> Tensor:
    """``ImageOps.invert``: ``bound - x``."""
    check_image(x)
    return 255 - x if x.dtype == torch.uint8 else 1.0 - x


def solarize(x: Tensor, threshold: Tensor | float) -> Tensor:
    """``ImageOps.solarize``: pixels ``< threshold`` kept, the rest inverted.

    ``threshold`` is in native units: 0..256 for uint8 (256 = identity, 0 = invert all), the
    same number / 255 for float (so ``solarize(u8 / 255, t / 255) == solarize(u8, t) / 255``).
    """
    check_image(x)
    t = _param(threshold, x, "threshold", _work_dtype(x))
    if x.dtype == torch.uint8:
        # Invert (x ^ 255) where x >= k, all in uint8; k = 256 (keep all) has no uint8
        # threshold, so those images get a zero xor mask instead.
        k = _solarize_k(t)
        if _jit.usable(x):  # the same integer rule on the 256 levels, applied as a table
            return _apply_lut(x, _solarize_table(k))
        return _solarize_u8(x, k)
    return torch.where(to_work(x) < t, x, invert(x))


def _solarize_u8(x: Tensor, k: Tensor) -> Tensor:
    """Invert (``x ^ 255``) where ``x >= k`` (k in 0..256 per image, 256 = keep all), in uint8."""
    allow = (k < 256).to(torch.uint8).neg_()
    flip = x >= k.clamp(max=255).to(torch.uint8)
    return flip.to(torch.uint8).neg_().bitwise_and_(allow).bitwise_xor_(x)


def posterize(x: Tensor, bits: Tensor | int) -> Tensor:
    """``ImageOps.posterize``: keep the top ``bits`` (integer 0..8 per image) of each 8-bit value."""
    check_image(x)
    t = per_image(bits, x, "bits", dtype=torch.float32)
    bad = (t != t.round()) | (t < 0) | (t > 8)
    if t.ndim != 1:
        raise ValueError(f"bits must be a scalar or have shape ({x.shape[0]},), got shape {tuple(t.shape)}")
    if bool(bad.any()):
        raise ValueError(f"bits must be integers in 0..8, got {t[bad].tolist()}")
    return _from_levels(_to_levels(x) & _posterize_mask(t).view(-1, 1, 1, 1), x)


def _posterize_mask(bits: Tensor) -> Tensor:
    """``(B,)`` uint8 masks keeping the top ``bits`` (validated integers 0..8) of a level."""
    shift = (8 - bits).to(torch.int64)
    return ((255 >> shift) << shift).to(torch.uint8)
