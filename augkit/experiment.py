"""``compare``: train every strategy over several seeds on identical data, then report.

The experiment layer: it loops over runs (:func:`augkit.runs.train_run` wires each one), draws
the galleries, and tells the report what each strategy's declaration says about its figures
(:func:`method_specs`); nothing below it parses strategy names.

All runs share the dataset split, the subset (``subset_seed``), the model, the budget and
the seeds 0..n-1; only the strategy differs.  Each run lives in
``<out>/<strategy>/seed<k>/``; a finished run (``final.json``) is never retrained, and an
interrupted one continues from its checkpoint when ``resume`` is set.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from .data import available
from .distributed import launch_env
from .io import atomic_write_bytes, atomic_write_text
from .report import MethodSpec, write_report
from .report.budget import PROBE_DIR
from .report.collect import config_strategies, load_config, load_runs
from .rundir import RunDirError, check_out, prepare_out, refuse_changed
from .runs import (
    TrainConfig,
    budget,
    build_run_strategy,
    check_device,
    check_loader,
    prepare_data,
    train_run,
    with_added_defaults,
)
from .strategies import STRATEGIES, Context, build_strategy, has_search, parse_strategy, strategy_dirname
from .strategies.spec import load_entry

__all__ = [
    "CompareConfig",
    "RunDirError",
    "compare",
    "method_specs",
    "probe_config",
    "quick_preset",
    "report",
]

DEFAULT_STRATEGIES = ("none", "standard", "randaugment", "trivialaugment", "autoaugment")
BUDGET_CHECKS = ("half", "off")


@dataclass
class CompareConfig:
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    seeds: int = 3
    out: str = "runs/compare"
    # a comparison holds out a validation split and trains to an automatic budget unless told otherwise
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs="auto", val="auto"))
    jobs: int = 1  # runs trained at once in worker processes (GPU: several small runs share one card)
    backend: str = "local"  # "ray": every run a Ray task (local Ray, or the cluster at ray_address)
    ray_address: str | None = None
    # "half": train every run again with half the epochs in <out>/budget-half and report whether
    # the differences moved (report/budget.py); "off": skip it (the report says it was not measured)
    budget_check: str = "half"

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"seeds must be a positive int, got {self.seeds!r}")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be a positive int, got {self.jobs!r}")
        if self.backend not in ("local", "ray"):
            raise ValueError(f"backend must be 'local' or 'ray', got {self.backend!r}")
        if self.budget_check not in BUDGET_CHECKS:
            raise ValueError(f"budget_check must be one of {list(BUDGET_CHECKS)}, got {self.budget_check!r}")
        if not self.strategies:
            raise ValueError("strategies must name at least one strategy")
        for s in self.strategies:  # fail before any training, naming the bad option or listing valid names
            build_strategy(s)
        if len({strategy_dirname(s) for s in self.strategies}) != len(self.strategies):
            raise ValueError(f"strategies must be distinct, got {self.strategies}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self.train)
        d.pop("strategy")
        d.pop("seed")
        return {
            "strategies": list(self.strategies),
            "seeds": self.seeds,
            "out": self.out,
            "jobs": self.jobs,
            "backend": self.backend,
            "ray_address": self.ray_address,
            "budget_check": self.budget_check,
            **d,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareConfig:
        d = dict(d)
        keys = ("strategies", "seeds", "out", "jobs", "backend", "ray_address", "budget_check")
        top = {k: d.pop(k) for k in keys if k in d}
        if isinstance(top.get("strategies"), str):
            top["strategies"] = [
                s for s in top["strategies"].split(";" if ":" in top["strategies"] else ",") if s
            ]
        return cls(**top, train=TrainConfig.from_dict({"epochs": "auto", "val": "auto", **d}))


def quick_preset() -> CompareConfig:
    """The README's main job: small data trained to convergence, on real data, on 2 CPU cores.

    1,000 Fashion-MNIST images (plus 1,000 held out for validation), batch 128 and ``epochs=auto``
    (200 epochs = 1,400 steps): small data and long training, where augmentation matters.  The
    earlier 100-epoch preset did not converge (docs/RESULTS.md §8).
    """
    fm = available("fashion-mnist")
    train = TrainConfig(
        dataset="fashion-mnist" if fm else "digits",
        subset=1000 if fm else 0.0,
        val="auto",
        epochs="auto",
        batch_size=128,
        lr=0.05,
        model="small_cnn_half",
        eval_every=8,
        test_subset=2000 if fm else 0.0,
        fgsm_eps=4.0,
        adv_images=500,
        tta_policy_views=2,
        channels_last=True,
    )
    return CompareConfig(
        strategies=["none", "standard", "trivialaugment"],
        seeds=3,
        out="runs/quick-" + ("fashion-mnist" if fm else "digits"),
        train=train,
        jobs=2,
        budget_check="off",  # the probe's 1.5x compute would break the 12-minute budget (README)
    )


def _gallery(
    strategy_text: str, ds, path: Path, model_name: str = "small_cnn", run_dir: Path | None = None
) -> None:
    """Three draws of the strategy on one image per class; model-based methods see an untrained net.

    A strategy with a search (style, GAN, IF-DA) has nothing to draw before its pre-training stage:
    its gallery is drawn after the runs from ``run_dir`` (seed 0), whose cached artefact it loads.
    """
    from .gallery import grid_png
    from .models import build_model

    if run_dir is None:
        strategy = build_strategy(strategy_text)
    else:  # the run's own resolved config, so the stage's cache key matches and nothing retrains
        run_cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
        strategy = build_run_strategy(run_cfg, ds, run_dir, progress=False)
    cls = ds.train_y
    picks = torch.stack([(cls == c).nonzero()[0, 0] for c in range(min(8, ds.num_classes))])
    x = ds.train_x[picks]
    x3 = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    rows = [("original", x3)]
    g0 = torch.Generator().manual_seed(0)
    model = build_model(model_name, x.shape[1], ds.num_classes, ds.mean(), ds.std(), generator=g0)
    for k in range(3):
        ctx = Context(model, torch.device("cpu"), ds.num_classes, torch.Generator().manual_seed(k), data=ds)
        aug = strategy.preview(x, ds.train_y[picks], ctx)
        aug = aug if aug.dtype == torch.uint8 else (aug.clamp(0, 1) * 255).round().to(torch.uint8)
        rows.append((f"draw {k + 1}", aug.expand(-1, 3, -1, -1) if aug.shape[1] == 1 else aug))
    atomic_write_bytes(path, grid_png(rows))


def compare(
    cfg: CompareConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Run every (strategy, seed) pair, write galleries and the report; return the report path."""
    out = Path(cfg.out)
    if launch_env() is not None:  # each run would become an N-process run of its own
        raise ValueError(
            "compare does not run under torchrun: it parallelises its runs with --jobs N (local worker "
            "processes) or --backend ray; run augkit train under torchrun for one multi-process run"
        )
    check_out(out)
    check_device(cfg.train.device)
    if cfg.backend == "ray":
        from .cluster import check_address, require_ray

        require_ray()
        check_address(cfg.ray_address)
    ds = prepare_data(cfg.train)  # every check that can fail runs before the directory is touched
    for s in cfg.strategies:
        check_loader(replace(cfg.train, strategy=s), ds)
    n_train = int(ds.train_x.shape[0])
    plan = budget(cfg.train, n_train)
    n_val = 0 if ds.val_x is None else int(ds.val_x.shape[0])
    sizes = {"train": n_train, "val": n_val, "test": len(ds.test_y)}
    meta = {
        **cfg.to_dict(),
        "data": sizes,
        "budget": plan,
        "command": command or " ".join(["augkit"] + sys.argv[1:]),
        "torch": torch.__version__,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if resume and (out / "config.json").is_file():
        stored = with_added_defaults(json.loads((out / "config.json").read_text()))
        refuse_shrunk(stored, meta, out)
        refuse_changed(stored, meta, (*_FREE, "strategies", "seeds"), out)
    prepare_out(out, resume, overwrite)
    atomic_write_text(out / "config.json", json.dumps(meta, indent=1))
    print(
        f"augkit compare: {ds!r}; {len(cfg.strategies)} strategies x {cfg.seeds} seeds, {plan['epochs']} "
        f"epochs = {plan['steps']} steps of {plan['batch_size']}, model {cfg.train.model} -> {out}",
        flush=True,
    )
    searched = [s for s in cfg.strategies if has_search(s)]
    for s in cfg.strategies:
        if s not in searched:
            _gallery(s, ds, out / strategy_dirname(s) / "gallery.png", cfg.train.model)
    todo = [  # seed-major: an interrupted compare still has every strategy
        (replace(cfg.train, strategy=s, seed=seed), out / strategy_dirname(s) / f"seed{seed}")
        for seed in range(cfg.seeds)
        for s in cfg.strategies
        if not (out / strategy_dirname(s) / f"seed{seed}" / "final.json").exists()
    ]
    if cfg.backend == "ray":
        _run_ray(todo, resume, cfg)
    elif cfg.jobs == 1:
        for run_cfg, rdir in todo:
            train_run(run_cfg, rdir, resume=resume, progress=progress, dataset=ds)
    else:
        _run_parallel(todo, cfg.jobs, resume, ds)
    for s in searched:
        d = out / strategy_dirname(s)
        _gallery(s, ds, d / "gallery.png", cfg.train.model, d / "seed0")
    if cfg.budget_check == "half" and plan["epochs"] >= 2:
        compare(probe_config(cfg, plan), resume=resume, overwrite=overwrite, progress=progress,
                command=f"{meta['command']}  [budget probe: half the epochs]")  # fmt: skip
    return report(out)


def probe_config(cfg: CompareConfig, plan: dict[str, int]) -> CompareConfig:
    """The half-budget probe of ``cfg`` (report/budget.py): same everything, half the epochs."""
    epochs = max(1, plan["epochs"] // 2)
    every = max(1, cfg.train.eval_every // 2) if cfg.train.eval_every else 0
    train = replace(cfg.train, epochs=epochs, eval_every=every)
    return replace(cfg, train=train, out=str(Path(cfg.out) / PROBE_DIR), budget_check="off")


# options that do not change any result: a resumed compare may change them
_FREE = ("out", "jobs", "backend", "ray_address", "threads", "data_dir", "command", "torch", "started",
         "loader", "loader_workers", "budget_check")  # fmt: skip


def refuse_shrunk(stored: dict, requested: dict, out: Path) -> None:
    """A resumed compare may add strategies or seeds (finished runs are kept), never drop one.

    Dropping would leave runs on disk that the config no longer lists; adding only trains the new
    (strategy, seed) pairs, whose results do not depend on which other pairs exist.
    """
    lost = [s for s in stored.get("strategies", []) if s not in requested["strategies"]]
    if lost:
        raise RunDirError(
            f"--resume: {out} also holds strategies {lost}; a resumed compare may add strategies but "
            f"must keep every earlier one (list them in --strategies) or use another --out"
        )
    if requested["seeds"] < stored.get("seeds", 0):
        raise RunDirError(
            f"--resume: {out} was run with --seeds {stored['seeds']}; a resumed compare may add seeds "
            f"but not drop any (got --seeds {requested['seeds']})"
        )


def method_specs(strategies: list[str]) -> dict[str, MethodSpec]:
    """What the report needs from each strategy's declaration (figure function, artefacts)."""
    specs = {}
    for text in strategies:
        try:
            name, opts = parse_strategy(text)
        except ValueError:  # a run of a strategy this version no longer knows: no method figure
            continue
        d = STRATEGIES[name]
        figures = load_entry(d.figures) if d.figures else None
        specs[text] = MethodSpec(name, opts, figures, d.artefacts)
    return specs


def report(out: str | Path) -> Path:
    """(Re)write the report of the compare run in ``out``; return the path of ``report.md``."""
    out = Path(out)
    runs = load_runs(out)
    if not runs:
        raise ValueError(f"{out} holds no runs (no <strategy>/seed<k>/ directories): nothing to report")
    listed = config_strategies(load_config(out))
    names = list(dict.fromkeys([*listed, *(r["strategy"] for r in runs)]))
    paths = write_report(out, method_specs(names))
    return Path(paths["report.md"])


def _worker(run_cfg: TrainConfig, rdir: Path, resume: bool, ds, threads: int) -> str:
    torch.set_num_threads(threads)
    train_run(run_cfg, rdir, resume=resume, progress=False, dataset=ds)
    return f"{run_cfg.strategy} seed {run_cfg.seed}"


def _run_parallel(todo: list[tuple[TrainConfig, Path]], jobs: int, resume: bool, ds) -> None:
    """Train runs in ``jobs`` spawned processes; each run is still bit-identical to a serial one.

    Every run owns its generators and directory, so order does not matter; a failing run
    re-raises here after the others finish.  CPU threads are split evenly between workers.
    """
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    threads = max(1, (os.cpu_count() or 1) // jobs)
    errors = []
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(_worker, c, r, resume, ds, threads) for c, r in todo]
        for f in tqdm(as_completed(futs), total=len(futs), desc="runs"):
            try:
                print(f"done: {f.result()}", flush=True)
            except Exception as e:  # keep the other runs going; report every failure at the end
                errors.append(e)
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(todo)} runs failed; first: {errors[0]!r}") from errors[0]


def ray_run(spec: dict) -> dict:
    """One compare run as a Ray task: the data are rebuilt from the config (deterministic)."""
    cfg = TrainConfig.from_dict(spec["config"])
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_run(cfg, spec["dir"], resume=spec["resume"], progress=False)
    return {"done": 1}


def _run_ray(todo: list[tuple[TrainConfig, Path]], resume: bool, cfg: CompareConfig) -> None:
    """Every run a Ray Tune trial (one CPU each, or ``threads``); bit-identical to a serial compare."""
    from .cluster import ray_map

    threads = cfg.train.threads or 1
    specs = [{"config": asdict(replace(c, threads=threads)), "dir": str(r.resolve()), "resume": resume}
             for c, r in todo]  # fmt: skip
    opts = {"ray_address": cfg.ray_address, "cpus_per_trial": threads, "cpus": None}
    ray_map(ray_run, specs, Path(cfg.out) / "tune", opts)
    missing = [str(r) for _, r in todo if not (r / "final.json").is_file()]
    if missing:
        raise RuntimeError(f"ray backend: runs without final.json: {', '.join(missing)}")


def train_fields() -> list[str]:
    return [f.name for f in fields(TrainConfig)]
