"""Influence functions for the last fully connected layer of a classifier (IF-DA §3, Eq. 6-19).

Following Koh & Liang (ICML 2017, "Understanding black-box predictions via influence functions")
and Lee et al. (CVPR 2020), theta is the last FC layer ``(W, b)`` of F, stored as one matrix
``Theta = [W | b]`` of shape ``(K, D + 1)`` acting on the features with a 1 appended,
``h' = (h, 1)``, and flattened row-major to a vector of ``P = K (D + 1)`` numbers.  With
``p = softmax(W h + b)`` and target row ``y`` the softmax-cross-entropy has closed forms

    grad_theta l(z) = (p - y) (x) h'                              (outer product, flattened)
    hess_theta l(z) = (diag(p) - p p^T) (x) h' h'^T               (Kronecker product)

and the Hessian of the objective ``L(theta) = (1/N) sum_i l(z_i) + (l2/2) ||theta||^2`` (``l2`` is
the weight decay; by default on W only, as augkit's SGD applies it) is their training mean plus
``l2`` on the diagonal.  ``damping`` adds ``lambda I`` on top (Koh & Liang's damping for non-convex
F, whose theta-hat is not an exact minimiser).

Sign conventions (Eq. 7-19; every function below follows them):

* ``s_val = H^-1 grad_theta L(z_val, theta-hat)`` (the mean validation-loss gradient), Sec. 3.4.
* ``I_up,loss(z, z_val) = -s_val . grad l(z)`` (Eq. 14).  Up-weighting z by eps changes the
  validation loss by ``eps * I_up,loss``; removing z (eps = -1/N) changes it by
  ``-(1/N) I_up,loss(z)`` (Eq. 10).
* ``I_aug(z, z~, z_val) = I_up,loss(z~) - I_up,loss(z) = -s_val . (grad l(z~) - grad l(z))``
  (Eq. 18-19).  Replacing z by z~ changes the validation loss by ``+(1/N) I_aug`` (Eq. 15 reads
  ``-(1/N) I_aug ~ L(before) - L(after)``).  A *negative* I_aug therefore predicts a *lower*
  validation loss, and IF-DA trains E and G to minimise I_aug (the paper's "maximise the
  influence" refers to the predicted reduction, ``-I_aug``).

The "exact retraining" these formulas approximate is the eps-perturbed objective itself: removal
minimises ``(1/N) sum_{j != i} l_j + reg`` (the sum still divided by N); replacement keeps N.

Solvers for ``(H + lambda I)^-1 v``: ``exact`` (Cholesky of the closed-form matrix; P up to a few
thousand), ``cg`` (conjugate gradients with the closed-form Hessian-vector product, Martens 2010),
``lissa`` (Agarwal, Bullins & Hazan 2017 as used by Koh & Liang: ``h_t = v + h_{t-1} - (H +
lambda I) h_{t-1} / sigma``, answer ``h_T / sigma``; minibatch HVPs drawn with an explicit generator,
or the full training set when ``batch_size`` is None; ``sigma`` defaults to 1.1 times a
power-iteration estimate of the largest eigenvalue).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import sample

__all__ = [
    "SOLVERS",
    "fit_softmax_regression",
    "hessian",
    "hvp",
    "influence_aug",
    "influence_up_loss",
    "inverse_hvp",
    "mean_loss",
    "per_sample_grads",
    "theta_of",
    "val_influence_vector",
]


def _targets(y: Tensor, k: int, dtype: torch.dtype) -> Tensor:
    return torch.nn.functional.one_hot(y.long(), k).to(dtype) if y.ndim == 1 else y.to(dtype)


def _aug(h: Tensor) -> Tensor:
    return torch.cat((h, torch.ones_like(h[:, :1])), 1)


def theta_of(W: Tensor, b: Tensor) -> Tensor:
    """``Theta = [W | b]`` of shape (K, D + 1); ``.flatten()`` is the parameter vector."""
    return torch.cat((W, b[:, None]), 1)


def _split(theta: Tensor, k: int) -> tuple[Tensor, Tensor]:
    t = theta.reshape(k, -1)
    return t[:, :-1], t[:, -1]


def _l2_diag(k: int, d: int, l2: float, l2_bias: bool, like: Tensor) -> Tensor:
    m = torch.full((k, d + 1), float(l2), dtype=like.dtype, device=like.device)
    if not l2_bias:
        m[:, -1] = 0.0
    return m.flatten()


def mean_loss(h: Tensor, y: Tensor, W: Tensor, b: Tensor, weights: Tensor | None = None) -> Tensor:
    """``(1/N) sum_i w_i l(z_i)`` (weights default to 1; N is always the number of rows)."""
    logp = torch.log_softmax(h @ W.T + b, 1)
    loss = -(_targets(y, W.shape[0], logp.dtype) * logp).sum(1)
    return (loss if weights is None else loss * weights).mean()


def per_sample_grads(h: Tensor, y: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """grad_theta l(z_i) for every row: (N, P), differentiable in ``h``."""
    p = torch.softmax(h @ W.T + b, 1)
    r = p - _targets(y, W.shape[0], p.dtype)
    return (r[:, :, None] * _aug(h)[:, None, :]).flatten(1)


def hessian(
    h: Tensor, W: Tensor, b: Tensor, l2: float = 0.0, l2_bias: bool = False, chunk: int = 256
) -> Tensor:
    """Closed-form Hessian (P, P) of the mean softmax-cross-entropy over ``h`` plus the l2 term."""
    k, d = W.shape
    ha = _aug(h)
    out = torch.zeros(k, d + 1, k, d + 1, dtype=h.dtype, device=h.device)
    for s in range(0, h.shape[0], chunk):
        hc = ha[s : s + chunk]
        p = torch.softmax(hc[:, :-1] @ W.T + b, 1)
        S = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # (n, K, K)
        out += torch.einsum("nkl,nd,ne->kdle", S, hc, hc)
    out = out.reshape(k * (d + 1), k * (d + 1)) / h.shape[0]
    return out + torch.diag(_l2_diag(k, d, l2, l2_bias, h))


def hvp(h: Tensor, W: Tensor, b: Tensor, v: Tensor, l2: float = 0.0, l2_bias: bool = False) -> Tensor:
    """``H v`` without forming H: ``(1/N) sum_n [S_n (V h'_n)] h'_n^T`` plus ``l2 v``."""
    k, d = W.shape
    ha = _aug(h)
    V = v.reshape(k, d + 1)
    p = torch.softmax(h @ W.T + b, 1)
    a = ha @ V.T  # (N, K): V h'_n
    r = p * a - p * (p * a).sum(1, keepdim=True)
    return (r.T @ ha).flatten() / h.shape[0] + _l2_diag(k, d, l2, l2_bias, h) * v


def _cg(matvec, v: Tensor, tol: float, max_iter: int) -> Tensor:
    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rs = r @ r
    stop = tol * tol * (v @ v)
    for _ in range(max_iter):
        if rs <= stop:
            break
        Ap = matvec(p)
        alpha = rs / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def _largest_eig(matvec, n: int, like: Tensor, generator: torch.Generator, iters: int = 50) -> float:
    u = sample.randn((n,), generator, like.device).to(like.dtype)
    lam = 1.0
    for _ in range(iters):
        w = matvec(u)
        lam = float(w.norm())
        u = w / max(lam, 1e-30)
    return lam


def inverse_hvp(
    v: Tensor,
    h: Tensor,
    W: Tensor,
    b: Tensor,
    method: str = "exact",
    damping: float = 0.0,
    l2: float = 0.0,
    l2_bias: bool = False,
    *,
    tol: float = 1e-10,
    max_iter: int | None = None,
    depth: int = 5000,
    repeats: int = 1,
    scale: float | None = None,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``(H + damping I)^-1 v`` for the Hessian of the training objective on features ``h``."""
    if method not in SOLVERS:
        raise ValueError(f"method must be one of {SOLVERS}, got {method!r}")
    if damping < 0 or l2 < 0:
        raise ValueError(f"damping and l2 must be >= 0, got {damping!r}, {l2!r}")
    k, d = W.shape
    n = k * (d + 1)
    if v.shape != (n,):
        raise ValueError(f"v must have shape ({n},) for W of shape {tuple(W.shape)}, got {tuple(v.shape)}")
    if method == "exact":
        A = hessian(h, W, b, l2, l2_bias) + damping * torch.eye(n, dtype=h.dtype, device=h.device)
        return torch.cholesky_solve(v[:, None], torch.linalg.cholesky(A))[:, 0]

    def full(u: Tensor) -> Tensor:
        return hvp(h, W, b, u, l2, l2_bias) + damping * u

    if method == "cg":
        return _cg(full, v, tol, max_iter or 10 * n)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    sigma = scale if scale is not None else 1.1 * _largest_eig(full, n, v, g)
    total = torch.zeros_like(v)
    for _ in range(repeats):
        est = v.clone()
        for _ in range(depth):
            if batch_size is None or batch_size >= h.shape[0]:
                hv = full(est)
            else:
                idx = sample.randint(h.shape[0], (batch_size,), g, h.device)
                hv = hvp(h[idx], W, b, est, l2, l2_bias) + damping * est
            est = v + est - hv / sigma
        total += est / sigma
    return total / repeats


SOLVERS = ("exact", "cg", "lissa")


def val_influence_vector(
    h_train: Tensor, h_val: Tensor, y_val: Tensor, W: Tensor, b: Tensor, **solver
) -> Tensor:
    """``s_val = (H + damping I)^-1 grad_theta L(z_val)`` (Sec. 3.4), shape (P,)."""
    g_val = per_sample_grads(h_val, y_val, W, b).mean(0)
    return inverse_hvp(g_val, h_train, W, b, **solver)


def _s_dot_grad(s_val: Tensor, h: Tensor, y: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """``s_val . grad l(z_i)`` per row without forming (N, P) gradients; differentiable in ``h``."""
    k = W.shape[0]
    S = s_val.to(h.dtype).reshape(k, -1)
    p = torch.softmax(h @ W.T + b, 1)
    r = p - _targets(y, k, p.dtype)
    return (r * (h @ S[:, :-1].T + S[:, -1])).sum(1)


def influence_up_loss(s_val: Tensor, h: Tensor, y: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """Eq. 14: ``I_up,loss(z_i, z_val) = -s_val . grad l(z_i)`` for every row, shape (N,)."""
    return -_s_dot_grad(s_val, h, y, W, b)


def influence_aug(s_val: Tensor, h: Tensor, h_aug: Tensor, y: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """Eq. 18-19: ``I_aug(z, z~, z_val) = I_up,loss(z~) - I_up,loss(z)``, shape (N,).

    Differentiable in ``h_aug`` (F's last-layer features of z~), which is how IF-DA's gradient
    reaches E and G.  Negative values predict a lower validation loss.
    """
    return influence_up_loss(s_val, h_aug, y, W, b) - influence_up_loss(s_val, h, y, W, b)


def fit_softmax_regression(
    h: Tensor,
    y: Tensor,
    num_classes: int,
    l2: float,
    l2_bias: bool = True,
    weights: Tensor | None = None,
    theta0: Tensor | None = None,
    iters: int = 50,
    tol: float = 1e-12,
) -> tuple[Tensor, Tensor]:
    """Newton's method (with backtracking) on ``(1/N) sum w_i l_i + (l2/2)||theta||^2``: ``(W, b)``.

    The exact minimiser the influence functions are checked against (the ``weights`` of a removed
    sample is 0, N stays the row count: the eps = -1/N perturbation of Eq. 6).
    """
    d = h.shape[1]
    theta = theta0.clone() if theta0 is not None else torch.zeros(num_classes * (d + 1), dtype=h.dtype)
    w = torch.ones(h.shape[0], dtype=h.dtype) if weights is None else weights.to(h.dtype)
    reg = _l2_diag(num_classes, d, l2, l2_bias, h)

    def objective(t: Tensor) -> Tensor:
        W, b = _split(t, num_classes)
        return mean_loss(h, y, W, b, w) + 0.5 * (reg * t * t).sum()

    for _ in range(iters):
        W, b = _split(theta, num_classes)
        g = (per_sample_grads(h, y, W, b) * w[:, None]).mean(0) + reg * theta
        if float(g.norm()) < tol:
            break
        keep = w > 0  # the Hessian of the weighted objective: weight each row's curvature
        H = hessian(h[keep] * 1.0, W, b) * (w[keep].sum() / h.shape[0])
        if not bool((w[keep] == 1).all()):
            raise ValueError("weights must be 0 or 1 (remove a sample, keep the rest)")
        step = torch.linalg.solve(H + torch.diag(reg), g)
        f0, t = objective(theta), 1.0
        while t > 1e-8 and objective(theta - t * step) > f0 - 1e-4 * t * (g @ step):
            t *= 0.5
        theta = theta - t * step
    return _split(theta, num_classes)
