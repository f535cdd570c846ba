"""Region-dropping kernels: Random Erasing, Cutout, Hide-and-Seek and GridMask.

Every kernel takes a ``(B, C, H, W)`` uint8 [0, 255] or float [0, 1] batch plus per-image
parameter tensors, builds a boolean ``(B, 1, H, W)`` mask by broadcasting integer coordinate
comparisons (no Python loop over images) and writes a fill where the mask is set.  Fills are
given in the image's *native range* (0..255 for uint8, 0..1 for float).  uint8 results are
rounded and clamped; float results are written as given (an erase never alters kept pixels,
so nothing is clamped: pass fills inside [0, 1]).  The kernels draw nothing; samplers live in
``augkit.sample``.

References and the choices they leave open
------------------------------------------
* Random Erasing -- Zhong, Zheng, Kang, Li & Yang, "Random Erasing Data Augmentation",
  AAAI 2020 (arXiv:1708.04896).  The paper compares filling the region with per-pixel random
  values (its default, RE-R), the ImageNet mean (RE-M), 0 and 255; the official code
  (zhunzhong07/Random-Erasing) fills the per-channel dataset mean; timm adds one random
  colour per region.  :func:`erase` covers all of them through ``values`` (scalar, ``(C,)``,
  ``(B, C, 1, 1)`` or ``(B, C, H, W)``).  The paper re-draws boxes until they fit inside
  the image; here a box may stick out and is clipped (the sampler decides the policy).
* Cutout -- DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with
  Cutout", arXiv:1708.04552, 2017.  The centre may lie anywhere, the square is clipped at the
  border.  The square covers rows ``[cy - size // 2, cy - size // 2 + size)``: exactly
  ``size`` pixels.  The reference code uses ``[cy - size // 2, cy + size // 2)``, identical
  for even sizes (the paper's 16 and 8) and one pixel shorter for odd sizes; we keep the
  stated side length.  The code zeroes the *normalised* image, i.e. fills the dataset mean.
* Hide-and-Seek -- Singh & Lee, "Hide-and-Seek: Forcing a Network to be Meticulous for
  Weakly-supervised Object and Action Localization", ICCV 2017.  The paper uses S x S patches
  and fills hidden ones with the dataset mean (so that test-time activation statistics
  match).  Here the caller gives the grid as a ``(B, gh, gw)`` boolean tensor; when ``H`` is
  not a multiple of ``gh`` the edges are ``ceil(i * H / gh)``, i.e. row ``y`` belongs to
  patch ``floor(y * gh / H)`` and patch heights differ by at most one (same for columns).
* GridMask -- Chen, Liu, Zhao & Jia, "GridMask Data Augmentation", arXiv:2001.04086, 2020,
  and the official code dvlab-research/GridMask (``imagenet_grid/utils/grid.py``).  A mask
  is ``(r, d, delta_x, delta_y)``; ``r`` is "the ratio of the shorter gray edge in a unit",
  the gray part being the *kept* part, so the keep ratio is ``k = 1 - (1 - r) ** 2``.
  Following the code (``l = int(d * ratio + 0.5)``, ``mode=1`` as used for ImageNet with
  ``ratio=0.6``): in each ``d x d`` unit a band of width ``l = floor(d * r + 0.5)`` along
  the top and the left is kept and the square of side ``d - l`` is removed.  Pixel
  ``(y, x)`` is removed iff ``(y - dy) mod d >= l`` and ``(x - dx) mod d >= l``.  The code
  draws ``r`` and ``d`` in its own ranges and clamps nothing beyond the rounding; ``r = 1``
  is the identity here, ``r = 0`` removes everything.  Rotation: the code rotates a larger
  mask canvas with ``PIL.Image.rotate`` (counter-clockwise, nearest) and crops the centre;
  we evaluate the infinite periodic grid at rotated, rounded pixel coordinates about the
  image centre, which gives the same pattern without a canvas or resampling of the image.
  The paper multiplies the normalised image by the mask, so its fill 0 is the dataset mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from augkit.ops._common import check_image, finish, per_image, to_work

__all__ = ["cutout", "erase", "gridmask", "hide_and_seek"]

Fill = Tensor | float | int | Sequence[float]


# ----------------------------------------------------------------------------- validation
def _int_param(value: Tensor | Sequence | int, x: Tensor, name: str, shape: tuple[int, ...]) -> Tensor:
    """An integer tensor of exactly ``shape`` on ``x``'s device (int64)."""
    t = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if t.dtype == torch.bool or t.dtype.is_floating_point or t.dtype.is_complex:
        raise TypeError(f"{name} must hold integers, got dtype {t.dtype}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {tuple(t.shape)}")
    return t.to(device=x.device, dtype=torch.int64)


def _int_per_image(value: Tensor | int, x: Tensor, name: str) -> Tensor:
    """A scalar or ``(B,)`` integer parameter as an int64 ``(B,)`` tensor."""
    t = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    return _int_param(t, x, name, (x.shape[0],))


def _fill(value: Fill, x: Tensor, dtype: torch.dtype, name: str) -> Tensor:
    """A fill as a 4-d tensor in ``work``'s dtype that broadcasts against ``x``.

    Accepted: a scalar, ``(C,)`` (or ``(1,)``) per channel, or a 4-d tensor broadcastable
    to ``(B, C, H, W)`` such as ``(B, C, 1, 1)`` or ``(B, C, H, W)``.
    """
    t = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if t.dtype == torch.bool or t.dtype.is_complex:
        raise TypeError(f"{name} must be real numbers, got dtype {t.dtype}")
    t = t.to(device=x.device, dtype=dtype)
    c = x.shape[1]
    if t.ndim == 0:
        return t.reshape(1, 1, 1, 1)
    if t.ndim == 1 and t.shape[0] in (1, c):
        return t.reshape(1, -1, 1, 1)
    if t.ndim == 4:
        try:
            ok = torch.broadcast_shapes(t.shape, x.shape) == x.shape
        except RuntimeError:
            ok = False
        if ok:
            return t
    raise ValueError(
        f"{name} must be a scalar, shape ({c},), or 4-d broadcastable to {tuple(x.shape)} "
        f"(e.g. (B, C, 1, 1) or (B, C, H, W)), got shape {tuple(t.shape)}"
    )


# Integer dtype of each element width: merges run on an integer view of the image.
_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
# Above this many bytes, a wide (float) batch merges with ``torch.where`` (one pass) instead
# of the three bitwise passes, which then cost more than where's unvectorised loop.
_XOR_MERGE_BYTES = 8 << 20


def _apply(x: Tensor, mask: Tensor, fill: Fill, name: str) -> Tensor:
    """Write ``fill`` where the ``(B, 1, H, W)`` ``mask`` (bool, or uint8 0/1) is set.

    The fill is converted once to ``x``'s dtype (uint8: rounded and clamped, exactly what
    ``finish`` would do to it) instead of a float round trip of the whole batch.  uint8 and
    small float batches merge bitwise on an integer view, ``x ^ ((x ^ fill) & mask)`` (exact
    for every dtype; ``torch.where`` with a broadcast mask is not vectorised); large float
    batches use one ``torch.where``.  With autograd the original float path stays.
    """
    bool_mask = mask if mask.dtype == torch.bool else mask.view(torch.bool)
    if x.requires_grad or (isinstance(fill, Tensor) and fill.requires_grad):
        work = to_work(x)
        out = torch.where(bool_mask, _fill(fill, x, work.dtype, name), work)
        return finish(out, x, clamp=False)
    if x.dtype == torch.uint8:
        f = _fill(fill, x, torch.float32, name).round().clamp_(0, 255).to(torch.uint8)
    else:
        f = _fill(fill, x, x.dtype, name)
        if x.numel() * x.element_size() > _XOR_MERGE_BYTES:
            return torch.where(bool_mask, f, x)
    it = _INT_OF_SIZE[x.element_size()]
    m = bool_mask.to(it).neg_()  # all bits set where erased
    xi = x.view(it)
    return torch.bitwise_xor(xi, f.view(it)).bitwise_and_(m).bitwise_xor_(xi).view(x.dtype)


# ----------------------------------------------------------------------------- masks
def _box_mask(boxes: Tensor, h: int, w: int) -> Tensor:
    """``(B, 1, H, W)`` uint8 0/1 mask of integer boxes ``(top, left, height, width)``, clipped.

    The outer product of two uint8 row/column masks is several times faster than a boolean one.
    """
    rows = torch.arange(h, device=boxes.device)
    cols = torch.arange(w, device=boxes.device)
    top, left, bh, bw = boxes.unbind(1)
    in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + bh)[:, None])
    in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < (left + bw)[:, None])
    return in_rows.to(torch.uint8)[:, None, :, None] & in_cols.to(torch.uint8)[:, None, None, :]


# ----------------------------------------------------------------------------- kernels
def erase(x: Tensor, boxes: Tensor | Sequence, values: Fill) -> Tensor:
    """Random Erasing kernel: set each image's box to ``values``.

    ``boxes``: ``(B, 4)`` integers ``(top, left, height, width)``; parts outside the image
    are clipped and a zero height or width leaves the image untouched.  ``values``: native
    range; scalar or ``(C,)`` constant, ``(B, C, 1, 1)`` one colour per image, or
    ``(B, C, H, W)`` per-pixel values (only the part inside the box is used).
    Differentiable with respect to float ``x`` (and float ``values``).
    """
    check_image(x)
    b = _int_param(boxes, x, "boxes", (x.shape[0], 4))
    if bool((b[:, 2:] < 0).any()):
        raise ValueError(f"boxes height and width must be >= 0, got {b[:, 2:].min().item()}")
    return _apply(x, _box_mask(b, x.shape[2], x.shape[3]), values, "values")


def cutout(x: Tensor, centers: Tensor | Sequence, size: Tensor | int, fill: Fill) -> Tensor:
    """Cutout (DeVries & Taylor 2017): a ``size x size`` square centred at ``centers``.

    ``centers``: ``(B, 2)`` integers ``(y, x)``, anywhere in (or outside) the image; the
    square covers ``[c - size // 2, c - size // 2 + size)`` on each axis, clipped.
    ``size``: scalar or ``(B,)`` integers >= 0 (0 = untouched).  ``fill``: scalar or ``(C,)``
    (or per image ``(B, C, 1, 1)``) in the native range; the paper's zero on normalised
    images is the dataset mean.

    AutoAugment's released code (``augmentation_transforms.py``, Cubuk et al. 2019) applies
    Cutout to 32x32 CIFAR images with ``size = int(level * 20 / 10)`` in 0..20, a centre
    drawn uniformly in the image, the square ``[c - size // 2, c + size // 2)`` clipped, and
    fill ``(125, 122, 113)`` (the CIFAR-10 mean x 255; its alpha-0 marker then makes
    ``pil_unwrap`` set those pixels to 0 after normalisation, again the mean).  Reproduce it
    with ``fill=(125, 122, 113)`` and even sizes, or ``size - size % 2`` for odd ones.
    """
    check_image(x)
    c = _int_param(centers, x, "centers", (x.shape[0], 2))
    s = _int_per_image(size, x, "size")
    if bool((s < 0).any()):
        raise ValueError(f"size must be >= 0, got {s.min().item()}")
    boxes = torch.stack([c[:, 0] - s // 2, c[:, 1] - s // 2, s, s], dim=1)
    return _apply(x, _box_mask(boxes, x.shape[2], x.shape[3]), fill, "fill")


def hide_and_seek(x: Tensor, hide: Tensor, fill: Fill) -> Tensor:
    """Hide-and-Seek (Singh & Lee 2017): hide the grid patches flagged in ``hide``.

    ``hide``: ``(B, gh, gw)`` bool, True = hidden.  Row ``y`` belongs to patch row
    ``floor(y * gh / H)`` (edges at ``ceil(i * H / gh)``), columns likewise, so patches are
    an even split with integer edges whose sizes differ by at most one.  ``fill``: scalar or
    ``(C,)`` in the native range; the paper uses the dataset mean.
    """
    check_image(x)
    if not isinstance(hide, Tensor) or hide.dtype != torch.bool:
        got = hide.dtype if isinstance(hide, Tensor) else type(hide).__name__
        raise TypeError(f"hide must be a bool tensor of shape (B, gh, gw), got {got}")
    if hide.ndim != 3 or hide.shape[0] != x.shape[0] or hide.shape[1] < 1 or hide.shape[2] < 1:
        raise ValueError(
            f"hide must have shape ({x.shape[0]}, gh, gw) with gh, gw >= 1, got {tuple(hide.shape)}"
        )
    _, _, h, w = x.shape
    gh, gw = hide.shape[1], hide.shape[2]
    hide = hide.to(x.device)
    row_patch = torch.arange(h, device=x.device) * gh // h
    col_patch = torch.arange(w, device=x.device) * gw // w
    mask = hide[:, row_patch[:, None], col_patch[None, :]]
    return _apply(x, mask[:, None], fill, "fill")


def _grid_coords(x: Tensor, angle: Tensor | float | None) -> tuple[Tensor, Tensor]:
    """Integer (y, x) coordinates at which the unrotated grid is read, ``(B|1, H, W)``.

    With an angle the mask is rotated counter-clockwise as displayed (``PIL.Image.rotate``'s
    convention) about the image centre; pixel centres are mapped back and rounded to the
    nearest grid pixel, so no image resampling happens.
    """
    _, _, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev)
    cols = torch.arange(w, device=dev)
    if angle is None:
        return rows[None, :, None].expand(1, h, w), cols[None, None, :].expand(1, h, w)
    dtype = torch.float32 if dev.type == "mps" else torch.float64
    a = per_image(angle, x, "angle", dtype=dtype)
    if not bool(torch.isfinite(a).all()):
        raise ValueError("angle must be finite degrees")
    a = (a * (math.pi / 180.0))[:, None, None]
    cos, sin = torch.cos(a), torch.sin(a)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yc = (rows.to(dtype) - cy)[None, :, None]
    xc = (cols.to(dtype) - cx)[None, None, :]
    ys = torch.floor(cy + sin * xc + cos * yc + 0.5).to(torch.int64)
    xs = torch.floor(cx + cos * xc - sin * yc + 0.5).to(torch.int64)
    return ys, xs


def gridmask(
    x: Tensor,
    d: Tensor | int,
    ratio: Tensor | float,
    offsets: Tensor | Sequence,
    fill: Fill = 0,
    angle: Tensor | float | None = None,
) -> Tensor:
    """GridMask (Chen et al. 2020): remove a periodic grid of squares.

    ``d``: unit size, scalar or ``(B,)`` integers >= 1.  ``ratio``: the paper's ``r``, the
    *kept* share of a unit's edge, scalar or ``(B,)`` in [0, 1]; the kept band is
    ``l = floor(d * r + 0.5)`` pixels (as the official code) and the removed square has side
    ``d - l``, so about ``(1 - r) ** 2`` of the image is removed (keep ratio
    ``1 - (1 - r) ** 2``).  ``offsets``: ``(B, 2)`` integers ``(delta_y, delta_x)`` in
    ``[0, d)`` (other integers are taken modulo ``d``), the grid origin.  Pixel ``(y, x)``
    is removed iff ``(y - delta_y) mod d >= l`` and ``(x - delta_x) mod d >= l``.
    ``angle``: optional degrees, scalar or ``(B,)``, rotating the mask counter-clockwise
    about the image centre.  ``fill``: scalar or ``(C,)`` in the native range.
    """
    check_image(x)
    dd = _int_per_image(d, x, "d")
    if bool((dd < 1).any()):
        raise ValueError(f"d must be >= 1, got {dd.min().item()}")
    dtype = torch.float32 if x.device.type == "mps" else torch.float64
    r = per_image(ratio, x, "ratio", dtype=dtype)
    bad = ~((r >= 0) & (r <= 1))
    if bool(bad.any()):
        raise ValueError(f"ratio must lie in [0, 1] (share of the unit edge kept), got {r[bad][0].item()}")
    off = _int_param(offsets, x, "offsets", (x.shape[0], 2))
    keep = torch.floor(dd * r + 0.5).to(torch.int64)[:, None, None]
    ys, xs = _grid_coords(x, angle)
    period = dd[:, None, None]
    u = torch.remainder(ys - off[:, 0, None, None], period)
    v = torch.remainder(xs - off[:, 1, None, None], period)
    return _apply(x, ((u >= keep) & (v >= keep))[:, None], fill, "fill")
