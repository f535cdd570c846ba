"""Co-Mixup, simplified (``comixup-simplified``): Kim, Choo, Jeong & Song, "Co-Mixup:
Saliency Guided Joint Mixup with Supermodular Diversity", ICLR 2021; read against the official
code (snu-mllab/Co-Mixup, ``match.py`` / ``mixup.py``).

The batch is split into groups of ``m`` inputs (official ``m_part = 20``); each group's ``m``
outputs are labelled jointly: every block of output ``j`` takes one input ``k`` (one-hot
``z_j``).  Objective per group (paper eq. 2, official scaling by the number of blocks ``n^2``):
``sum_j <c, z_j>`` with ``c_k = -s_k - eta log a_k`` (``s_k`` the block-pooled input-gradient
saliency normalised to sum 1, ``a ~ Dirichlet(alpha)`` per group: the label prior), plus
``beta`` times the Potts smoothness of each output, plus ``gamma`` times the supermodular
diversity term ``sum_{j != j'} (Z_j 1)^T A (Z_{j'} 1)`` (inputs used in several outputs are
penalised).  Solved as the paper does by block-coordinate descent over the outputs, each step
replacing the diversity term by its modular approximation given the other outputs (with the
official hard threshold: only input counts above ``thres n^2`` are penalised).  Labels are the
area fractions of the inputs in each output (the official training call of ``mix_input``).

What differs from the paper / official code (hence the ``-simplified`` name):

1. Each output's subproblem (a multi-label Potts energy) is minimised by ``sweeps`` rounds of
   checkerboard ICM (iterated conditional modes; every update is an exact per-block minimum
   given its neighbours, so the energy never increases) instead of the alpha-beta swap
   graph cut of ``gco``: a local, not a swap-optimal, minimum.
2. No extra "mixed" labels (the official solver adds labels that blend 2 or 3 inputs 50/50
   from the second iteration on): every block comes from exactly one input.
3. No ``resolve_label`` post-processing that breaks up identical outputs.
4. The compatibility matrix ``A`` is the identity (official ``A = (1 - omega) I + omega A_dist``
   with ``omega = 1e-3``, i.e. almost the identity).
5. The loop over the ``m`` output slots (and ``iters`` outer rounds) is sequential, as in the
   paper, but every group of the batch is solved at once; the last group is padded with
   inputs that can never be chosen, so any batch size works.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..sample import dirichlet, permutation, rand

__all__ = ["comixup", "comixup_objective", "icm_potts"]

_BIG = 1e4


def _neighbour_counts(onehot: Tensor) -> Tensor:
    """For each block and label, how many of its 4 neighbours carry that label: (..., L, n, n)."""
    p = F.pad(onehot, (1, 1, 1, 1))
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def icm_potts(unary: Tensor, labels: Tensor, beta: float, sweeps: int) -> Tensor:
    """Checkerboard ICM for ``sum U_p(l_p) + beta sum_{p~q} [l_p != l_q]``; unary (G, L, n, n)."""
    g, n_lab, n, _ = unary.shape
    rows = torch.arange(n, device=unary.device)
    colour = (rows.view(-1, 1) + rows.view(1, -1)) % 2
    deg = _neighbour_counts(torch.ones(1, 1, n, n, device=unary.device))[0, 0]
    for _ in range(sweeps):
        for c in (0, 1):
            nb = _neighbour_counts(F.one_hot(labels, n_lab).permute(0, 3, 1, 2).float())
            best = (unary + beta * (deg - nb)).argmin(1)
            labels = torch.where(colour == c, best, labels)
    return labels


def comixup_objective(cost: Tensor, labels: Tensor, beta: float, gamma: float) -> Tensor:
    """Per-group objective (no threshold) for labels (G, m_out, n, n) and cost (G, m_in, n, n)."""
    m_in = cost.shape[1]
    z = F.one_hot(labels, m_in).float()  # (G, m_out, n, n, m_in)
    unary = (z * cost.permute(0, 2, 3, 1).unsqueeze(1)).sum((1, 2, 3, 4))
    smooth = (labels[..., 1:, :] != labels[..., :-1, :]).sum((1, 2, 3))
    smooth = smooth + (labels[..., :, 1:] != labels[..., :, :-1]).sum((1, 2, 3))
    cnt = z.sum((2, 3))  # (G, m_out, m_in)
    div = (cnt.sum(1) ** 2).sum(1) - (cnt**2).sum((1, 2))
    return unary + beta * smooth.float() + gamma * div


def comixup(
    x: Tensor,
    targets: Tensor,
    sal: Tensor,
    n: int,
    generator: torch.Generator,
    *,
    m_part: int = 20,
    alpha: float = 2.0,
    beta: float = 0.32,
    gamma: float = 1.0,
    eta: float = 0.05,
    thres: float = 0.83,
    iters: int = 3,
    sweeps: int = 2,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixed images, soft targets (B, K) and block labels (B, n, n) as batch indices."""
    b, c, h, w = x.shape
    if h % n or w % n:
        raise ValueError(f"block grid n={n} must divide the image sides {h}x{w}")
    dev = x.device
    m = max(2, min(int(m_part), b))
    groups = math.ceil(b / m)
    perm = permutation(b, generator, dev)
    slot = torch.full((groups * m,), -1, dtype=torch.long, device=dev)
    slot[:b] = perm
    slot = slot.view(groups, m)  # batch index of each group member, -1 = padding
    valid = slot >= 0
    s = F.adaptive_avg_pool2d(sal.float().unsqueeze(1), n).squeeze(1)
    s = s / s.flatten(1).sum(1).clamp(min=1e-12).view(-1, 1, 1)
    a = dirichlet((groups,), m, alpha, generator, dev)
    nb2 = float(n * n)
    cost = -s[slot.clamp(min=0)] - eta / nb2 * torch.log(a + 1e-8).view(groups, m, 1, 1)
    cost = torch.where(valid.view(groups, m, 1, 1), cost, torch.full_like(cost, _BIG))
    count = valid.sum(1).view(groups, 1, 1, 1).float()
    labels = (rand((groups, m, n, n), generator, dev) * count).long().clamp(max=m - 1)
    labels = torch.minimum(labels, count.long() - 1)
    beta_s, gamma_s, thres_s = beta / nb2, gamma / nb2, thres * nb2
    cnt = F.one_hot(labels, m).float().sum((2, 3)) * valid.unsqueeze(-1)  # (G, m_out, m_in)
    for _ in range(iters):
        for j in range(m):
            others = cnt.sum(1) - cnt[:, j]
            modular = 2 * gamma_s * (others > thres_s).float() * others
            new = icm_potts(cost + modular.view(groups, m, 1, 1), labels[:, j], beta_s, sweeps)
            labels[:, j] = new
            cnt[:, j] = F.one_hot(new, m).float().sum((1, 2)) * valid[:, j : j + 1]
    # outputs back into batch order: output j of group g replaces input slot[g, j]
    flat_labels = torch.gather(slot, 1, labels.view(groups, -1)).view(groups, m, n, n)
    out_pos = slot[valid]
    block_src = flat_labels[valid]  # (B, n, n) batch index of each block's input
    order = torch.argsort(out_pos)
    block_src = block_src[order]
    pix = block_src.repeat_interleave(h // n, 1).repeat_interleave(w // n, 2)  # (B, H, W)
    hw = torch.arange(h * w, device=dev).view(1, -1)
    mixed = x.reshape(b, c, h * w)[pix.view(b, -1), :, hw].permute(0, 2, 1).reshape(b, c, h, w)
    share = F.one_hot(block_src.flatten(1), b).float().mean(1)  # (B, B) area fractions
    return mixed, share @ targets.float(), block_src
