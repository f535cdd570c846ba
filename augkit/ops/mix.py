"""Batched multi-image kernels: per-image blend, box paste, 2x2 tiling, BC+ mixing.

Pure functions on ``(B, C, H, W)`` uint8 or float batches with per-image parameter tensors;
no randomness and no Python loop over images (the samplers live in :mod:`augkit.mix.mixers`).

* :func:`mix_blend` -- mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization",
  ICLR 2018): ``lam * x + (1 - lam) * x[index]`` with one ``lam`` per image.  Float uses
  ``torch.lerp`` in place on the gathered partner buffer, which is exact at both end points
  (``lam = 1`` returns ``x`` bit for bit).  uint8 uses exact 8.8 fixed point: the weight is
  quantised to ``round(256 * lam) / 256`` and the result is rounded half up; the caller that
  needs exact targets (the mixers) quantises ``lam`` the same way (:func:`quantize_lambda`).
* :func:`paste_boxes` -- CutMix (Yun et al., ICCV 2019): the box ``(top, left, h, w)`` of
  each image comes from its partner ``x[index]``.  The per-image masks are selected with a
  bitwise ``((a ^ b) & m) ^ a`` on 64-bit words (any dtype whose pixel rows fill whole words), which is
  exact, branch-free and several times faster than ``torch.where`` with a broadcast mask.
* :func:`quad_tile` -- RICAP (Takahashi et al., ACML 2018 / IEEE TCSVT 2019) and Mosaic
  (Bochkovskiy et al., YOLOv4, 2020): each image is split at ``(h_b, w_b)`` into four
  quadrants; quadrant ``q`` shows image ``index[b, q]`` shifted by ``offset[b, q]``
  (source pixel = output pixel + offset).  One flat gather over the batch.
* :func:`bc_plus` -- between-class learning, BC+ (Tokozume et al., "Between-class Learning
  for Image Classification", CVPR 2018): images are treated as waveforms; with per-image
  mean ``mu`` and standard deviation ``sigma`` over all pixels and channels,
  ``p = 1 / (1 + sigma1 / sigma2 * (1 - r) / r)`` and
  ``mix = (p (x1 - mu1) + (1 - p)(x2 - mu2)) / sqrt(p^2 + (1 - p)^2)``.  Departure: the
  paper also subtracts the per-image mean at test time; to leave the evaluation pipeline
  unchanged we add back ``r mu1 + (1 - r) mu2`` so the output stays in pixel units (float,
  not clamped: BC+ mixes are not valid images by design).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._common import check_image

__all__ = ["bc_plus", "box_mask", "mix_blend", "paste_boxes", "quad_tile", "quantize_lambda"]


def _index(index: Tensor, x: Tensor, name: str = "index") -> Tensor:
    if not isinstance(index, Tensor) or index.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must be an integer tensor of partner indices, got {index!r:.60}")
    index = index.to(device=x.device, dtype=torch.int64)
    b = x.shape[0]
    if index.shape[0] != b:
        raise ValueError(f"{name} must have {b} rows (one per image), got shape {tuple(index.shape)}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= b):
        raise ValueError(
            f"{name} must lie in [0, {b}), got min {int(index.min())} and max {int(index.max())}"
        )
    return index


def _lam(lam: Tensor | float, x: Tensor, name: str = "lam") -> Tensor:
    t = torch.as_tensor(lam, dtype=torch.float32).to(x.device)
    t = t.expand(x.shape[0]) if t.ndim == 0 else t
    if tuple(t.shape) != (x.shape[0],):
        raise ValueError(f"{name} must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
    if bool(((t < 0) | (t > 1) | torch.isnan(t)).any()):
        raise ValueError(f"{name} must lie in [0, 1], got {t.min().item()} .. {t.max().item()}")
    return t


def quantize_lambda(lam: Tensor) -> Tensor:
    """The weight the uint8 path of :func:`mix_blend` really uses: ``round(256 lam) / 256``."""
    return torch.round(lam * 256.0) / 256.0


def mix_blend(x: Tensor, index: Tensor, lam: Tensor | float) -> Tensor:
    """``lam * x + (1 - lam) * x[index]``, ``lam`` scalar or ``(B,)`` in [0, 1]; dtype kept."""
    check_image(x)
    index, lam = _index(index, x), _lam(lam, x)
    partner = x.index_select(0, index)
    if x.dtype == torch.uint8:
        w = torch.round(lam * 256.0).to(torch.int16).view(-1, 1, 1, 1)  # exact 8.8 fixed point
        a = x.to(torch.int16)
        d = partner.to(torch.int16).sub_(a).mul_(256 - w)  # (x2 - x) * (1 - lam), |.| < 2^16 / 2
        return a.bitwise_left_shift_(8).add_(d).add_(128).bitwise_right_shift_(8).to(torch.uint8)
    return partner.lerp_(x, lam.to(x.dtype).view(-1, 1, 1, 1))  # exact at lam = 0 and 1


def box_mask(boxes: Tensor, h: int, w: int) -> Tensor:
    """``(B, 4)`` boxes ``(top, left, height, width)`` (clipped by the image) -> ``(B, 1, H, W)`` bool."""
    if not isinstance(boxes, Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (B, 4) (top, left, height, width), got {boxes!r:.60}")
    bx = boxes.to(torch.int64)
    ar_h = torch.arange(h, device=boxes.device)
    ar_w = torch.arange(w, device=boxes.device)
    rows = (ar_h >= bx[:, :1]) & (ar_h < bx[:, :1] + bx[:, 2:3])  # (B, H)
    cols = (ar_w >= bx[:, 1:2]) & (ar_w < bx[:, 1:2] + bx[:, 3:4])  # (B, W)
    return (rows[:, None, :, None] & cols[:, None, None, :]).contiguous()


def _box_words(boxes: Tensor, x: Tensor) -> Tensor | None:
    """Per-image box masks as 64-bit words ``(B, 1, H, W * esize / 8)`` (all bits set inside).

    The mask of a box is the outer product of a row mask and a column mask; building it
    on 8-byte words instead of pixels makes the outer product and the select 8 (uint8) or
    2 (float32) times smaller.  None when a pixel row is not a whole number of words.
    """
    b, _, h, w = x.shape
    es = x.element_size()
    if (w * es) % 8 or not x.is_contiguous():
        return None
    bx = boxes.to(device=x.device, dtype=torch.int64)
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = ((ar_h >= bx[:, :1]) & (ar_h < bx[:, :1] + bx[:, 2:3])).to(torch.int64).neg_()  # 0 / -1
    cols = _select_words((ar_w >= bx[:, 1:2]) & (ar_w < bx[:, 1:2] + bx[:, 3:4]), x)  # (B, words)
    return (rows[:, :, None] & cols[:, None, :])[:, None]


def paste_boxes(x: Tensor, index: Tensor, boxes: Tensor) -> Tensor:
    """CutMix: inside each image's box, pixels of ``x[index]``; outside, ``x``.  Exact copy."""
    check_image(x)
    index = _index(index, x)
    if not isinstance(boxes, Tensor) or tuple(boxes.shape) != (x.shape[0], 4):
        raise ValueError(f"boxes must have shape ({x.shape[0]}, 4), got {getattr(boxes, 'shape', boxes)!r}")
    partner = x.index_select(0, index)
    words = _box_words(boxes, x)
    if words is None:
        return torch.where(box_mask(boxes.to(x.device), x.shape[-2], x.shape[-1]), partner, x)
    b, c, h, _ = x.shape
    aw = x.view(torch.uint8).view(b, c, h, -1).view(torch.int64)
    bw = partner.view(torch.uint8).view(b, c, h, -1).view(torch.int64)
    bw.bitwise_xor_(aw).bitwise_and_(words).bitwise_xor_(aw)  # ((a ^ b) & m) ^ a = where(m, b, a)
    return partner


def quad_tile(x: Tensor, split: Tensor, index: Tensor, offset: Tensor) -> Tensor:
    """2x2 tiling: quadrant ``q`` (0 TL, 1 TR, 2 BL, 3 BR) of image ``b`` shows ``x[index[b, q]]``.

    ``split`` ``(B, 2)`` int: the row/column where the bottom/right quadrants start (0..H, 0..W).
    ``offset`` ``(B, 4, 2)`` int: output pixel ``(i, j)`` of quadrant ``q`` reads source pixel
    ``(i + offset[b, q, 0], j + offset[b, q, 1])``; every such source pixel must lie inside
    the image (the samplers guarantee it; out-of-range offsets raise).
    """
    check_image(x)
    b, c, h, w = x.shape
    index = _index(index, x)
    if tuple(index.shape) != (b, 4) or tuple(split.shape) != (b, 2) or tuple(offset.shape) != (b, 4, 2):
        raise ValueError(
            f"quad_tile needs index (B, 4), split (B, 2), offset (B, 4, 2) for B={b}, got "
            f"{tuple(index.shape)}, {tuple(split.shape)}, {tuple(offset.shape)}"
        )
    split, offset = split.to(x.device, torch.int64), offset.to(x.device, torch.int64)
    sh, sw = split[:, :1], split[:, 1:]
    zero = torch.zeros_like(sh)
    r0, r1 = torch.cat([zero, zero, sh, sh], 1), torch.cat([sh, sh, zero + h, zero + h], 1)
    c0, c1 = torch.cat([zero, sw, zero, sw], 1), torch.cat([sw, zero + w, sw, zero + w], 1)
    nonempty = (r1 > r0) & (c1 > c0)
    oy, ox = offset[..., 0], offset[..., 1]
    bad = nonempty & ((r0 + oy < 0) | (r1 - 1 + oy >= h) | (c0 + ox < 0) | (c1 - 1 + ox >= w))
    if bool(bad.any()):
        raise ValueError("quad_tile: offset points outside the source image for some pixel")
    # Separable gather.  Row i of image b is [left window | right window]: for each column
    # half k the output row reads W consecutive source elements starting at a per-(b, c, i, k)
    # flat offset, so both halves are one ``index_select`` of overlapping W-long windows of
    # the (padded) flat batch -- a row memcpy each, no per-pixel index -- followed by a
    # per-column select of the two halves.
    n = x.numel()
    flat = x.new_empty(n + 2 * w)  # W elements of slack on both sides keep every window in range
    flat[w : w + n].copy_(x.reshape(-1))
    windows = flat.as_strided((n + w + 1, w), (1, 1))
    base = index * (c * h * w) + oy * w + ox + w  # (B, 4) window start of output row 0
    rows = torch.arange(h, device=x.device)
    top = (rows < sh).unsqueeze(2)  # (B, H, 1)
    start = torch.where(top, base[:, None, :2], base[:, None, 2:]).add_((rows * w).view(1, h, 1))
    start = start.unsqueeze(1) + (torch.arange(c, device=x.device) * (h * w)).view(1, c, 1, 1)
    start = start.view(-1, 2)
    left = windows.index_select(0, start[:, 0]).view(b, c, h, w)
    right = windows.index_select(0, start[:, 1]).view(b, c, h, w)
    is_left = torch.arange(w, device=x.device).view(1, w) < sw  # (B, W)
    words = _select_words(is_left, x)  # (B, words), all bits set where left
    if words is None:
        return torch.where(is_left.view(b, 1, 1, w), left, right)
    lw, rw = (t.view(torch.uint8).view(torch.int64) for t in (left, right))
    lw.bitwise_xor_(rw).bitwise_and_(words.view(b, 1, 1, -1)).bitwise_xor_(rw)  # where(m, left, right)
    return left


def _select_words(cols: Tensor, x: Tensor) -> Tensor | None:
    """``(B, W)`` bool column masks -> ``(B, W * esize / 8)`` int64 words (all bits set where True)."""
    b, w = cols.shape
    es = x.element_size()
    if (w * es) % 8:
        return None
    m = cols.to(torch.uint8).mul_(255)
    return m[:, :, None].expand(b, w, es).contiguous().view(b, w * es).view(torch.int64)


def bc_plus(x: Tensor, index: Tensor, r: Tensor | float) -> Tensor:
    """BC+ mixing of ``x`` with ``x[index]`` at ratio ``r`` (per image); returns float32."""
    check_image(x)
    index, r = _index(index, x), _lam(r, x, "r")
    xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    mu = xf.mean(dim=(1, 2, 3))
    sd = xf.std(dim=(1, 2, 3), correction=0).clamp(min=1e-8)
    s1, s2 = sd, sd[index]
    # p = 1 / (1 + s1/s2 * (1-r)/r), written so that r = 0 gives p = 0 and r = 1 gives p = 1
    p = r * s2 / (r * s2 + (1 - r) * s1)
    norm = torch.sqrt(p * p + (1 - p) * (1 - p))
    z = xf - mu.view(-1, 1, 1, 1)
    mix = (p.view(-1, 1, 1, 1) * z + (1 - p).view(-1, 1, 1, 1) * z[index]) / norm.view(-1, 1, 1, 1)
    return mix + (r * mu + (1 - r) * mu[index]).view(-1, 1, 1, 1)
