"""Evaluation: accuracy, NLL, calibration, adversarial robustness, test-time augmentation, OOD detection.

Pure functions on logits/probabilities and labels, plus model-driven ones that batch the data,
run the model in eval mode without gradients (except the attacks' input gradient) and restore
the model's previous train/eval mode afterwards.  Errors are fractions in [0, 1].

References and the choices they leave open:

* Calibration -- Guo et al., "On Calibration of Modern Neural Networks", ICML 2017: confidence
  is the max softmax probability; ``M`` equal-width bins ``((m-1)/M, m/M]`` (a confidence of
  exactly 0 goes to the first bin); ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|; MCE = the largest
  gap over non-empty bins.  M = 15 by default, as Guo et al. use.
* Overconfidence error -- Thulasidasan et al., "On Mixup Training: Improved Calibration and
  Predictive Uncertainty for Deep Neural Networks", NeurIPS 2019:
  OE = sum_m |B_m|/n * conf(B_m) * max(conf(B_m) - acc(B_m), 0), on the same bins.
* FGSM -- Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015:
  x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y))).  I-FGSM -- Kurakin et al., "Adversarial
  Machine Learning at Scale", ICLR 2017: ``steps`` iterations of size ``step_size``, each
  projected back onto the L-inf ball of radius eps around x and onto [0, 1].  ``eps`` and
  ``step_size`` are in pixel units (of 255); the attack works on the [0, 1] image because
  normalisation is inside the model.  Default step size eps / steps ("equal step size", as the
  mixup paper, Zhang et al. 2018, uses for its I-FGSM); Kurakin et al. use 1 pixel.
  Adversarial images are not re-quantised to uint8.  The model is attacked in eval mode
  (BN running statistics), on the true labels, so no label leaking.
* OOD detection -- Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and
  Out-of-Distribution Examples", ICLR 2017: the score is the max softmax probability, in-
  distribution is the positive class.  AUROC = P(s_in > s_out) + P(s_in = s_out) / 2, computed
  exactly from mid-ranks (Mann-Whitney U), so ties count one half.
* Test-time augmentation: the softmax outputs are averaged over the views (Krizhevsky et al.
  2012 average predictions over crops and flips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "View",
    "accuracy_metrics",
    "auroc",
    "calibration",
    "evaluate_logits",
    "fgsm_attack",
    "fgsm_error",
    "hflip",
    "identity",
    "msp_scores",
    "ood_auroc",
    "per_class_error",
    "per_group_error",
    "predict",
    "shift_view",
    "tta_error",
    "tta_predict",
]

View = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------- validation helpers
def _check_logits_labels(scores: Tensor, y: Tensor, name: str = "logits") -> None:
    if not isinstance(scores, Tensor) or scores.ndim != 2 or not scores.dtype.is_floating_point:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"{name} must be a floating tensor of shape (N, K), got {got}")
    if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != scores.shape[0]:
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"y must be an integer tensor of shape ({scores.shape[0]},), got {got}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= scores.shape[1]):
        raise ValueError(
            f"y must hold labels in [0, {scores.shape[1] - 1}], got range [{int(y.min())}, {int(y.max())}]"
        )
    if scores.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {tuple(scores.shape)}")


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


# ----------------------------------------------------------------------------- pure metrics
def accuracy_metrics(logits: Tensor, y: Tensor) -> dict[str, float]:
    """Top-1 error, top-5 error (top-K when K < 5) and mean negative log-likelihood."""
    _check_logits_labels(logits, y)
    logits = logits.double()
    y = y.to(logits.device)
    k = min(5, logits.shape[1])
    topk = logits.topk(k, dim=1).indices
    hit = topk == y[:, None]
    return {
        "top1_error": 1.0 - hit[:, 0].double().mean().item(),
        "top5_error": 1.0 - hit.any(dim=1).double().mean().item(),
        "nll": F.cross_entropy(logits, y).item(),
        "n": int(y.shape[0]),
    }


def calibration(probs: Tensor, y: Tensor, n_bins: int = 15) -> dict[str, object]:
    """ECE, MCE, OE and reliability-diagram data over ``n_bins`` equal-width confidence bins.

    ``probs`` are probabilities (rows sum to 1), not logits.  Returns ``ece``, ``mce``, ``oe``,
    ``accuracy``, ``mean_confidence`` and ``bins`` = {``edges`` (n_bins + 1), ``count``,
    ``accuracy``, ``confidence``} as lists; empty bins report accuracy and confidence 0.
    """
    _check_logits_labels(probs, y, "probs")
    _check_positive_int(n_bins, "n_bins")
    probs = probs.double()
    if bool((probs < 0).any()) or not torch.allclose(probs.sum(1), torch.ones_like(probs[:, 0]), atol=1e-3):
        raise ValueError("probs must be non-negative with rows summing to 1 (apply softmax to logits first)")
    conf, pred = probs.max(dim=1)
    correct = (pred == y.to(pred.device)).double()
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=probs.device)
    # bucketize(right=False) gives edges[i-1] < c <= edges[i]: Guo et al.'s ((m-1)/M, m/M] bins.
    idx = torch.bucketize(conf, edges[1:-1], right=False)
    count = torch.zeros(n_bins, dtype=torch.float64, device=probs.device).index_add_(
        0, idx, torch.ones_like(conf)
    )
    sum_acc = torch.zeros_like(count).index_add_(0, idx, correct)
    sum_conf = torch.zeros_like(count).index_add_(0, idx, conf)
    safe = count.clamp(min=1.0)
    acc_b, conf_b = sum_acc / safe, sum_conf / safe
    weight = count / conf.shape[0]
    gap = (acc_b - conf_b).abs()
    nonempty = count > 0
    return {
        "ece": (weight * gap).sum().item(),
        "mce": gap[nonempty].max().item(),
        "oe": (weight * conf_b * (conf_b - acc_b).clamp(min=0.0)).sum().item(),
        "accuracy": correct.mean().item(),
        "mean_confidence": conf.mean().item(),
        "n_bins": n_bins,
        "bins": {
            "edges": edges.tolist(),
            "count": [int(c) for c in count.tolist()],
            "accuracy": acc_b.tolist(),
            "confidence": conf_b.tolist(),
        },
    }


def per_group_error(logits: Tensor, y: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """Top-1 error within each group ``0..num_groups-1`` as a float64 tensor; NaN for empty groups."""
    _check_logits_labels(logits, y)
    _check_positive_int(num_groups, "num_groups")
    groups = groups.to(logits.device)
    if groups.shape != y.shape or groups.dtype.is_floating_point:
        raise ValueError(
            f"groups must be an integer tensor of shape {tuple(y.shape)}, got {tuple(groups.shape)}"
        )
    if int(groups.min()) < 0 or int(groups.max()) >= num_groups:
        raise ValueError(f"groups must hold ids in [0, {num_groups - 1}], got max {int(groups.max())}")
    wrong = (logits.argmax(1) != y.to(logits.device)).double()
    n = torch.zeros(num_groups, dtype=torch.float64, device=logits.device).index_add_(
        0, groups, torch.ones_like(wrong)
    )
    e = torch.zeros_like(n).index_add_(0, groups, wrong)
    return torch.where(n > 0, e / n.clamp(min=1.0), torch.full_like(n, float("nan"))).cpu()


def per_class_error(logits: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Top-1 error of the examples of each true class; NaN for classes absent from ``y``."""
    return per_group_error(logits, y, y, num_classes)


def evaluate_logits(logits: Tensor, y: Tensor, n_bins: int = 15) -> dict[str, float]:
    """Flat summary for a run's ``summary.json``: accuracy metrics plus ECE, MCE and OE."""
    out: dict[str, float] = dict(accuracy_metrics(logits, y))
    cal = calibration(torch.softmax(logits.double(), dim=1), y, n_bins)
    out.update(ece=cal["ece"], mce=cal["mce"], oe=cal["oe"])  # type: ignore[arg-type]
    return out


def auroc(pos: Tensor, neg: Tensor) -> float:
    """Exact ROC AUC of scores ``pos`` (positives) against ``neg``: P(pos > neg) + P(tie) / 2.

    Mann-Whitney: with mid-ranks r over the pooled scores, AUC = (sum r_pos - n_p (n_p + 1) / 2)
    / (n_p n_n).
    """
    pos, neg = pos.reshape(-1).double().cpu(), neg.reshape(-1).double().cpu()
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"auroc needs both score sets non-empty, got {pos.numel()} and {neg.numel()}")
    if bool(torch.isnan(pos).any() or torch.isnan(neg).any()):
        raise ValueError("auroc scores must not contain NaN")
    scores = torch.cat([pos, neg])
    order = scores.argsort()
    _, counts = torch.unique_consecutive(scores[order], return_counts=True)
    ends = counts.cumsum(0).double()  # 1-based rank of the last element of each tie group
    mid = ends - (counts.double() - 1.0) / 2.0
    ranks = torch.empty_like(scores)
    ranks[order] = torch.repeat_interleave(mid, counts)
    n_p, n_n = pos.numel(), neg.numel()
    return ((ranks[:n_p].sum() - n_p * (n_p + 1) / 2.0) / (n_p * n_n)).item()


# ----------------------------------------------------------------------------- model-driven
def _device_of(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    _check_positive_int(batch_size, "batch_size")
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


def _to_unit(x: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; float input is used as is."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be uint8 or floating point, got dtype {x.dtype}")
    return x


def predict(
    model: nn.Module, x: Tensor, batch_size: int = 512, device: torch.device | str | None = None
) -> Tensor:
    """Logits ``(N, K)`` (float32, on the CPU) of ``model`` on ``x``, batched, eval mode, no grad."""
    dev = _device_of(model, device)
    outs = []
    with _eval_mode(model), torch.no_grad():
        for sl in _batches(x.shape[0], batch_size):
            outs.append(model(x[sl].to(dev)).float().cpu())
    return torch.cat(outs)


def fgsm_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_pixels: float,
    steps: int = 1,
    step_size: float | None = None,
) -> Tensor:
    """Adversarial float images in [0, 1] for one batch (on ``x``'s device); see the module docstring.

    The model must already be on ``x``'s device; its mode and parameter gradients are left as
    they were (only the input gradient is computed).
    """
    if not isinstance(eps_pixels, (int, float)) or isinstance(eps_pixels, bool) or eps_pixels < 0:
        raise ValueError(f"eps_pixels must be a non-negative number (pixel units of 255), got {eps_pixels!r}")
    _check_positive_int(steps, "steps")
    alpha_pixels = eps_pixels / steps if step_size is None else step_size
    if not isinstance(alpha_pixels, (int, float)) or alpha_pixels < 0:
        raise ValueError(f"step_size must be a non-negative number of pixels or None, got {step_size!r}")
    eps, alpha = eps_pixels / 255.0, alpha_pixels / 255.0
    x0 = _to_unit(x).detach()
    y = y.to(x0.device)
    x_adv = x0.clone()
    with _eval_mode(model):
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + alpha * grad.sign()
                x_adv = torch.minimum(torch.maximum(x_adv, x0 - eps), x0 + eps).clamp_(0.0, 1.0)
    return x_adv.detach()


def fgsm_error(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_pixels: float,
    steps: int = 1,
    step_size: float | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> float:
    """Top-1 error under FGSM (``steps=1``) or I-FGSM (``steps>1``) with radius ``eps_pixels``/255."""
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    dev = _device_of(model, device)
    wrong = 0
    for sl in _batches(x.shape[0], batch_size):
        xb, yb = x[sl].to(dev), y[sl].to(dev)
        x_adv = fgsm_attack(model, xb, yb, eps_pixels, steps, step_size)
        with _eval_mode(model), torch.no_grad():
            wrong += int((model(x_adv).argmax(1) != yb).sum())
    return wrong / x.shape[0]


def identity(x: Tensor) -> Tensor:
    """The unchanged batch (the first view of any TTA set)."""
    return x


def hflip(x: Tensor) -> Tensor:
    """Horizontal flip of a ``(B, C, H, W)`` batch."""
    return x.flip(-1)


def shift_view(dx: int, dy: int) -> View:
    """A view translating the image by (``dx``, ``dy``) pixels with zero fill: the crop at offset
    (pad - dx, pad - dy) of the zero-padded image, i.e. one of the pad-and-crop training views."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dx, dy)):
        raise TypeError(f"dx and dy must be ints, got {dx!r}, {dy!r}")

    def view(x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        p = max(abs(dx), abs(dy))
        xp = F.pad(x, (p, p, p, p))
        return xp[..., p - dy : p - dy + h, p - dx : p - dx + w]

    return view


def tta_predict(
    model: nn.Module,
    x: Tensor,
    views: Sequence[View],
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> Tensor:
    """Softmax probabilities ``(N, K)`` averaged over ``views`` (callables on a uint8/float batch)."""
    if len(views) == 0 or not all(callable(v) for v in views):
        raise ValueError(f"views must be a non-empty sequence of callables, got {views!r}")
    dev = _device_of(model, device)
    outs = []
    with _eval_mode(model), torch.no_grad():
        for sl in _batches(x.shape[0], batch_size):
            xb = x[sl].to(dev)
            p = sum(torch.softmax(model(v(xb)).double(), dim=1) for v in views)
            outs.append((p / len(views)).float().cpu())
    return torch.cat(outs)


def tta_error(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    views: Sequence[View],
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """Top-1 error of the view-averaged prediction."""
    probs = tta_predict(model, x, views, batch_size, device)
    return (probs.argmax(1) != y.cpu()).double().mean().item()


def msp_scores(
    model: nn.Module, x: Tensor, batch_size: int = 512, device: torch.device | str | None = None
) -> Tensor:
    """Maximum softmax probability of each example (Hendrycks & Gimpel 2017), float64 on the CPU."""
    return torch.softmax(predict(model, x, batch_size, device).double(), dim=1).max(dim=1).values


def ood_auroc(
    model: nn.Module,
    x_in: Tensor,
    x_out: Tensor,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """AUROC of separating in-distribution ``x_in`` (positives) from ``x_out`` by max softmax probability."""
    return auroc(msp_scores(model, x_in, batch_size, device), msp_scores(model, x_out, batch_size, device))
