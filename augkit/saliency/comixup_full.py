"""Co-Mixup (``comixup``): Kim, Choo, Jeong & Song, "Co-Mixup: Saliency Guided Joint Mixup with
Supermodular Diversity", ICLR 2021; read against the official code (snu-mllab/Co-Mixup,
``main.py`` / ``mixup.py`` / ``match.py``), which fixes the constants the paper leaves open.

The batch is cut into consecutive groups of ``m`` inputs (official ``m_part = 20``; the last
group is padded with inputs that can never be chosen, so any batch size works).  Each group
produces ``m`` outputs; output ``j`` is an ``n x n`` grid of blocks, block ``p`` carrying a
composition ``z_jp`` over the group's inputs (one-hot, or a 50/50 "mixed label" of two inputs).
Objective per group, with the official scaling by the number of blocks ``n^2``::

    E(z) = sum_j <c, z_j>                                   unary: saliency + label prior
         + beta/n^2 * sum_j sum_{p~q} 1/2 ||z_jp - z_jq||^2  smoothness
         + gamma/n^2 * sum_{j != j'} (Z_j 1)^T A (Z_j' 1)    supermodular diversity

with ``c_k(p) = -s_k(p) - eta/n^2 log a_k``: ``s_k`` the block-pooled input-gradient saliency of
input ``k`` normalised to sum 1, ``a ~ Dirichlet(alpha)`` per group (the label prior).  ``A`` is
the compatibility matrix ``(1 - omega) I + omega A_dist`` (official ``omega = 1e-3``) where
``A_dist`` holds the L1 distances between the inputs' most salient locations (argmax of the
saliency averaged over an 8x8 sliding window), rescaled to sum to ``m`` over the group.

Solver (paper Algorithm 1, "iterative submodular minimisation"): ``iters`` rounds over the
outputs in order; for output ``j`` the diversity term is replaced by its modular approximation
given the other outputs, ``2 gamma/n^2 [A r_j > thres n^2] A r_j`` with ``r_j`` the input counts
of the other outputs (the official hard threshold ``thres = 0.83``), and the resulting
multi-label energy of output ``j`` is minimised by alpha-beta swap graph cuts
(:func:`augkit.saliency.graphcut.swap_labelling_matrix`; ``gco``'s ``swap`` in the official
code).  From the second round on, the label set of output ``j`` gains mixed labels: if ``j``
currently uses 2 inputs, their 50/50 mix; if 3 or more, the three pairwise mixes of its three
most used inputs; a mixed label's unary is the mean of its inputs' unaries minus ``5e-4`` (the
official tie-break towards mixing).  Initial labelling: uniform random inputs per block (it
sets the first modular penalties, as in the official code); each swap solve starts from the
per-block unary minimum.  After round ``iters - 1`` (official ``niter - 2`` index), outputs
whose sets of used inputs coincide are broken up as the official ``resolve_label`` does: of
each coinciding pair (j < j'), ``j`` pays ``gamma/n^2`` per block for the smallest-index shared
input and ``j'`` for the second one, for the last round.  Rounds stop early when the
objective changes by less than 1e-6 relatively (official), except that the resolve step is
always applied (see departure 4).
Outputs are images ``sum_k z_jk x_k`` (block masks upsampled, nearest); targets are the area
fractions of each input in each output times its (soft) target, i.e. the official training
call of ``mix_input`` (no saliency weighting), so rows sum to 1.

Outputs updated one after another is the paper's own procedure (each step's modular
approximation needs the other outputs); every group of the batch is solved at once (one graph
per swap move for all groups), there is no Python loop over images.

Remaining departures from the official code, and why:

1. Pairwise cost of the swap solve: ``V(l, l') = 1/2 ||e_l - e_l'||^2`` over label
   compositions, i.e. exactly the smoothness term of the objective above (official
   ``obj_fn``).  ``gco`` in the official code uses 1 between any two different labels except
   0.25 between a mixed label and its own inputs; so a pure label vs a mix of two others costs
   0.75 here (1 there) and two mixes sharing an input cost 0.25 here (1 there).  The swap
   solves thus minimise the smoothness term as the official objective ``obj_fn`` evaluates
   it, instead of the solver-side approximation of it.
2. The saliency pass is :func:`augkit.saliency.maps.input_gradient_saliency` (eval mode, loss
   summed); the official default ``clean_lam = 1`` takes it in train mode from a clean-input
   loss whose parameter gradient is also added to the step -- a training-loop regulariser that
   is not part of the mixing method and is not done here.
3. If all salient locations of a group coincide (``A_dist`` sums to 0) ``A = I`` (the official
   rescaling divides by zero there).
4. Early stopping vs the resolve step: the official loop computes the resolve cost only at
   round ``niter - 2`` and stops as soon as the objective stalls, so when the solve converges
   earlier (common: identical outputs are often a fixed point) the step never acts.  Here a
   stall before that round triggers the resolve step at once and one last round with its
   cost, so identical outputs are broken up whenever the step finds any.
5. Swap solves run on the CPU in float64 (SciPy max-flow, see :mod:`augkit.saliency.graphcut`);
   ``cycles`` bounds the number of swap cycles (``gco`` runs until no move helps; the early
   stop here does the same unless the bound is hit).  Cost: about 2 s per batch of 128
   (28 px, 4x4 blocks, one CPU thread) against 0.03 s for ``comixup-simplified``; the time is
   SciPy's per-call overhead of a few thousand small max-flow calls (``gco`` is C++).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..sample import dirichlet, rand
from .graphcut import swap_labelling_matrix

__all__ = ["comixup_energy", "comixup_full", "comixup_labels", "compatibility", "resolve_cost"]

_BIG = 1e4  # unary of a label that can never be chosen (padding inputs, unused mixed labels)
_MIX_BONUS = 5e-4  # official tie-break: a mixed label is slightly cheaper than its mean
_WINDOW = 8  # official window for the most salient location (CIFAR, 32 px)


def compatibility(sal: Tensor, slot: Tensor, omega: float) -> Tensor:
    """``A = (1 - omega) I + omega A_dist`` per group, (G, m, m); ``slot`` (G, m), -1 = padding."""
    k = min(_WINDOW, sal.shape[-2], sal.shape[-1])
    z = F.avg_pool2d(sal.float().unsqueeze(1), k, stride=1).squeeze(1)
    idx = z.flatten(1).argmax(1)
    pos = torch.stack([idx // z.shape[-1], idx % z.shape[-1]], 1).float()[slot.clamp(min=0)]
    valid = slot >= 0
    both = (valid.unsqueeze(2) & valid.unsqueeze(1)).float()
    dist = (pos.unsqueeze(2) - pos.unsqueeze(1)).abs().sum(-1) * both
    tot = dist.sum((1, 2), keepdim=True)
    dist = torch.where(tot > 0, dist / tot.clamp(min=1e-12) * valid.sum(1).view(-1, 1, 1), 0.0)
    eye = torch.eye(slot.shape[1], device=sal.device).expand_as(dist)
    return (1 - omega) * eye + omega * dist


def comixup_energy(cost: Tensor, z: Tensor, A: Tensor, beta: float, gamma: float) -> Tensor:
    """Objective per group (no threshold) for compositions ``z`` (G, m_out, n, n, m_in)."""
    n2 = z.shape[2] * z.shape[3]
    unary = (z * cost.permute(0, 2, 3, 1).unsqueeze(1)).sum((1, 2, 3, 4))
    smooth = (z[:, :, 1:] - z[:, :, :-1]).pow(2).sum((1, 2, 3, 4))
    smooth = smooth + (z[:, :, :, 1:] - z[:, :, :, :-1]).pow(2).sum((1, 2, 3, 4))
    cnt = z.sum((2, 3))  # (G, m_out, m_in)
    tot = cnt.sum(1)
    div = torch.einsum("gk,gkl,gl->g", tot, A, tot) - torch.einsum("gjk,gkl,gjl->g", cnt, A, cnt)
    return unary + beta / n2 / 2 * smooth + gamma / n2 * div


def resolve_cost(used: Tensor) -> Tensor:
    """Official ``resolve_label``: extra per-input cost (G, m_out, m_in) from ``used`` (bool)."""
    g, m_out, m_in = used.shape
    same = (used.unsqueeze(2) == used.unsqueeze(1)).all(-1)
    same = torch.triu(same, diagonal=1) & (used.sum(-1) > 1).view(g, m_out, 1)
    order = torch.argsort((~used).to(torch.int8), dim=-1, stable=True)  # used inputs first, by index
    first = F.one_hot(order[..., 0], m_in).bool()
    second = F.one_hot(order[..., 1 % m_in], m_in).bool()
    add = first & same.any(2, keepdim=True)  # j is the earlier output of a coinciding pair
    add = add | (second & same.any(1).unsqueeze(-1))  # j is the later one
    return add.float()


def _label_set(count: Tensor, mixed: bool) -> tuple[Tensor, Tensor]:
    """Compositions (G, L, m) of the label set and which extra (mixed) labels are enabled (G, 3)."""
    g, m = count.shape
    eye = torch.eye(m, device=count.device).expand(g, m, m)
    if not mixed:
        return eye, torch.zeros(g, 0, dtype=torch.bool, device=count.device)
    n_used = (count > 1e-9).sum(1)
    top = torch.argsort(-count, dim=1, stable=True)[:, :3]
    k2 = torch.sort(top[:, :2], 1).values  # exactly two used inputs
    k3 = torch.sort(top, 1).values
    pair_idx = torch.tensor([[0, 1], [0, 2], [1, 2]], device=count.device)
    two = torch.stack([k2, k2, k2], 1)  # (G, 3, 2)
    three = k3[:, pair_idx]  # (G, 3, 2)
    pairs = torch.where((n_used >= 3).view(g, 1, 1), three, two)
    enabled = (n_used >= 3).view(g, 1) | (
        (n_used == 2).view(g, 1) & (torch.arange(3, device=count.device) == 0)
    )
    extra = 0.5 * (F.one_hot(pairs[..., 0], m) + F.one_hot(pairs[..., 1], m)).float()
    return torch.cat([eye, extra], 1), enabled


def _solve_output(cost: Tensor, count: Tensor, mixed: bool, beta_s: float, cycles: int) -> Tensor:
    """Swap-optimal composition (G, n, n, m) of one output for unaries ``cost`` (G, m, n, n)."""
    g, m, n, _ = cost.shape
    comp, enabled = _label_set(count, mixed)  # (G, L, m), (G, L - m)
    unary = torch.einsum("gkhw,glk->ghwl", cost.double(), comp.double())
    extra = torch.where(enabled, -_MIX_BONUS, _BIG).double()
    unary[..., m:] += extra.view(g, 1, 1, -1)
    diff = comp.unsqueeze(2) - comp.unsqueeze(1)
    pairwise = 0.5 * diff.pow(2).sum(-1).double()
    wh = np.full((g, n, n - 1), beta_s)
    wv = np.full((g, n - 1, n), beta_s)
    lab = swap_labelling_matrix(unary.cpu().numpy(), wh, wv, pairwise.cpu().numpy(), cycles=cycles)
    lab = torch.from_numpy(lab).to(cost.device)
    return torch.gather(comp, 1, lab.view(g, -1, 1).expand(-1, -1, m)).view(g, n, n, m)


def comixup_labels(
    cost: Tensor,
    A: Tensor,
    valid: Tensor,
    generator: torch.Generator,
    *,
    beta: float = 0.32,
    gamma: float = 1.0,
    thres: float = 0.83,
    iters: int = 4,
    resolve: bool = True,
    cycles: int = 4,
) -> Tensor:
    """Compositions ``z`` (G, m_out, n, n, m_in) minimising the objective; ``cost`` (G, m, n, n).

    ``cost`` already holds saliency and prior; ``valid`` (G, m) marks real group members
    (padding members get cost ``_BIG`` here and empty outputs).
    """
    g, m, n, _ = cost.shape
    dev = cost.device
    n2 = float(n * n)
    beta_s, gamma_s, thres_s = beta / n2, gamma / n2, thres * n2
    cost = torch.where(valid.view(g, m, 1, 1), cost, torch.full_like(cost, _BIG))
    count = valid.sum(1).view(g, 1, 1, 1)
    init = (rand((g, m, n, n), generator, dev) * count).long()
    init = torch.minimum(init, count - 1)
    out_ok = valid.view(g, m, 1, 1, 1).float()
    z = F.one_hot(init, m).float() * out_ok
    add = torch.zeros(g, m, m, device=dev)
    prev = comixup_energy(cost * valid.view(g, m, 1, 1), z, A, beta, gamma)
    resolved = not resolve
    it = 0
    while it < iters:
        for j in range(m):
            cnt = z.sum((2, 3))
            others = cnt.sum(1) - cnt[:, j]
            a_r = torch.einsum("gkl,gl->gk", A, others)
            modular = 2 * gamma_s * (a_r > thres_s).float() * a_r
            c_j = cost + (modular + gamma_s * add[:, j]).view(g, m, 1, 1)
            z[:, j] = _solve_output(c_j, cnt[:, j], it > 0, beta_s, cycles).float() * out_ok[:, j]
        e = comixup_energy(cost * valid.view(g, m, 1, 1), z, A, beta, gamma)
        done = bool(((prev - e).abs() / e.abs().clamp(min=1e-12) < 1e-6).all())
        prev = e
        if not resolved and (done or it >= iters - 2):
            resolved = True  # resolve, then one more round with the extra cost
            add = resolve_cost(z.sum((2, 3)) > 0)
            if add.any():
                it, done = max(it, iters - 2), False
        if done:
            break
        it += 1
    return z


def comixup_full(
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
    omega: float = 1e-3,
    iters: int = 4,
    resolve: bool = True,
    cycles: int = 4,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixed images (dtype of ``x``), soft targets (B, K) and block compositions (B, n, n, B).

    ``mask[b, :, :, i]`` is the share of input ``i`` in each block of output ``b``; the target of
    output ``b`` is ``mask[b].mean((0, 1)) @ targets``.
    """
    b, c, h, w = x.shape
    if h % n or w % n:
        raise ValueError(f"block grid n={n} must divide the image sides {h}x{w}")
    if b < 2:
        raise ValueError(f"Co-Mixup needs at least 2 images, got a batch of {b}")
    dev = x.device
    m = max(2, min(int(m_part), b))
    groups = math.ceil(b / m)
    slot = torch.arange(groups * m, device=dev)
    slot = torch.where(slot < b, slot, -1).view(groups, m)
    valid = slot >= 0
    s = F.adaptive_avg_pool2d(sal.float().unsqueeze(1), n).squeeze(1)
    s = s / s.flatten(1).sum(1).clamp(min=1e-12).view(-1, 1, 1)
    a = dirichlet((groups,), m, alpha, generator, dev)
    cost = -s[slot.clamp(min=0)] - eta / (n * n) * torch.log(a + 1e-8).view(groups, m, 1, 1)
    A = compatibility(sal, slot, omega)
    kw = {"beta": beta, "gamma": gamma, "thres": thres, "iters": iters, "resolve": resolve}
    z = comixup_labels(cost, A, valid, generator, cycles=cycles, **kw)
    eye = torch.eye(groups, device=dev)
    mask = torch.einsum("gjpqk,gh->gjpqhk", z, eye).reshape(groups * m, n, n, groups * m)
    mask = mask[:b, :, :, :b]  # output j of group g is batch item g*m + j, as is input k
    xb = x.float().reshape(b, c, n, h // n, n, w // n)
    mixed = torch.einsum("bpqi,icpyqx->bcpyqx", mask, xb).reshape(b, c, h, w)
    if x.dtype == torch.uint8:
        mixed = mixed.round().clamp(0, 255).to(torch.uint8)
    else:
        mixed = mixed.to(x.dtype)
    share = mask.mean((1, 2))
    return mixed, share @ targets.float(), mask
