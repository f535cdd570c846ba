"""Region masks for saliency-guided cut-and-paste: a box around a saliency peak, top-k grid cells.

Convention shared by every method here: the output image ``i`` is ``x[i]`` with the region
``mask[i]`` taken from its partner ``x[index[i]]`` (the *source*), pasted at the same location;
``lam[i] = 1 - |mask[i]| / (H W)`` is the share of ``x[i]`` that remains, recomputed from the
true pasted area (Yun et al., CutMix, ICCV 2019), so the target is
``lam * t[i] + (1 - lam) * t[index[i]]``.

- :func:`peak_box_mask` — SaliencyMix (Uddin et al., ICLR 2021): a box of side
  ``sqrt(1 - lam)`` times the image side centred on the source's saliency peak (first argmax in
  row-major order on ties), clipped at the borders (the official code's ``np.clip``); the box
  starts at ``centre - side // 2`` and is ``side`` pixels long before clipping.
- :func:`topk_grid_mask` — Attentive CutMix (Walawalkar et al., ICASSP 2020): the image is cut
  into a ``g x g`` grid (cell ``r`` spans rows ``floor(r H / g) .. floor((r + 1) H / g) - 1``, so
  sizes that ``g`` does not divide still tile exactly) and the ``k`` cells with the largest
  attention are pasted (ties: ``torch.topk``'s order).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["paste", "peak", "peak_box_mask", "topk_grid_mask"]


def peak(sal: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column ``(B,)`` of each map's maximum (first in row-major order on ties)."""
    b, h, w = sal.shape
    flat = sal.reshape(b, -1).argmax(1)
    return flat // w, flat % w


def peak_box_mask(sal: Tensor, lam: Tensor) -> Tensor:
    """Boolean ``(B, 1, H, W)``: a box of area ``~(1 - lam) H W`` centred on each map's peak."""
    b, h, w = sal.shape
    cy, cx = peak(sal)
    cut = torch.sqrt((1.0 - lam.to(sal.device).float()).clamp(0.0, 1.0))
    ch, cw = (cut * h).long(), (cut * w).long()  # int() truncation, as the official code
    y1, x1 = cy - ch // 2, cx - cw // 2
    y2, x2 = (y1 + ch).clamp(0, h), (x1 + cw).clamp(0, w)
    y1, x1 = y1.clamp(0, h), x1.clamp(0, w)
    ys = torch.arange(h, device=sal.device).view(1, h, 1)
    xs = torch.arange(w, device=sal.device).view(1, 1, w)
    inside = (ys >= y1.view(-1, 1, 1)) & (ys < y2.view(-1, 1, 1))
    inside = inside & (xs >= x1.view(-1, 1, 1)) & (xs < x2.view(-1, 1, 1))
    return inside.unsqueeze(1)


def topk_grid_mask(att: Tensor, k: int, height: int, width: int) -> Tensor:
    """Boolean ``(B, 1, H, W)`` covering the ``k`` grid cells of ``att`` (B, g, g) with the largest values."""
    b, g, g2 = att.shape
    if g != g2:
        raise ValueError(f"att must be a square (B, g, g) grid, got {tuple(att.shape)}")
    if not isinstance(k, int) or not 0 <= k <= g * g:
        raise ValueError(f"k must be an int in [0, {g * g}] for a {g}x{g} grid, got {k!r}")
    top = att.reshape(b, -1).topk(k, dim=1).indices
    cells = torch.zeros(b, g * g, dtype=torch.bool, device=att.device).scatter_(1, top, True)
    rows = torch.arange(height, device=att.device) * g // height
    cols = torch.arange(width, device=att.device) * g // width
    pix = (rows.view(-1, 1) * g + cols.view(1, -1)).reshape(-1)
    return cells[:, pix].view(b, 1, height, width)


def paste(x: Tensor, index: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``x`` with ``mask`` taken from ``x[index]``; returns ``(mixed, lam)`` with lam the kept share."""
    mixed = torch.where(mask, x[index], x)
    lam = 1.0 - mask.float().mean(dim=(1, 2, 3))
    return mixed, lam
