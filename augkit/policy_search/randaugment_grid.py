"""RandAugment's grid search (Cubuk, Zoph, Shlens & Le, "RandAugment: Practical automated data
augmentation with a reduced search space", CVPR Workshops 2020, §3).

``augkit search randaugment-grid --out DIR --options n=1;2;3,m=3;6;9``.  RandAugment's whole
search space is two integers, N (ops per image) and M (one global magnitude on the 0-10 scale
of the paper's CIFAR experiments, ``magnitude = M / 10`` of each op's range); the paper picks
them by grid search on the validation set of the target task.  Every grid point is one child —
an ordinary augkit run with ``policy:file=<rand-nN-mM policy.json>`` — scheduled as a Ray Tune
trial; the pair with the lowest validation error is written as ``policy.json`` (randaugment).

Choices: the grid defaults to N in {1, 2, 3} x M in {3, 6, 9} (the paper's CIFAR-10 optima,
N = 3 and M = 4-5 for Wide-ResNets, and torchvision's default M = 9 lie in this range); ties
go to the smaller (N, M), the cheaper policy; every child uses the run seed (``seeds=`` > 1
averages each point over that many seeds, which the paper does not do but small data needs).
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

from ..policies import RandAugment
from ..policy_io import save_policy
from ..runs import TrainConfig
from ..strategies.spec import int_at_least
from .common import int_list, write_report
from .trials import run_trials, train_trial, trial_spec

__all__ = ["OPTIONS", "search"]

OPTIONS = {"n": (int_list, [1, 2, 3]), "m": (int_list, [3, 6, 9]), "seeds": (int_at_least(1), 1)}


def search(cfg: TrainConfig, out: Path, options: dict, trial_opts: dict, progress: bool) -> dict:
    """Train every (N, M, seed) child; the best mean validation error wins."""
    points = [(n, m) for n in options["n"] for m in options["m"]]
    specs, keys = [], []
    for n, m in points:
        pfile = out / "policies" / f"rand-n{n}-m{m}.json"
        pfile.parent.mkdir(parents=True, exist_ok=True)
        save_policy(RandAugment(n, m), str(pfile))
        for s in range(options["seeds"]):
            name = f"n{n}-m{m}-seed{cfg.seed + s}"
            specs.append(
                trial_spec(out, name, replace(cfg, strategy=f"policy:file={pfile}", seed=cfg.seed + s))
            )
            keys.append((n, m))
    results = run_trials(train_trial, specs, out, progress=progress, **trial_opts)
    mean = {
        p: statistics.fmean(r["val_error"] for r, k in zip(results, keys, strict=True) if k == p)
        for p in points
    }
    n, m = min(points, key=lambda p: (mean[p], p))
    if progress:
        print(f"randaugment-grid: {len(results)} trials done, best N={n} M={m}: validation error "
              f"{100 * mean[(n, m)]:.2f} %")  # fmt: skip
    grid = [{"n": a, "m": b, "val_error": mean[(a, b)]} for a, b in points]
    return write_report(
        out,
        "randaugment-grid",
        options,
        results,
        RandAugment(n, m),
        {"best": {"n": n, "m": m}, "spec": f"rand-n{n}-m{m}", "grid": grid},
    )
