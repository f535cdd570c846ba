"""Fast AutoAugment (Lim, Kim, Kim, Kim & Kim, "Fast AutoAugment", NeurIPS 2019, §3, Algorithm 1).

``augkit search fast-autoaugment --out DIR --options folds=5,steps=2,candidates=200,top=10``.

1. The training set (after ``--subset`` / ``--val``) is split into ``folds`` stratified shuffles
   (D_M, D_A), with D_A a ``ratio`` (0.4) share of it.
2. On each D_M a model (``--model``) is trained without augmentation (``none``) for the run's
   budget — the K fold models are Ray Tune trials, in parallel.
3. *Density matching, no retraining*: a candidate policy (``subs`` = 5 sub-policies of 2 ops,
   each op a type, a probability in [0, 1] and a magnitude in [0, 1]) is scored by the fold
   model's error on D_A augmented by the policy; Bayesian optimisation (TPE, Optuna's
   ``TPESampler`` — the paper used HyperOpt's TPE) proposes ``candidates`` policies per step,
   through Tune's ``OptunaSearch`` on the ray backend and Optuna directly on the local one; the
   ``top`` best policies of each step are kept, ``steps`` times per fold.
4. The kept policies of every fold and step are merged: their sub-policies concatenated into
   one policy (``policy.json``).

Choices the paper leaves open (augkit's answer):

- Op list: the 16 ops of AutoAugment's space without SamplePairing (it needs a second image
  and the authors' released op list omits it): 15 ops, AutoAugment's Table 6 ranges.
- The fold models train on D_M with the run's budget and no augmentation at all (the paper's
  "train model parameters on D_M" uses its default pre-processing; ``base=standard`` trains
  them with pad-crop + flip instead; candidates are scored on D_A without it either way).
- The score of a candidate is the error on one augmented draw of D_A (``views=1``; the
  released code's minimum over several draws is ``views>1`` with the mean instead, stated).
- Steps after the first continue the same TPE study (the released code starts a new one per
  step with a fresh seed; one study per fold is the deterministic reading).
- Seeds: fold k uses seed ``seed + k`` for its split, its model and its TPE sampler, so the
  same seed gives the same folds, models, candidates and policy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..adversarial.decode import PAPER_OPS
from ..cluster import init_ray
from ..data.base import ImageDataset
from ..io import atomic_save_torch, load_torch
from ..policies import Policy
from ..runs import TrainConfig, optim_config, prepare_data, run_model
from ..strategies import build_strategy
from ..strategies.spec import float_in, int_at_least
from ..train import fit, streams
from .common import write_report
from .trials import record_trial, run_trials

__all__ = ["FAA_OPS", "OPTIONS", "candidate_error", "fold_split", "search"]

FAA_OPS: tuple[str, ...] = tuple(o for o in PAPER_OPS if o != "SamplePairing")
MODEL_FILE = "model.pt"


OPTIONS: dict[str, tuple[Any, Any]] = {
    "folds": (int_at_least(1), 5),
    "ratio": (float_in(0, 1, low_open=True, high_open=True), 0.4),
    "steps": (int_at_least(1), 2),
    "candidates": (int_at_least(1), 200),
    "top": (int_at_least(1), 10),
    "subs": (int_at_least(1), 5),
    "views": (int_at_least(1), 1),
    "base": (str, "none"),
}


def fold_split(y: torch.Tensor, ratio: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified shuffle: (D_M indices, D_A indices), ``ratio`` of every class in D_A."""
    g = torch.Generator().manual_seed(seed)
    m_idx, a_idx = [], []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_a = max(1, round(ratio * idx.numel())) if idx.numel() > 1 else 0
        a_idx.append(idx[:n_a])
        m_idx.append(idx[n_a:])
    return torch.cat(m_idx).sort().values, torch.cat(a_idx).sort().values


def _fold_data(cfg: TrainConfig, ratio: float, k: int) -> ImageDataset:
    ds = prepare_data(cfg)
    m, a = fold_split(ds.train_y, ratio, cfg.seed + k)
    return ImageDataset(
        f"{ds.name}-fold{k}",
        ds.train_x[m],
        ds.train_y[m],
        ds.train_x[a],
        ds.train_y[a],
        ds.classes,
        val_x=ds.train_x[a],
        val_y=ds.train_y[a],
    )


def train_fold(spec: dict) -> dict:
    """Trial function: the fold model on D_M (no augmentation), its clean D_A error as the reward."""
    d, cfg = Path(spec["dir"]), TrainConfig.from_dict(spec["config"])
    data = _fold_data(cfg, spec["ratio"], spec["fold"])
    gens = streams(cfg.seed + spec["fold"])
    model = run_model(cfg, data, gens["init"])
    resume = (d / "checkpoint.pt").is_file()

    def train() -> list[dict]:
        history = fit(model, data, build_strategy(cfg.strategy), optim_config(cfg), d, gens=gens,
                      config=spec["config"], resume=resume)  # fmt: skip
        atomic_save_torch(d / MODEL_FILE, model.state_dict())
        return history

    return record_trial(spec, d.name, train)


def _policy(params: dict, subs: int) -> Policy:
    return Policy(
        [
            [(params[f"op{s}_{j}"], params[f"p{s}_{j}"], params[f"m{s}_{j}"]) for j in range(2)]
            for s in range(subs)
        ]
    )


@torch.no_grad()
def candidate_error(
    model: torch.nn.Module, policy: Policy, x: torch.Tensor, y: torch.Tensor, views: int, seed: int
) -> float:
    """Error of ``model`` on ``x`` augmented by ``policy``, averaged over ``views`` draws."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    errs = [(model(policy(x, generator=g)).argmax(1) != y).float().mean().item() for _ in range(views)]
    return sum(errs) / len(errs)


@dataclass(frozen=True)
class _Space:
    """The search space as an Optuna define-by-run callable (module-level: Tune pickles it)."""

    subs: int
    returns: bool = True  # Tune's OptunaSearch wants None back from its define-by-run function

    def __call__(self, trial) -> dict | None:
        p = {}
        for s in range(self.subs):
            for j in range(2):
                p[f"op{s}_{j}"] = trial.suggest_categorical(f"op{s}_{j}", FAA_OPS)
                p[f"p{s}_{j}"] = trial.suggest_float(f"p{s}_{j}", 0.0, 1.0)
                p[f"m{s}_{j}"] = trial.suggest_float(f"m{s}_{j}", 0.0, 1.0)
        return p if self.returns else None


def _tpe(
    objective, subs: int, n: int, seed: int, trial_opts: dict, storage: Path
) -> list[tuple[float, dict]]:
    """``n`` TPE proposals scored by ``objective``; (error, params) in proposal order."""
    import optuna

    space = _Space(subs)
    if trial_opts.get("backend", "ray") == "ray":
        return _tpe_tune(objective, _Space(subs, returns=False), n, seed, trial_opts, storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        params = space(trial)
        err = objective(params)
        study.tell(trial, err)
        out.append((err, params))
    return out


def _tpe_tune(
    objective, space: _Space, n: int, seed: int, trial_opts: dict, storage: Path
) -> list[tuple[float, dict]]:
    """The same TPE through Ray Tune's OptunaSearch (one proposal at a time: reproducible)."""
    import optuna

    _, tune = init_ray(trial_opts)  # the same cluster as the fold models, even when they were cached
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(
        space=space, metric="error", mode="min", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    tuner = tune.Tuner(
        lambda params: tune.report({"error": objective(params)}),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=n, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(storage.resolve()), name="tpe", verbose=0),
    )
    grid = sorted(tuner.fit(), key=lambda r: r.metrics.get("timestamp", 0))  # proposal order
    return [(r.metrics["error"], dict(r.config)) for r in grid]


def search(cfg: TrainConfig, out: Path, options: dict, trial_opts: dict, progress: bool) -> dict:
    """Fold models (parallel trials), TPE per fold, top policies merged into one."""
    o = options
    fcfg = replace(cfg, strategy="none" if o["base"] == "none" else "standard")
    specs = [
        {"dir": str(out / "trials" / f"fold{k}"), "config": asdict(fcfg), "fold": k, "ratio": o["ratio"]}
        for k in range(o["folds"])
    ]
    folds = run_trials(train_fold, specs, out, progress=progress, **trial_opts)
    kept, timings = [], []
    for k, spec in enumerate(specs):
        fold_kept, timing = _search_fold(cfg, fcfg, o, k, Path(spec["dir"]), trial_opts, progress)
        kept, timings = kept + fold_kept, timings + [timing]
    subs = [sp for _, params in kept for sp in _policy(params, o["subs"]).sub_policies]
    policy = Policy(subs, name=f"fast-autoaugment-{len(kept)}x{o['subs']}")
    return write_report(
        out,
        "fast-autoaugment",
        o,
        folds,
        policy,
        {"kept_policies": len(kept), "kept_errors": [e for e, _ in kept]},
        phases={"density_matching": _sum_timings(timings)},
    )


def _sum_timings(timings: list[dict | None]) -> dict | None:
    """The folds' density-matching time summed; None if a fold's cache predates its timing."""
    if any(t is None for t in timings):
        return None
    return {k: sum(t[k] for t in timings) for k in ("cpu_seconds", "wall_seconds")}


def _search_fold(
    cfg: TrainConfig, fcfg: TrainConfig, o: dict, k: int, d: Path, trial_opts: dict, progress: bool
) -> tuple[list[tuple[float, dict]], dict | None]:
    """TPE on fold ``k`` and its time; cached in ``d/tpe.pt`` so a resumed search does not repeat it."""
    cache = d / "tpe.pt"
    if cache.is_file():
        stored = load_torch(cache)
        return stored["kept"], stored.get("timing")
    t0, c0 = time.perf_counter(), time.process_time()
    data = _fold_data(fcfg, o["ratio"], k)
    model = run_model(fcfg, data, torch.Generator().manual_seed(0))
    model.load_state_dict(load_torch(d / MODEL_FILE))

    def objective(params: dict) -> float:
        return candidate_error(
            model, _policy(params, o["subs"]), data.val_x, data.val_y, o["views"], cfg.seed + k
        )

    kept = []
    proposals = _tpe(objective, o["subs"], o["steps"] * o["candidates"], cfg.seed + k, trial_opts, d / "tune")
    for step in range(o["steps"]):
        chunk = proposals[step * o["candidates"] : (step + 1) * o["candidates"]]
        kept += sorted(chunk, key=lambda p: p[0])[: o["top"]]
    if progress:
        print(
            f"fast-autoaugment: fold {k + 1}/{o['folds']}: best augmented-D_A error {100 * kept[0][0]:.2f} %"
        )
    timing = {"cpu_seconds": time.process_time() - c0, "wall_seconds": time.perf_counter() - t0}
    atomic_save_torch(cache, {"kept": kept, "timing": timing})
    return kept, timing
