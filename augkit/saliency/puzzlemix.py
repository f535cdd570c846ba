"""PuzzleMix (Kim, Choo & Song, "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal
Mixup", ICML 2020), batched; read against the official code (snu-mllab/PuzzleMix, ``mixup.py``).

Steps, for image ``x1 = x[i]`` and partner ``x2 = x[index[i]]`` on an ``n x n`` block grid:

1. Saliency (``maps.input_gradient_saliency``) average-pooled to the grid and normalised to sum
   1 per image: ``s1``, ``s2``.
2. Labelling: each block takes a mask value ``m in {0, 1/(L-1), .., 1}`` (share of ``x1``; the
   official default ``L = 3`` labels).  Energy (paper eq. 3, official scaling):
   ``U_p(m) = m * (s2_p + d1_p) + (1 - m) * (s1_p + d2_p) - eta / n^2 * log Binom(m (L-1); L-1, lam)``
   (showing one image costs the saliency of the other one it hides; the label prior is
   the binomial of the official code, Bernoulli(lam) for two labels), plus
   ``(beta' + beta' gamma w_pq) (m_p - m_q)^2`` on neighbouring blocks with ``beta' = beta / n / 16``.
   ``w_pq`` and ``d`` come from the data-smoothness term: the mean absolute difference across
   the block border of the two contents, on images average-pooled by ``neigh`` pixels, split
   into a pairwise and two unary parts exactly as the official code does.  Minimised by the
   alpha-beta swap (:mod:`.graphcut`, exact for two labels, as ``gco``'s swap).
3. Transport (paper eq. 5): blocks of each image move to maximise the saliency it exposes under
   its mask minus ``t_eps`` times the squared move distance (normalised by ``(n - 1)^2``).  Solved,
   as the official code does, by ``n`` rounds of "each block bids for its cheapest position,
   each position keeps its cheapest bidder, losers pay 1 more for that position".
4. ``ratio = mean(mask)`` per image; targets ``ratio t1 + (1 - ratio) t2``.

Choices and departures (all stated): ``lam ~ Beta(alpha, alpha)`` per image (official: one per
batch; per image costs nothing here since the solve is batched); the grid size is drawn per
batch from the divisors of the image side nearest to the official ``{2, 4, 8, 16}`` (28 px:
``{2, 4, 7, 14}``); ``neigh`` is lowered to the largest divisor of the block size; a negative
total edge weight (possible when the data term favours a label change) is clamped to 0 so the
cut stays exact; after the transport rounds a position no block won keeps its own block (the
official code leaves it black), and an image whose transport would lower its exposed saliency
(possible after the loser penalties) keeps its blocks in place.  Not offered: the optional
adversarial input noise (``adv_p``, off by default officially) and the clean-input loss
(``clean_lam``, 0 by default in the official ``main.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops._common import finish
from .graphcut import swap_labelling

__all__ = [
    "block_candidates",
    "exposed_saliency",
    "label_energy_terms",
    "puzzle_mask",
    "puzzlemix",
    "transport",
    "transport_plan",
]


def block_candidates(height: int, width: int) -> list[int]:
    """Grid sizes: for each official size in (2, 4, 8, 16) the nearest divisor of both sides."""
    g = math.gcd(height, width)
    divs = [d for d in range(2, g + 1) if g % d == 0]
    if not divs:
        raise ValueError(f"image sides {height}x{width} have no common divisor >= 2 for a block grid")
    out: list[int] = []
    for t in (2, 4, 8, 16):
        d = min(divs, key=lambda d: (abs(d - t), d))
        if d not in out:
            out.append(d)
    return out


def _pool01(x: Tensor, k: int) -> Tensor:
    xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return F.avg_pool2d(xf, k)


def _border_diffs(p1: Tensor, p2: Tensor, n: int, k: int) -> tuple[Tensor, Tensor]:
    """D[a][b] across vertical (B, 2, 2, n-1, n) and horizontal (B, 2, 2, n, n-1) block borders.

    Index 0 = partner content, 1 = own content; ``a`` is the upper/left block's content.
    """
    pics = (p2, p1)
    dv, dh = [], []
    for a in pics:
        rv, rh = [], []
        for b in pics:
            top, bot = a[:, :, k - 1 : (n - 1) * k : k, :], b[:, :, k : n * k : k, :]
            d = (top - bot).abs().mean(1)  # (B, n-1, n*k)
            rv.append(d.reshape(d.shape[0], n - 1, n, k).mean(-1))
            lef, rig = a[:, :, :, k - 1 : (n - 1) * k : k], b[:, :, :, k : n * k : k]
            d = (lef - rig).abs().mean(1)  # (B, n*k, n-1)
            rh.append(d.reshape(d.shape[0], n, k, n - 1).mean(2))
        dv.append(torch.stack(rv, 1))
        dh.append(torch.stack(rh, 1))
    return torch.stack(dv, 1), torch.stack(dh, 1)


def label_energy_terms(
    x: Tensor,
    sal: Tensor,
    index: Tensor,
    lam: Tensor,
    n: int,
    *,
    beta: float = 1.2,
    gamma: float = 0.5,
    eta: float = 0.2,
    neigh: int = 4,
    n_labels: int = 3,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Unary ``(B, n, n, L)``, edge weights ``(B, n, n-1)`` / ``(B, n-1, n)``, label values."""
    b, _, h, w = x.shape
    if h % n or w % n:
        raise ValueError(f"block grid n={n} must divide the image sides {h}x{w}")
    bs = h // n
    s1 = F.adaptive_avg_pool2d(sal.float().unsqueeze(1), n).squeeze(1)
    s1 = s1 / s1.flatten(1).sum(1).clamp(min=1e-12).view(-1, 1, 1)
    s2 = s1[index]
    nb = max(d for d in range(1, min(neigh, bs) + 1) if bs % d == 0)
    p1 = _pool01(x, nb)
    dv, dh = _border_diffs(p1, p1[index], n, bs // nb)
    bprime = beta / n / 16.0
    dv, dh = bprime * gamma * dv, bprime * gamma * dh
    cost = torch.stack([s1.clone(), s2.clone()], 1)  # [showing partner, showing self] per block
    for a in (0, 1):  # reparametrise D[a][b] into unary parts + one pairwise weight
        cost[:, a, :-1, :] += (dv[:, a, 0] + dv[:, a, 1]) / 2
        cost[:, a, 1:, :] += (dv[:, 0, a] + dv[:, 1, a]) / 2
        cost[:, a, :, :-1] += (dh[:, a, 0] + dh[:, a, 1]) / 2
        cost[:, a, :, 1:] += (dh[:, 0, a] + dh[:, 1, a]) / 2
    wv = (bprime + (dv[:, 1, 0] + dv[:, 0, 1] - dv[:, 0, 0] - dv[:, 1, 1]) / 2).clamp(min=0)
    wh = (bprime + (dh[:, 1, 0] + dh[:, 0, 1] - dh[:, 0, 0] - dh[:, 1, 1]) / 2).clamp(min=0)
    values = torch.linspace(0, 1, n_labels, device=x.device)
    lam = lam.to(x.device).float().view(-1, 1)
    ks = torch.arange(n_labels, device=x.device, dtype=torch.float32).view(1, -1)
    logc = torch.lgamma(torch.tensor(float(n_labels))) - torch.lgamma(ks + 1) - torch.lgamma(n_labels - ks)
    pmf = torch.exp(logc) * lam**ks * (1 - lam) ** (n_labels - 1 - ks)
    prior = -eta / n**2 * torch.log(pmf + 1e-8)  # (B, L)
    m = values.view(1, 1, 1, -1)
    unary = m * cost[:, 1, :, :, None] + (1 - m) * cost[:, 0, :, :, None] + prior.view(b, 1, 1, -1)
    return unary, wh, wv, values


def puzzle_mask(x: Tensor, sal: Tensor, index: Tensor, lam: Tensor, n: int, **kw) -> Tensor:
    """Optimal block mask ``(B, n, n)`` (share of ``x[i]``) from the labelling energy."""
    unary, wh, wv, values = label_energy_terms(x, sal, index, lam, n, **kw)
    lab = swap_labelling(
        unary.detach().cpu().double().numpy(),
        wh.detach().cpu().double().numpy(),
        wv.detach().cpu().double().numpy(),
        values.cpu().double().numpy(),
    )
    return values[torch.from_numpy(lab).to(x.device)]


def _cost_matrix(n: int, device) -> Tensor:
    r = torch.arange(n * n, device=device)
    i, j = (r // n).float(), (r % n).float()
    c = (i.view(-1, 1) - i.view(1, -1)) ** 2 + (j.view(-1, 1) - j.view(1, -1)) ** 2
    return c / max(1, n - 1) ** 2


def transport_plan(exposed: Tensor, sal_block: Tensor, eps: float = 0.8, rounds: int | None = None) -> Tensor:
    """For each position the block that moves there: ``(B, n*n)`` source indices.

    ``exposed`` (B, n, n) bool: positions where the image shows; ``sal_block`` (B, n, n) >= 0.
    """
    b, n, _ = exposed.shape
    s = sal_block.float().reshape(b, -1)
    z = exposed.float().reshape(b, -1)
    cost = eps * _cost_matrix(n, s.device).unsqueeze(0) - s.unsqueeze(2) * z.unsqueeze(1)
    nn2 = n * n
    blocks = torch.arange(nn2, device=s.device).expand(b, -1)
    for _ in range(rounds if rounds is not None else n):
        dest = cost.argmin(-1)  # block i bids for its cheapest position
        bid = cost.gather(-1, dest.unsqueeze(-1)).squeeze(-1)
        inf = torch.full((b, nn2), math.inf, device=s.device)
        best = inf.scatter_reduce(1, dest, bid, "amin")  # each position keeps its cheapest bidder
        cand = bid == best.gather(1, dest)
        first = torch.full((b, nn2), nn2, device=s.device).scatter_reduce(
            1, dest, torch.where(cand, blocks, nn2), "amin"
        )  # ties: the lowest block index wins
        win = cand & (blocks == first.gather(1, dest))
        cost.scatter_add_(-1, dest.unsqueeze(-1), (~win).float().unsqueeze(-1))  # losers pay 1
    ident = blocks
    src = torch.cat([ident, ident[:, :1]], 1).scatter(1, torch.where(win, dest, nn2), blocks)[:, :nn2]
    old = exposed_saliency(ident, s, z)
    new = exposed_saliency(src, s, z)
    return torch.where((new >= old).unsqueeze(1), src, ident)


def exposed_saliency(src: Tensor, s: Tensor, z: Tensor) -> Tensor:
    """``sum_j z_j s[src_j]`` per image (flattened grids)."""
    return (torch.gather(s, 1, src) * z).sum(1)


def transport(x: Tensor, src: Tensor, n: int) -> Tensor:
    """Rearrange the ``n x n`` blocks of ``x``: position ``j`` gets block ``src[:, j]``."""
    b, c, h, w = x.shape
    bh, bw = h // n, w // n
    blocks = x.reshape(b, c, n, bh, n, bw).permute(0, 2, 4, 1, 3, 5).reshape(b, n * n, c, bh, bw)
    idx = src.view(b, n * n, 1, 1, 1).expand(-1, -1, c, bh, bw)
    out = torch.gather(blocks, 1, idx)
    return out.reshape(b, n, n, c, bh, bw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def puzzlemix(
    x: Tensor,
    sal: Tensor,
    index: Tensor,
    lam: Tensor,
    n: int,
    *,
    do_transport: bool = True,
    t_eps: float = 0.8,
    **kw,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixed images (dtype of ``x``), ``ratio`` (B,) = share of ``x[i]``, and the block mask (B, n, n)."""
    mask = puzzle_mask(x, sal, index, lam, n, **kw)
    x1, x2 = x, x[index]
    if do_transport:
        s = F.adaptive_avg_pool2d(sal.float().unsqueeze(1), n).squeeze(1)
        s = s / s.flatten(1).sum(1).clamp(min=1e-12).view(-1, 1, 1)
        x1 = transport(x1, transport_plan(mask > 0, s, t_eps), n)
        x2 = transport(x2, transport_plan(mask < 1, s[index], t_eps), n)
    h, w = x.shape[-2:]
    m = mask.repeat_interleave(h // n, 1).repeat_interleave(w // n, 2).unsqueeze(1)
    work = x.dtype if x.dtype.is_floating_point else torch.float32
    mixed = m * x1.to(work) + (1 - m) * x2.to(work)
    return finish(mixed, x, clamp=False), mask.flatten(1).mean(1), mask
