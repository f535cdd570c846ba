"""``augkit patch``: ERM, GDRO and CLAMP side by side on the zigzag subgroup benchmark.

The experiment-layer wiring of model patching (Goel et al. 2021, Table 1): build the benchmark
(:func:`augkit.patching.build_zigzag_benchmark`), train every method with every seed through the
ordinary run (:func:`augkit.runs.train_run`: same loop, checkpoints, resume, final battery), then
evaluate each run's checkpoint per subgroup and write ``patch.md`` / ``patch.json``: robust
(worst-subgroup) and aggregate test accuracy, per-subgroup accuracy and per-class subgroup gaps
(mean ± std over seeds), and same-seed paired differences with 95 % t-intervals.

Runs go seed-major, like ``augkit compare``, so an interrupted experiment already has every
method; ``--resume`` continues it (finished runs are kept, an interrupted one resumes from its
checkpoint).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .data import load_dataset
from .evaluate import predict
from .io import atomic_write_bytes, atomic_write_text, load_torch
from .patching.benchmark import (
    GroupedDataset,
    build_zigzag_benchmark,
    check_benchmark_options,
    subgroup_metrics,
)
from .report.collect import paired_differences, read_metrics, stats
from .report.fig_patching import subgroup_bars_png, val_curves_png
from .report.verdict import convergence
from .runs import TrainConfig, resolve, run_model, train_run
from .strategies import parse_strategy
from .strategies.registry import strategy_dirname
from .train import CHECKPOINT

__all__ = ["PATCH_HELP", "PatchConfig", "run_patch"]

PATCH_HELP = {
    "methods": "comma-separated strategies to compare (none = ERM, gdro, clamp:k=v)",
    "seeds": "number of seeds, run as seeds 0..N-1",
    "out": "output directory of the experiment",
    "n_train": "training images (half per class; a multiple of 4)",
    "n_val": "validation images (training skew; a multiple of 4)",
    "n_test": "test images (each class half clean, half zigzag; a multiple of 4)",
    "majority": "share of each class in its majority subgroup in training (the paper: 0.99)",
    "bench_seed": "seed of the benchmark's draws (images, subgroups, strokes)",
}
METRICS = ("robust_acc", "aggregate_acc")


@dataclass(frozen=True)
class PatchConfig:
    methods: tuple[str, ...] = ("none", "gdro", "clamp")
    seeds: int = 3
    out: str = "runs/patch"
    n_train: int = 4000
    n_val: int = 1000
    n_test: int = 4000
    majority: float = 0.95
    bench_seed: int = 0

    def __post_init__(self) -> None:
        check_benchmark_options(self.n_train, self.n_val, self.n_test, self.majority)
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"seeds must be an int >= 1, got {self.seeds!r}")
        self.method_list()

    def method_list(self) -> list[str]:
        names = list(self.methods)
        for m in names:
            parse_strategy(m)  # a bad spec fails before anything trains
        if not names:
            raise ValueError(f"methods must name at least one strategy, got {self.methods!r}")
        return names


def _benchmark(cfg: PatchConfig, run: TrainConfig) -> GroupedDataset:
    src = load_dataset(run.dataset, run.data_dir)
    return build_zigzag_benchmark(src, cfg.n_train, cfg.n_val, cfg.n_test, cfg.majority, cfg.bench_seed)


def evaluate_subgroups(run: TrainConfig, ds: GroupedDataset, rdir: Path) -> dict[str, Any]:
    """Per-subgroup accuracies of a finished run's checkpoint on the test and validation splits."""
    model = run_model(resolve(run, ds), ds, torch.Generator().manual_seed(0))
    model.load_state_dict(load_torch(rdir / CHECKPOINT, map_location=run.device)["model"])
    out = {}
    for split in ("test", "val"):
        x, y, g = (getattr(ds, f"{split}_{k}") for k in ("x", "y", "groups"))
        pred = predict(model, x, batch_size=1000).argmax(1)
        out[split] = subgroup_metrics(pred, y, g, ds.group_names)
    return out


def _check_same(path: Path, record: dict, resume: bool) -> None:
    if path.exists():
        stored = {k: v for k, v in json.loads(path.read_text()).items() if k != "out"}
        if stored != record:
            changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != record.get(k))
            raise ValueError(
                f"{path.parent} holds an experiment with other options ({changed}); use another --out"
            )
        if not resume:
            raise FileExistsError(
                f"{path.parent} exists: pass --resume to continue it or choose another --out"
            )
    atomic_write_text(path, json.dumps(record, indent=1))


def run_patch(cfg: PatchConfig, run: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train and evaluate every (method, seed); returns the path of ``patch.md``."""
    methods, out = cfg.method_list(), Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    what = {k: v for k, v in asdict(cfg).items() if k != "out"}  # a copied directory resumes
    record = json.loads(json.dumps({**what, "train": asdict(run)}))
    _check_same(out / "config.json", record, resume)
    ds = _benchmark(cfg, run)
    for seed in range(cfg.seeds):
        for m in methods:
            rdir = out / strategy_dirname(m) / f"seed{seed}"
            if (rdir / "subgroups.json").exists():
                continue
            rc = replace(
                run, dataset=f"{run.dataset}-zigzag", strategy=m, seed=seed, subset=cfg.n_train, val=cfg.n_val
            )
            if not (rdir / "final.json").exists():
                train_run(rc, rdir, resume=(rdir / CHECKPOINT).exists(), progress=progress, dataset=ds)
            atomic_write_text(rdir / "subgroups.json", json.dumps(evaluate_subgroups(rc, ds, rdir), indent=1))
    return write_patch_report(out, methods, ds.group_names, cfg.n_val)


def _rows(out: Path, methods: list[str]) -> list[dict]:
    rows = []
    for m in methods:
        for p in sorted((out / strategy_dirname(m)).glob("seed*/subgroups.json")):
            final = json.loads((p.parent / "final.json").read_text())
            rows.append({"strategy": m, "seed": int(p.parent.name[4:]), **json.loads(p.read_text())["test"],
                         "train_seconds": final.get("train_seconds"),
                         "metrics": read_metrics(p.parent / "metrics.jsonl")})  # fmt: skip
    return rows


def _fmt(s: dict) -> str:
    return "–" if s["mean"] is None else f"{s['mean']:.2f} ± {s['std']:.2f}"


def _convergence_lines(rows: list[dict], n_val: int) -> tuple[list[str], dict]:
    """The compare report's under-training guard (validation error over the last 20 %), per method."""
    conv = convergence(rows, n_val)
    lines = ["", "Convergence (validation error over the last 20 % of training, as in compare reports):", ""]
    for m, c in conv.items():
        lines.append(f"- `{m}`: {c['status']}" + (f" — {'; '.join(c['why'])}" if c.get("why") else ""))
    return lines, conv


def _figures(out: Path, rows: list[dict], methods: list[str], names: tuple[str, ...]) -> list[str]:
    """Write the figures next to ``patch.md`` and return the lines that show them."""
    if not rows:
        return []
    atomic_write_bytes(out / "patch_subgroups.png", subgroup_bars_png(rows, methods, names))
    atomic_write_bytes(out / "patch_val_curves.png", val_curves_png(rows, methods))
    lines = ["", "![accuracy per subgroup](patch_subgroups.png)", "",
             "![validation curves](patch_val_curves.png)"]  # fmt: skip
    galleries = sorted(out.glob("*/seed*/clamp_translations.png"))
    if galleries:
        rel = galleries[0].relative_to(out).as_posix()
        lines += ["", f"CLAMP's CycleGAN translations ({rel}; each subgroup above its translation):",
                  "", f"![CycleGAN translations]({rel})"]  # fmt: skip
    return lines


BANNER = "> **Not every method converged: the differences may reflect the budget, not the methods.**"


def write_patch_report(out: Path, methods: list[str], names: tuple[str, ...], n_val: int = 0) -> Path:
    """``patch.md`` and ``patch.json`` from the run directories (nothing is trained here)."""
    rows = _rows(out, methods)
    cols = [*METRICS, *names, *sorted({k for r in rows for k in r if k.startswith("gap_")}), "train_seconds"]
    table = {m: {c: stats([r.get(c) for r in rows if r["strategy"] == m]) for c in cols} for m in methods}
    paired = {
        b: paired_differences(rows, "robust_acc", baseline=b)
        for b in methods[:2]
        if any(r["strategy"] == b for r in rows)
    }
    n = max((t["robust_acc"]["n"] for t in table.values()), default=0)
    lines = ["# Model patching on the zigzag subgroup benchmark", "",
             f"Test accuracy in % (mean ± std over seeds, n = {n}); "
             "robust = worst of the four (class, subgroup) groups; gap = |clean − zigzag| in a class.", "",
             "| method | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
             "|:---|" + "---:|" * len(cols)]  # fmt: skip
    for m in methods:
        lines.append(f"| `{m}` | " + " | ".join(_fmt(table[m][c]) for c in cols) + " |")
    for b, pd in paired.items():
        lines += ["", f"Paired robust-accuracy differences against `{b}` (same seeds, 95 % t-interval):", ""]
        later = methods[methods.index(b) + 1 :]
        for name, r in ((n, r) for n, r in pd["rows"].items() if n in later):
            ci = "n < 2" if r["ci_low"] is None else f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
            mean = "–" if r["mean"] is None else f"{r['mean']:+.2f}"
            lines.append(f"- `{name}` − `{b}`: {mean} pp, {ci} (n = {r['n']})")
    conv_lines, conv = _convergence_lines(rows, n_val)
    if any(c["status"] != "converged" for c in conv.values()):
        lines[1:1] = ["", BANNER]
    lines += conv_lines + _figures(out, rows, methods, names)
    slim = [{k: v for k, v in r.items() if k != "metrics"} for r in rows]
    doc = {"table": table, "paired": paired, "convergence": conv, "runs": slim}
    atomic_write_text(out / "patch.json", json.dumps(doc, indent=1))
    atomic_write_text(out / "patch.md", "\n".join(lines) + "\n")
    return out / "patch.md"
