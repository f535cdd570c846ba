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

Capacities must be integers (as in ``gco``): they are scaled so that their sum over the batch
is 2^30 and rounded; the rounding error per capacity is below 2^-30 of the batch total.
The solve runs on the CPU (the graph is small: ``B * n^2`` nodes for an ``n x n`` grid).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

__all__ = ["binary_cut", "grid_energy", "swap_labelling"]


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
