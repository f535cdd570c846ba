"""Geometric kernels: flips, ONE affine/flow warp, pad-and-crop, resized crop, elastic.

References
----------
* Pillow ``Image.transform(size, AFFINE, (a, b, c, d, e, f))``: the output pixel whose centre is
  ``(x + .5, y + .5)`` samples the input at ``(a x + b y + c, d x + e y + f)`` (pixel i covers
  [i, i + 1)).  ``warp_affine`` takes exactly that matrix, batched as (B, 2, 3).
* AutoAugment (Cubuk et al. 2019) *released code* (tensorflow/models
  research/autoaugment/augmentation_transforms.py): ShearX = affine ``(1, v, 0, 0, 1, 0)``,
  ShearY = ``(1, 0, 0, v, 1, 0)``, TranslateX = ``(1, 0, v, 0, 1, 0)`` (pixels), TranslateY =
  ``(1, 0, 0, 0, 1, v)``, Rotate = ``Image.rotate(deg)``: counter-clockwise about the centre,
  nearest, same size.  Shears therefore pivot on the top-left corner, not the centre (the
  paper does not say).  torchvision's AutoAugment/RandAugment/TrivialAugmentWide do the same:
  their ``_apply_op`` shears with ``F.affine(..., shear=degrees(atan(v)), center=[0, 0])``,
  i.e. the same matrix about the top-left corner; the TrivialAugment authors' code (automl/
  trivialaugment ``aug_lib.py``) uses the same Pillow matrices.  That code fills with the
  dataset mean (0 after normalisation): pass ``fill=mean`` per channel to reproduce it.
* Random crop with padding (Krizhevsky et al. 2012; He et al. 2016: pad 4, crop 32x32).
* RandomResizedCrop (Szegedy et al. 2015, "Going deeper with convolutions").
* Elastic distortion (Simard et al. 2003): uniform [-1, 1] displacement fields smoothed by a
  Gaussian of std ``sigma`` and scaled by ``alpha`` pixels.

Choices and departures
----------------------
* Nearest: source indices use Pillow's own 16.16 fixed-point arithmetic for affine matrices, so
  ties at exact pixel borders break as in Pillow and results are bit-identical to it (Pillow uses
  doubles for axis-aligned matrices; the two differ only when a coordinate lies within 2**-17
  of a pixel border).  Out-of-image pixels take ``fill`` exactly.
* Bilinear uses ``grid_sample`` (align_corners=False) and blends towards ``fill`` over the outer
  half pixel, so the output is continuous in the matrix/flow (needed by learned warps).  Pillow
  instead clamps to the edge inside the image and cuts hard at its border, and truncates uint8
  results; inside the image the two agree within one level.
* ``resized_crop`` samples the box of the *whole* image, like Pillow ``resize(size, box=...)``:
  samples within half a pixel of the box edge also see the pixels just outside it (torchvision
  crops first and clamps to the crop), and boxes may be fractional.  Edges of the image clamp.
  No antialiasing (like ``F.interpolate(..., antialias=False)``): strong downscaling aliases,
  where torchvision's ``antialias=True`` would not.  Nearest equals Pillow's NEAREST resize
  except at exact pixel-border ties, which Pillow breaks by accumulated float error.
* Elastic: the Gaussian is truncated at 4 sigma (``scipy.ndimage`` default, which Simard-style
  implementations use) with reflect padding; ``sigma == 0`` uses the raw noise.
* ``pad_crop`` never resamples and never indexes pixel by pixel: two streaming passes (pad once,
  then copy every per-image window as one strided block with a single ``index_select``).
  Offsets are range-checked when on the CPU; on accelerators they are clamped to
  [0, 2 * padding] (a check would force a device synchronisation).
* Parameter maths runs in float64 (indices, Pillow's rotation matrix), so MPS is unsupported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from augkit.ops import _jit, rowshift
from augkit.ops._common import check_image, finish, per_image, to_work
from augkit.ops.filters import _gaussian_filter, _pad_reflect

__all__ = [
    "elastic",
    "hflip",
    "pad_crop",
    "resized_crop",
    "rotate",
    "scale",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "vflip",
    "warp_affine",
    "warp_flow",
]

_INTERPOLATIONS = ("nearest", "bilinear")
_PAD_MODES = ("constant", "reflect", "edge")
_FIX = 65536.0  # Pillow's 16.16 fixed point (libImaging/Geometry.c, affine_fixed)

Fill = float | int | Sequence[float] | Tensor


# --------------------------------------------------------------------------- validation


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")


def _fill_tensor(fill: Fill, x: Tensor, dtype: torch.dtype) -> Tensor:
    """``fill`` as a (1 or B, C, 1, 1) tensor of ``dtype`` on ``x``'s device."""
    B, C = x.shape[:2]
    try:
        t = fill if isinstance(fill, Tensor) else torch.as_tensor(fill, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as err:
        msg = f"fill must be a number, a sequence of {C} numbers or a tensor, got {fill!r}"
        raise TypeError(msg) from err
    t = t.to(device=x.device, dtype=dtype)
    if t.ndim == 0:
        return t.reshape(1, 1, 1, 1).expand(1, C, 1, 1)
    if t.shape == (C,):
        return t.view(1, C, 1, 1)
    if t.shape == (B, C):
        return t.view(B, C, 1, 1)
    raise ValueError(f"fill must be a scalar, have shape ({C},) or ({B}, {C}), got shape {tuple(t.shape)}")


def _native_fill(fill: Fill, x: Tensor) -> Tensor:
    """Fill in ``x``'s own dtype (uint8: rounded and clamped to [0, 255])."""
    t = _fill_tensor(fill, x, torch.float64 if x.dtype == torch.uint8 else x.dtype)
    return t.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else t


def _is_zero(fill: Fill) -> bool:
    return isinstance(fill, (int, float)) and not isinstance(fill, bool) and fill == 0


def _check_matrix(matrix: Tensor, x: Tensor) -> Tensor:
    if not isinstance(matrix, Tensor) or not matrix.dtype.is_floating_point:
        raise TypeError(f"matrix must be a floating torch.Tensor of shape (B, 2, 3), got {matrix!r}")
    if matrix.shape == (2, 3):
        matrix = matrix.expand(x.shape[0], 2, 3)
    if matrix.shape != (x.shape[0], 2, 3):
        raise ValueError(f"matrix must have shape ({x.shape[0]}, 2, 3) or (2, 3), got {tuple(matrix.shape)}")
    return matrix.to(x.device)


# --------------------------------------------------------------------------- sampling core


def _gather_nearest(x: Tensor, ix: Tensor, iy: Tensor, fill: Fill | None) -> Tensor:
    """out[b, :, i, j] = x[b, :, iy, ix] or exactly ``fill`` where (iy, ix) is outside the image.

    Works in the native dtype: the image is padded by a one-pixel ring of ``fill`` and the
    indices are clamped into that ring, so one gather does both (no blend, no float round
    trip, no validity mask).  ``fill=None``: the caller guarantees in-image indices.
    ``ix``/``iy`` may be int32 or int64 (the gather index is int64 either way).
    """
    B, C, H, W = x.shape
    Ho, Wo = ix.shape[1:]
    if fill is None:
        src, Wp = x.reshape(B, C, H * W), W
        idx = torch.add(ix, iy, alpha=W).to(torch.int64)
    else:
        src, Wp = _pad(x, 1, "constant", fill).reshape(B, C, (H + 2) * (W + 2)), W + 2
        # flat index in the padded image: (iy + 1) * (W + 2) + (ix + 1), border ring = fill
        idx = torch.add(ix.clamp(-1, W), iy.clamp(-1, H), alpha=Wp).to(torch.int64).add_(Wp + 1)
    out = src.gather(2, idx.view(B, 1, Ho * Wo).expand(B, C, Ho * Wo))
    return out.view(B, C, Ho, Wo)


def _sample_bilinear(xw: Tensor, gx: Tensor, gy: Tensor, fill: Fill | None) -> Tensor:
    """Bilinear sample at input pixel coordinates (gx, gy) (B, Ho, Wo); fill None = edge clamp."""
    H, W = xw.shape[-2:]
    grid = torch.stack((gx * (2.0 / W) - 1.0, gy * (2.0 / H) - 1.0), dim=-1).to(xw.dtype)
    if fill is None:
        return F.grid_sample(xw, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if _is_zero(fill):
        return F.grid_sample(xw, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Sampling is linear with weights summing to the in-image mass m, so
    # sample(x - f) + f = sample(x) + (1 - m) f: a blend towards fill outside the image.
    f = _fill_tensor(fill, xw, xw.dtype)
    out = F.grid_sample(xw - f, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + f


def _centres(n: int, like: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.arange(n, device=like.device, dtype=dtype) + 0.5


def _affine_coords(matrix: Tensor, H: int, W: int) -> tuple[Tensor, Tensor]:
    """Input coordinates (B, H, W) of the output pixel centres under ``matrix`` (B, 2, 3)."""
    m = matrix[:, :, :, None, None]  # (B, 2, 3, 1, 1)
    xs = _centres(W, matrix, matrix.dtype).view(1, 1, W)
    ys = _centres(H, matrix, matrix.dtype).view(1, H, 1)
    gx = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    gy = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    return gx, gy


_INT32_SAFE = 2**31 - 2**17  # fixed-point sums below this fit int32 with room to spare


def _fixed_table(matrix: Tensor) -> Tensor:
    """Pillow's 16.16 fixed-point coefficients ``a0..a5`` of ``matrix``: int64 (B, 6), in one pass."""
    m = matrix.detach().to(torch.float64).reshape(-1, 6)
    v = m.clone()  # the offsets move to the pixel centres: c + a / 2 + b / 2, in this order
    v[:, 2] = m[:, 2] + 0.5 * m[:, 0] + 0.5 * m[:, 1]
    v[:, 5] = m[:, 5] + 0.5 * m[:, 3] + 0.5 * m[:, 4]
    return torch.floor(v * _FIX + 0.5).to(torch.int64)


def _affine_indices(table: Tensor, H: int, W: int) -> tuple[Tensor, Tensor]:
    """Nearest source indices with Pillow's 16.16 fixed-point rule (affine_fixed in Geometry.c).

    ``floor(v / 65536)`` is an arithmetic ``>> 16``.  The sums run in int32 when their bound
    fits (checked on the CPU; accelerators stay in int64 to avoid a synchronisation), as in
    Pillow, whose fixed-point path is int32 too; either way the results are the same integers.
    """
    coef = [table[:, k, None, None] for k in range(6)]  # each (B, 1, 1)
    a0, a1, a2, a3, a4, a5 = coef
    dtype, device = torch.int64, a0.device
    if device.type == "cpu" and a0.shape[0]:
        c0, c1, c2, c3, c4, c5 = table.abs().amax(0).view(6).tolist()
        if max(c2 + (W - 1) * c0 + (H - 1) * c1, c5 + (W - 1) * c3 + (H - 1) * c4) < _INT32_SAFE:
            dtype = torch.int32
            a0, a1, a2, a3, a4, a5 = (a.to(dtype) for a in coef)
    xs = torch.arange(W, device=device, dtype=dtype).view(1, 1, W)
    ys = torch.arange(H, device=device, dtype=dtype).view(1, H, 1)
    ix = torch.add(a2 + xs * a0, ys * a1).bitwise_right_shift_(16)
    iy = torch.add(a5 + xs * a3, ys * a4).bitwise_right_shift_(16)
    return ix, iy


def _row_path(x: Tensor) -> bool:
    """Row-window warps (:mod:`augkit.ops.rowshift`): CPU, no autograd, non-empty images."""
    return x.device.type == "cpu" and not x.requires_grad and x.shape[-1] > 0 and x.shape[-2] > 0


# --------------------------------------------------------------------------- public kernels


def hflip(x: Tensor) -> Tensor:
    """Mirror left-right (Pillow ``ImageOps.mirror``)."""
    check_image(x)
    return x.flip(-1)


def vflip(x: Tensor) -> Tensor:
    """Mirror top-bottom (Pillow ``ImageOps.flip``)."""
    check_image(x)
    return x.flip(-2)


def warp_affine(x: Tensor, matrix: Tensor, interpolation: str = "nearest", fill: Fill = 0.0) -> Tensor:
    """Pillow-convention affine warp: output (x, y) samples input (a x + b y + c, d x + e y + f).

    ``matrix`` (B, 2, 3) or (2, 3) maps output pixel coordinates (centres at +0.5) to input ones.
    ``fill``: scalar, per-channel (C,) or (B, C) values in the image's native range.
    Differentiable in ``x`` and, for bilinear, in ``matrix``.
    """
    check_image(x)
    _check_interpolation(interpolation)
    matrix = _check_matrix(matrix, x)
    B, C, H, W = x.shape
    if B == 0:
        return x.clone()
    if interpolation == "nearest":
        coef = _fixed_table(matrix)
        plan = rowshift.row_shift_plan(coef, H) if _row_path(x) else None
        if _jit.usable(x):  # compiled: row copies (translate / ShearX) or one pass over the bytes
            fills = _native_fill(fill, x).reshape(-1, C).expand(B, C)
            if plan is not None:
                return _jit.shift_rows(x, *plan, fills)
            return _jit.warp_nearest(x, coef, fills)
        if plan is not None:  # the same rows as torch windows, no per-pixel gather
            return rowshift.shift_rows(x, *plan, _native_fill(fill, x))
        ix, iy = _affine_indices(coef, H, W)
        return _gather_nearest(x, ix, iy, fill)
    xw = to_work(x)
    gx, gy = _affine_coords(matrix.to(xw.dtype), H, W)
    return finish(_sample_bilinear(xw, gx, gy, fill), x, clamp=False)


def warp_flow(x: Tensor, flow: Tensor, interpolation: str = "bilinear", fill: Fill = 0.0) -> Tensor:
    """Output (x, y) samples input (x + .5 + dx, y + .5 + dy); ``flow`` (B, 2, H, W) in pixels.

    Shares the sampling code with ``warp_affine`` (nearest = floor of the coordinate).
    """
    check_image(x)
    _check_interpolation(interpolation)
    B, C, H, W = x.shape
    if not isinstance(flow, Tensor) or not flow.dtype.is_floating_point:
        raise TypeError(f"flow must be a floating tensor of shape (B, 2, H, W), got {type(flow).__name__}")
    if flow.shape != (B, 2, H, W):
        raise ValueError(f"flow must have shape {(B, 2, H, W)}, got {tuple(flow.shape)}")
    if B == 0:
        return x.clone()
    flow = flow.to(x.device)
    if interpolation == "nearest":
        f = flow.detach()
        ix = torch.floor(_centres(W, f, f.dtype).view(1, 1, W) + f[:, 0]).to(torch.int64)
        iy = torch.floor(_centres(H, f, f.dtype).view(1, H, 1) + f[:, 1]).to(torch.int64)
        return _gather_nearest(x, ix, iy, fill)
    xw = to_work(x)
    flow = flow.to(xw.dtype)
    gx = _centres(W, xw, xw.dtype).view(1, 1, W) + flow[:, 0]
    gy = _centres(H, xw, xw.dtype).view(1, H, 1) + flow[:, 1]
    return finish(_sample_bilinear(xw, gx, gy, fill), x, clamp=False)


def _matrix(x: Tensor, rows: Sequence[Tensor | float]) -> Tensor:
    """Stack six per-image coefficients (each (B,) tensor or float) into (B, 2, 3) float64."""
    B = x.shape[0]
    cols = [
        r if isinstance(r, Tensor) else torch.full((B,), float(r), dtype=torch.float64, device=x.device)
        for r in rows
    ]
    return torch.stack(cols, dim=1).view(B, 2, 3)


def shear_x(x: Tensor, value: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """AutoAugment ShearX: Pillow affine (1, v, 0, 0, 1, 0), pivot at the top-left corner (as torchvision)."""
    check_image(x)
    v = per_image(value, x, "value", dtype=torch.float64)
    return warp_affine(x, _matrix(x, [1, v, 0, 0, 1, 0]), interpolation, fill)


def shear_y(x: Tensor, value: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """AutoAugment ShearY: Pillow affine (1, 0, 0, v, 1, 0)."""
    check_image(x)
    v = per_image(value, x, "value", dtype=torch.float64)
    return warp_affine(x, _matrix(x, [1, 0, 0, v, 1, 0]), interpolation, fill)


def translate_x(x: Tensor, pixels: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """AutoAugment TranslateX: Pillow affine (1, 0, v, 0, 1, 0): content moves left for v > 0."""
    check_image(x)
    v = per_image(pixels, x, "pixels", dtype=torch.float64)
    return warp_affine(x, _matrix(x, [1, 0, v, 0, 1, 0]), interpolation, fill)


def translate_y(x: Tensor, pixels: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """AutoAugment TranslateY: Pillow affine (1, 0, 0, 0, 1, v): content moves up for v > 0."""
    check_image(x)
    v = per_image(pixels, x, "pixels", dtype=torch.float64)
    return warp_affine(x, _matrix(x, [1, 0, 0, 0, 1, v]), interpolation, fill)


def _rotation_matrix(degrees: Tensor, H: int, W: int) -> Tensor:
    """Pillow ``Image.rotate`` inverse matrix (coefficients rounded to 15 decimals as Pillow does)."""
    t = -torch.deg2rad(degrees.remainder(360.0))
    cos, sin = torch.round(torch.cos(t), decimals=15), torch.round(torch.sin(t), decimals=15)
    cx, cy = W / 2.0, H / 2.0
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1).view(-1, 2, 3)


def rotate(x: Tensor, degrees: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """Pillow ``Image.rotate(degrees)``: counter-clockwise about the image centre, same size."""
    check_image(x)
    d = per_image(degrees, x, "degrees", dtype=torch.float64)
    return warp_affine(x, _rotation_matrix(d, x.shape[-2], x.shape[-1]), interpolation, fill)


def scale(x: Tensor, factor: Tensor | float, interpolation: str = "nearest", fill: Fill = 0) -> Tensor:
    """Zoom about the centre: ``factor`` > 1 enlarges the content, < 1 shrinks it (must be != 0)."""
    check_image(x)
    s = 1.0 / per_image(factor, x, "factor", dtype=torch.float64)
    cx, cy = x.shape[-1] / 2.0, x.shape[-2] / 2.0
    return warp_affine(x, _matrix(x, [s, 0, cx - cx * s, 0, s, cy - cy * s]), interpolation, fill)


def _pad(x: Tensor, p: int, mode: str, fill: Fill) -> Tensor:
    B, C, H, W = x.shape
    if mode == "reflect":
        return _pad_reflect(x, p, p)
    if mode == "edge":
        return F.pad(x, (p, p, p, p), mode="replicate")
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        value = float(min(255, max(0, round(fill)))) if x.dtype == torch.uint8 else float(fill)
        return F.pad(x, (p, p, p, p), value=value)
    out = x.new_empty(B, C, H + 2 * p, W + 2 * p)
    out.copy_(_native_fill(fill, x).expand_as(out))
    out[:, :, p : p + H, p : p + W] = x
    return out


def pad_crop(x: Tensor, offsets: Tensor, padding: int, fill: Fill = 0, mode: str = "constant") -> Tensor:
    """Pad every image by ``padding`` and crop the HxW window at ``offsets[b] = (top, left)``.

    ``offsets`` (B, 2) integers in [0, 2 * padding]; ``mode``: constant (``fill``: scalar,
    (C,) or (B, C) native-range values), reflect (mirror without edge repeat, any padding) or
    edge.  Integer shifts only: never resamples.
    """
    check_image(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"mode must be one of {_PAD_MODES}, got {mode!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    B, C, H, W = x.shape
    if not isinstance(offsets, Tensor) or offsets.dtype.is_floating_point or offsets.dtype == torch.bool:
        raise TypeError(f"offsets must be an integer torch.Tensor of shape ({B}, 2), got {offsets!r}")
    if offsets.shape != (B, 2):
        raise ValueError(f"offsets must have shape ({B}, 2), got {tuple(offsets.shape)}")
    if offsets.device.type == "cpu" and B and (offsets.min() < 0 or offsets.max() > 2 * padding):
        raise ValueError(f"offsets must lie in [0, {2 * padding}] (= 2 * padding), got {offsets.tolist()}")
    if mode == "constant" and not _is_zero(fill):
        _fill_tensor(fill, x, torch.float64)  # validate even when there is nothing to fill
    if B == 0 or padding == 0 or H == 0 or W == 0:
        return x.clone()
    off = offsets.to(device=x.device, dtype=torch.int64)
    if offsets.device.type != "cpu":  # not validated above (that would synchronise): clamp instead
        off = off.clamp(0, 2 * padding)
    xp = _pad(x, padding, mode, fill).contiguous()
    Hp, Wp = H + 2 * padding, W + 2 * padding
    # Every window is the same strided (C, H, W) view of the flat padded storage shifted by
    # b * C*Hp*Wp + top * Wp + left, so one index_select copies whole windows row by row.
    starts = torch.arange(B, device=x.device) * (C * Hp * Wp) + off[:, 0] * Wp + off[:, 1]
    n_starts = (B - 1) * C * Hp * Wp + 2 * padding * Wp + 2 * padding + 1
    return xp.view(-1).as_strided((n_starts, C, H, W), (1, Hp * Wp, Wp, 1)).index_select(0, starts)


def _check_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be a positive int or a pair (height, width) of them, got {size!r}")
    return int(size[0]), int(size[1])


def resized_crop(
    x: Tensor, boxes: Tensor, size: int | Sequence[int], interpolation: str = "bilinear"
) -> Tensor:
    """Crop ``boxes[b] = (top, left, height, width)`` (input pixels, float) and resize to ``size``.

    Output pixel (i, j) samples (top + (i + .5) h / Ho, left + (j + .5) w / Wo); edges clamp.
    """
    check_image(x)
    _check_interpolation(interpolation)
    Ho, Wo = _check_size(size)
    B, C, H, W = x.shape
    if not isinstance(boxes, Tensor):
        raise TypeError(f"boxes must be a torch.Tensor of shape ({B}, 4), got {type(boxes).__name__}")
    if boxes.shape != (B, 4):
        raise ValueError(
            f"boxes must have shape ({B}, 4) (top, left, height, width), got {tuple(boxes.shape)}"
        )
    if B == 0:
        return x.new_empty(0, C, Ho, Wo)
    xw = to_work(x)
    dtype = torch.float64 if interpolation == "nearest" else xw.dtype
    b = boxes.to(device=x.device, dtype=dtype)
    gy = b[:, 0, None] + _centres(Ho, b, dtype) * (b[:, 2, None] / Ho)  # (B, Ho)
    gx = b[:, 1, None] + _centres(Wo, b, dtype) * (b[:, 3, None] / Wo)  # (B, Wo)
    if interpolation == "nearest":
        iy = torch.floor(gy).to(torch.int64).clamp(0, H - 1)[:, :, None].expand(B, Ho, Wo)
        ix = torch.floor(gx).to(torch.int64).clamp(0, W - 1)[:, None, :].expand(B, Ho, Wo)
        return _gather_nearest(x, ix, iy, None)  # clamped: every index is inside the image
    out = _sample_bilinear(xw, gx[:, None, :].expand(B, Ho, Wo), gy[:, :, None].expand(B, Ho, Wo), None)
    return finish(out, x, clamp=False)


def elastic(
    x: Tensor,
    noise: Tensor,
    alpha: Tensor | float,
    sigma: float,
    interpolation: str = "bilinear",
    fill: Fill = 0,
) -> Tensor:
    """Simard et al. 2003: flow = alpha[b] * Gaussian_sigma * noise, applied with ``warp_flow``.

    ``noise`` (B, 2, H, W) uniform in [-1, 1] (dx, dy), drawn by the caller; ``sigma`` in
    pixels (one per call, truncated at 4 sigma, reflect padding); ``alpha`` in pixels.
    """
    check_image(x)
    B, C, H, W = x.shape
    if not isinstance(noise, Tensor) or not noise.dtype.is_floating_point:
        raise TypeError(f"noise must be a floating tensor of shape (B, 2, H, W), got {type(noise).__name__}")
    if noise.shape != (B, 2, H, W):
        raise ValueError(f"noise must have shape {(B, 2, H, W)}, got {tuple(noise.shape)}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0 or sigma == math.inf:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    work = to_work(x).dtype
    a = per_image(alpha, x, "alpha", dtype=work)
    field = noise.to(device=x.device, dtype=work)
    if sigma > 0 and B:
        radius = int(4.0 * sigma + 0.5)
        field = _gaussian_filter(field, torch.full((B,), float(sigma), dtype=work, device=x.device), radius)
    return warp_flow(x, a.view(-1, 1, 1, 1) * field, interpolation, fill)
