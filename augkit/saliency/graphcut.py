"""Batched graph cuts on block grids: exact binary min-cut and the alpha-beta swap.

PuzzleMix (Kim, Choo & Song, ICML 2020) labels each block of a grid by minimising
``E(m) = sum_p U_p(m_p) + sum_{p~q} W_pq (m_p - m_q)^2`` over a few label values ``m`` with the
alpha-beta swap move of Boykov, Veksler & Zabih (PAMI 2001); the official code calls the
``gco`` C++ library once per image.  Here the whole batch is solved at once: every image's grid
is one connected component of a single graph with a shared source and sink, cut by SciPy's
maximum-flow solver (Dinic), and the minimum cut is read from the residual graph (nodes
reachable from the source take the first label).  For two labels one swap move is the exact
global minimum (the energy is submodular as ``W >= 0``); for more labels, swap moves over
every pair of labels are repeated for a fixed number of cycles.

:func:`swap_labelling_matrix` is the same move for a general pairwise cost ``V(l, l')`` given
as a per-image (L, L) semimetric matrix (Co-Mixup's label set with mixed labels, whose
distances are not those of scalar values); it skips pair moves that provably cannot lower the
energy and stops early once a whole cycle changes nothing (as ``gco`` runs swap to convergence).

Capacities must be integers (as in ``gco``): they are scaled so that their sum over the batch
is 2^30 and rounded; the rounding error per capacity is below 2^-30 of the batch total.
The solve runs on the CPU (the graph is small: ``B * n^2`` nodes for an ``n x n`` grid).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

__all__ = ["binary_cut", "grid_energy", "matrix_energy", "swap_labelling", "swap_labelling_matrix"]


def binary_cut(c0: np.ndarray, c1: np.ndarray, wh: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """Exact minimiser of ``sum c_{x_p}(p) + sum w_pq [x_p != x_q]`` on a batch of grids.

    ``c0, c1``: (B, N, M) costs of label 0 / 1; ``wh``: (B, N, M-1) weights between horizontal
    neighbours; ``wv``: (B, N-1, M) between vertical ones (all weights >= 0).  Returns a bool
    (B, N, M) array, True where label 1 is chosen.
    """
    b, n, m = c0.shape
    if (wh < 0).any() or (wv < 0).any():
        raise ValueError("pairwise weights must be >= 0 (the cut is exact only for submodular energies)")
    lo = np.minimum(c0, c1)
    c0, c1 = c0 - lo, c1 - lo
    total = c0.sum() + c1.sum() + 2 * (wh.sum() + wv.sum())
    nodes = b * n * m
    if not total > 0:
        return np.zeros((b, n, m), dtype=bool)
    scale = 2.0**30 / total
    ids = np.arange(nodes).reshape(b, n, m)
    src, snk = nodes, nodes + 1
    left, right = ids[:, :, :-1].ravel(), ids[:, :, 1:].ravel()
    up, down = ids[:, :-1, :].ravel(), ids[:, 1:, :].ravel()
    flat = ids.ravel()
    rows = np.concatenate([np.full(nodes, src), flat, left, right, up, down])
    cols = np.concatenate([flat, np.full(nodes, snk), right, left, down, up])
    cap = np.concatenate([c1.ravel(), c0.ravel(), wh.ravel(), wh.ravel(), wv.ravel(), wv.ravel()])
    cap = np.rint(cap * scale).astype(np.int64)
    keep = cap > 0
    graph = sp.csr_matrix(
        (cap[keep].astype(np.int32), (rows[keep], cols[keep])), shape=(nodes + 2, nodes + 2)
    )
    flow = maximum_flow(graph, src, snk, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data = np.where(residual.data > 0, 1, 0).astype(np.int32)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    label1 = np.ones(nodes + 2, dtype=bool)
    label1[reach] = False
    return label1[:nodes].reshape(b, n, m)


def grid_energy(labels: np.ndarray, unary: np.ndarray, wh: np.ndarray, wv: np.ndarray, values) -> np.ndarray:
    """``E`` per image for label indices ``labels`` (B, N, M), ``unary`` (B, N, M, L)."""
    v = np.asarray(values, dtype=np.float64)[labels]
    e = np.take_along_axis(unary, labels[..., None], -1)[..., 0].sum((1, 2))
    e += (wh * (v[:, :, 1:] - v[:, :, :-1]) ** 2).sum((1, 2))
    e += (wv * (v[:, 1:, :] - v[:, :-1, :]) ** 2).sum((1, 2))
    return e


def swap_labelling(unary: np.ndarray, wh: np.ndarray, wv: np.ndarray, values, cycles: int = 2) -> np.ndarray:
    """Alpha-beta swap for ``E = sum U_p(l_p) + sum W_pq (v_{l_p} - v_{l_q})^2``; label indices (B, N, M).

    Starts from the per-block minimum of ``unary`` (B, N, M, L); each move is an exact binary
    cut, so the energy never increases.  Two labels need a single move (global optimum).
    """
    v = np.asarray(values, dtype=np.float64)
    n_labels = v.shape[0]
    lab = unary.argmin(-1)
    pairs = [(a, c) for a in range(n_labels) for c in range(a + 1, n_labels)]
    for _ in range(1 if n_labels == 2 else cycles):
        for a, c in pairs:
            act = (lab == a) | (lab == c)
            m = v[lab]
            costs = []
            for val in (v[a], v[c]):
                cost = unary[..., a if val == v[a] else c].copy()
                cost[:, :, :-1] += wh * (val - m[:, :, 1:]) ** 2 * ~act[:, :, 1:]
                cost[:, :, 1:] += wh * (val - m[:, :, :-1]) ** 2 * ~act[:, :, :-1]
                cost[:, :-1, :] += wv * (val - m[:, 1:, :]) ** 2 * ~act[:, 1:, :]
                cost[:, 1:, :] += wv * (val - m[:, :-1, :]) ** 2 * ~act[:, :-1, :]
                costs.append(np.where(act, cost, 0.0))
            d2 = (v[a] - v[c]) ** 2
            wh_act = wh * d2 * (act[:, :, 1:] & act[:, :, :-1])
            wv_act = wv * d2 * (act[:, 1:, :] & act[:, :-1, :])
            to_c = binary_cut(costs[0], costs[1], wh_act, wv_act)
            lab = np.where(act, np.where(to_c, c, a), lab)
    return lab


def matrix_energy(
    labels: np.ndarray, unary: np.ndarray, wh: np.ndarray, wv: np.ndarray, pairwise: np.ndarray
):
    """``sum U_p(l_p) + sum w_pq V(l_p, l_q)`` per image; ``pairwise`` (B, L, L)."""
    bi = np.arange(labels.shape[0])[:, None, None]
    e = np.take_along_axis(unary, labels[..., None], -1)[..., 0].sum((1, 2))
    e += (wh * pairwise[bi, labels[:, :, 1:], labels[:, :, :-1]]).sum((1, 2))
    e += (wv * pairwise[bi, labels[:, 1:, :], labels[:, :-1, :]]).sum((1, 2))
    return e


def _neighbour_sum(v: np.ndarray, wh: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """``sum_q w_pq v_q`` over the 4 neighbours of each block; ``v`` (B, N, M, ...)."""
    ex = (...,) + (None,) * (v.ndim - 3)
    out = np.zeros(v.shape)
    out[:, :, :-1] += wh[ex] * v[:, :, 1:]
    out[:, :, 1:] += wh[ex] * v[:, :, :-1]
    out[:, :-1, :] += wv[ex] * v[:, 1:, :]
    out[:, 1:, :] += wv[ex] * v[:, :-1, :]
    return out


def _switch_gain(lab, unary, wh, wv, pairwise) -> np.ndarray:
    """``need[b, a, c]``: some block labelled ``a`` would lower its own cost by switching to ``c``
    while its neighbours labelled ``a`` stay (the only way a swap with an absent ``c`` helps)."""
    b, n, m, n_labels = unary.shape
    bi = np.arange(b)[:, None, None]
    vq = pairwise[bi, lab]  # (B, N, M, L): V(l_q, c) for each block q and label c
    onehot = lab[..., None] == np.arange(n_labels)
    same_w = _neighbour_sum(onehot.astype(np.float64), wh, wv)  # weight to neighbours per label
    to_c = unary + _neighbour_sum(vq, wh, wv)  # cost of c with every neighbour as it is
    own = np.take_along_axis(same_w, lab[..., None], -1)  # weight to neighbours sharing l_p
    to_c = to_c - own * pairwise[bi, lab]  # neighbours labelled l_p do not count
    here = np.take_along_axis(unary + _neighbour_sum(vq, wh, wv), lab[..., None], -1)
    better = (to_c - here < -1e-12).reshape(b, -1, n_labels)
    return np.einsum("bpa,bpc->bac", onehot.reshape(b, -1, n_labels), better) > 0


def swap_labelling_matrix(
    unary: np.ndarray,
    wh: np.ndarray,
    wv: np.ndarray,
    pairwise: np.ndarray,
    cycles: int = 4,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Alpha-beta swap for ``E = sum U_p(l_p) + sum w_pq V_b(l_p, l_q)``; label indices (B, N, M).

    ``unary`` (B, N, M, L); ``pairwise`` (B, L, L) a semimetric per image (symmetric, >= 0, zero
    on the diagonal).  Starts from ``init`` or the per-block minimum of ``unary``.  A move on
    the pair (a, c) runs only for images where both labels are present, or where one is absent
    and some block of the other would lower its own cost by switching (otherwise no relabelling
    can lower the energy: switching a set S of a-blocks to an absent c costs the sum of those
    per-block differences plus non-negative boundary terms).  Labels are renumbered per image
    (present ones first, then by total unary) so one cut serves the same move in every image.
    Each move is an exact binary cut, so the energy never increases; a move is not repeated on
    an image whose labelling has not changed since its last cut on that pair (it is already
    optimal for that move), and cycles stop early when nothing changes.
    """
    b, n, m, n_labels = unary.shape
    bi = np.arange(b)
    lab0 = unary.argmin(-1) if init is None else np.asarray(init, dtype=np.int64)
    used = (lab0.reshape(b, -1, 1) == np.arange(n_labels)).sum(1)
    perm = np.lexsort((unary.sum((1, 2)), -used), axis=-1)  # rank -> label, per image
    rank = np.argsort(perm, -1)
    un = np.take_along_axis(unary, perm[:, None, None, :], -1)
    pw = pairwise[bi[:, None, None], perm[:, :, None], perm[:, None, :]]
    lab = rank[bi[:, None, None], lab0]
    pairs = [(a, c) for a in range(n_labels) for c in range(a + 1, n_labels)]
    stamp = np.zeros(b, dtype=np.int64)  # bumped when an image's labelling changes
    last = np.full((len(pairs), b), -1, dtype=np.int64)  # stamp at the pair's last cut
    for _ in range(cycles):
        changed, stale = False, True
        for pi, (a, c) in enumerate(pairs):
            if stale:
                present = np.zeros((b, n_labels), dtype=bool)
                present[bi[:, None], lab.reshape(b, -1)] = True
                gain = _switch_gain(lab, un, wh, wv, pw)
                stale = False
            has_a, has_c = present[:, a], present[:, c]
            need = (has_a & has_c) | (has_a & gain[:, a, c]) | (has_c & gain[:, c, a])
            need &= stamp != last[pi]  # already optimal for this move
            if not need.any():
                continue
            sub = np.nonzero(need)[0]
            ls = lab[sub]
            act = (ls == a) | (ls == c)
            idle = ~act
            cost_a = un[sub, :, :, a] + _neighbour_sum(pw[sub[:, None, None], a, ls] * idle, wh[sub], wv[sub])
            cost_c = un[sub, :, :, c] + _neighbour_sum(pw[sub[:, None, None], c, ls] * idle, wh[sub], wv[sub])
            d = pw[sub, a, c][:, None, None]
            wh_act = wh[sub] * d * (act[:, :, 1:] & act[:, :, :-1])
            wv_act = wv[sub] * d * (act[:, 1:, :] & act[:, :-1, :])
            to_c = binary_cut(np.where(act, cost_a, 0.0), np.where(act, cost_c, 0.0), wh_act, wv_act)
            new = np.where(act, np.where(to_c, c, a), ls)
            moved = (new != ls).any((1, 2))
            stamp[sub[moved]] += 1
            last[pi, sub] = stamp[sub]
            if moved.any():
                changed = stale = True
                lab[sub] = new
        if not changed:
            break
    return perm[bi[:, None, None], lab]
