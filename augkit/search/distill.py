"""Data distillation's pre-training stages (Radosavovic, Dollár, Girshick, Gkioxari & He, "Data
Distillation: Towards Omni-Supervised Learning", CVPR 2018).

``0_teacher``  train a teacher on the labeled training subset (strategy ``teacher``, default
               ``standard``) through the injected ``fit``, with the run's budget
``1_labels``   the teacher's predictions on unlabeled images — the rest of the training set that
               the run's ``--subset`` leaves out (:func:`augkit.data.prepare.unlabeled_pool`), at most
               ``unlabeled`` of them — ensembled over test-time views (the paper's
               "multi-transform inference"): softmax probabilities averaged over the views, the
               argmax is the pseudo-label; images whose averaged confidence is below ``threshold``
               are dropped (the paper thresholds detection scores; 0 keeps every image).

Both stages are cached in the run directory by their options (:mod:`augkit.search.cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset
from ..data.prepare import unlabeled_pool
from ..evaluate import tta_predict
from ..evaluation_suite import tta_views
from ..models import build_model
from ..strategies.distill import VIEW_SETS
from ..strategies.registry import build_strategy
from ..train import OptimConfig, streams
from .cache import cached_stage, data_key

__all__ = ["DistillArtefact", "VIEW_SETS", "pseudo_labels", "search"]


@dataclass
class DistillArtefact:
    x: torch.Tensor
    y: torch.Tensor
    summary: dict


def pseudo_labels(
    model: torch.nn.Module, x: torch.Tensor, views: str, threshold: float
) -> tuple[torch.Tensor, ...]:
    """(kept indices, labels, confidences) of the view-ensembled predictions on ``x``."""
    if views not in VIEW_SETS:
        raise ValueError(f"views must be one of {sorted(VIEW_SETS)}, got {views!r}")
    every, _ = tta_views(build_strategy("none"), 0)
    probs = tta_predict(model, x, [every[i] for i in VIEW_SETS[views]])
    conf, labels = probs.max(1)
    keep = (conf >= threshold).nonzero().squeeze(1)
    return keep, labels[keep], conf[keep]


def search(
    data: ImageDataset,
    fit: Callable,
    out_dir: str | Path,
    options: dict[str, Any],
    config: dict[str, Any],
    progress: bool = False,
) -> DistillArtefact:
    """Teacher, then pseudo-labels of the unlabeled pool; returns the pseudo-labeled images."""
    seed, root, dev = (
        int(config.get("seed", 0)),
        Path(out_dir) / "distill",
        torch.device(config.get("device", "cpu")),
    )
    run_keys = ("model", "epochs", "batch_size", "lr", "weight_decay")
    key0 = {**data_key(data, config), "teacher": options["teacher"], **{k: config.get(k) for k in run_keys}}
    c = data.train_x.shape[1]

    def teacher(d: Path) -> dict:
        model = build_model(
            config.get("model", "small_cnn"),
            c,
            data.num_classes,
            data.mean(),
            data.std(),
            generator=streams(seed)["init"],
        ).to(dev)
        optim = OptimConfig.from_options(config)
        fit(
            model,
            data,
            build_strategy(options["teacher"]),
            optim,
            d,
            gens=streams(seed),
            config=config,
            resume=True,
        )
        return {"model": model.state_dict()}

    t_art, t_cost = cached_stage(root, "0_teacher", key0, teacher, dev)
    key1 = {
        **key0,
        "views": options["views"],
        "threshold": options["threshold"],
        "unlabeled": options["unlabeled"],
    }

    def label(d: Path) -> dict:
        model = build_model(
            config.get("model", "small_cnn"), c, data.num_classes, data.mean(), data.std(), generator=0
        )
        model.load_state_dict(t_art["model"])
        pool = unlabeled_pool(
            config["dataset"],
            config.get("data_dir"),
            config.get("subset", 0.0),
            config.get("val", 0.0),
            int(config.get("subset_seed", 0)),
        )
        if pool.shape[0] == 0:
            raise ValueError(
                "distill needs unlabeled images: pass --subset so the rest of the training set is left"
            )
        pick = torch.randperm(pool.shape[0], generator=torch.Generator().manual_seed(seed))[
            : options["unlabeled"]
        ]
        x = pool[pick]
        keep, y, conf = pseudo_labels(model.to(dev), x, options["views"], options["threshold"])
        return {"x": x[keep], "y": y, "conf": conf}

    art, l_cost = cached_stage(root, "1_labels", key1, label, dev)
    summary = {
        "pseudo_labeled": int(art["y"].shape[0]),
        "mean_confidence": float(art["conf"].mean()),
        "costs": {"0_teacher": t_cost, "1_labels": l_cost},
    }
    return DistillArtefact(art["x"], art["y"], summary)
