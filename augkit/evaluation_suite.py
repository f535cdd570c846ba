"""The end-of-run evaluation every strategy gets, so runs are compared on the same footing.

Accuracy (top-1/top-5), NLL, calibration (ECE and overconfidence error with 15 bins,
reliability data), FGSM and I-FGSM error at ``fgsm_eps`` pixels on a fixed test subset,
test-time augmentation (identity, horizontal flip, four 2-pixel shifted crops and
``tta_policy_views`` views drawn from the strategy's own transform with a fixed generator)
reported as the error and the gain over the plain prediction, out-of-distribution AUROC
against crops of real photographs (:mod:`augkit.data.ood`; max-softmax score), and per-class error.
"""

from __future__ import annotations

from typing import Any

import torch

from . import evaluate
from .data.ood import OOD_NAME, photo_crops
from .ops import geometry

__all__ = ["final_metrics", "tta_views"]


def tta_views(strategy, n_policy: int, seed: int = 12345) -> tuple[list, list[str]]:
    """Deterministic test-time views: flips, shifted crops and policy draws."""
    views, names = [lambda x: x, geometry.hflip], ["identity", "hflip"]
    for dy, dx in ((0, 0), (0, 4), (4, 0), (4, 4)):
        views.append(
            lambda x, o=(dy, dx): geometry.pad_crop(x, torch.tensor([o]).expand(x.shape[0], 2), 2, fill=0)
        )
        names.append(f"crop{dy // 2 - 1:+d}{dx // 2 - 1:+d}")
    transform = strategy.tta_transform()
    if transform is not None:
        for k in range(n_policy):
            views.append(lambda x, k=k: transform(x, generator=torch.Generator().manual_seed(seed + k)))
            names.append(f"policy{k}")
    return views, names


def final_metrics(model, ds, strategy, cfg, history: list[dict]) -> dict[str, Any]:
    device = torch.device(cfg.device)
    model.eval()
    x, y = ds.test_x, ds.test_y
    logits = evaluate.predict(model, x, batch_size=1000, device=device).cpu()
    acc = evaluate.accuracy_metrics(logits, y)
    probs = logits.softmax(1)
    cal = evaluate.calibration(probs, y, n_bins=15)
    g = torch.Generator().manual_seed(2024)
    adv_idx = torch.randperm(x.shape[0], generator=g)[: cfg.adv_images]
    xa, ya = x[adv_idx], y[adv_idx]
    fgsm = evaluate.fgsm_error(model, xa, ya, cfg.fgsm_eps, steps=1, batch_size=500, device=device)
    ifgsm = evaluate.fgsm_error(
        model, xa, ya, cfg.fgsm_eps, steps=cfg.ifgsm_steps, batch_size=500, device=device
    )
    views, names = tta_views(strategy, cfg.tta_policy_views)
    tta_probs = evaluate.tta_predict(model, x, views, batch_size=1000, device=device)
    tta_error = (tta_probs.argmax(1).cpu() != y).float().mean().item()
    ood = photo_crops(min(2000, x.shape[0]), tuple(x.shape[1:]))
    auroc = evaluate.ood_auroc(model, x[:2000], ood, batch_size=1000, device=device)
    train_seconds = float(sum(r["epoch_seconds"] for r in history))
    n_train = ds.train_x.shape[0] * len(history)
    return {
        "strategy": cfg.strategy,
        "seed": cfg.seed,
        "test_error": acc["top1_error"],
        "top5_error": acc["top5_error"],
        "nll": acc["nll"],
        "ece": cal["ece"],
        "oe": cal["oe"],
        "fgsm_error": fgsm,
        "ifgsm_error": ifgsm,
        "fgsm_eps": cfg.fgsm_eps,
        "tta_error": tta_error,
        "tta_gain": acc["top1_error"] - tta_error,
        "tta_views": names,
        "ood_auroc": auroc,
        "ood_set": OOD_NAME,
        "train_seconds": train_seconds,
        "images_per_second": n_train / max(train_seconds, 1e-9),
        "per_class_error": [float(v) for v in evaluate.per_class_error(logits, y, ds.num_classes)],
        "reliability": _reliability(cal["bins"]),
        "epochs": len(history),
    }


def _reliability(bins: dict) -> dict:
    """Reliability-diagram data with empty bins as null (they have no accuracy)."""
    empty = [c == 0 for c in bins["count"]]
    return {
        "edges": bins["edges"],
        "count": bins["count"],
        "accuracy": [None if e else a for a, e in zip(bins["accuracy"], empty, strict=True)],
        "confidence": [None if e else c for c, e in zip(bins["confidence"], empty, strict=True)],
    }
