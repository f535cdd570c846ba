"""Markdown for docs/RESULTS.md from a finished compare directory (the numbers are never typed by hand).

    python experiments/snippet.py runs/tables/mixing [--baseline none] [--copy docs/results/mixing]

Prints the compact table (test error, NLL, ECE, OE, FGSM error, train time), the paired
differences of test error against ``--baseline``, and the strategies' own logged signals
averaged over the last epoch; ``--copy`` also copies the report (md, html, csv, json, figures,
galleries; no checkpoints) into the docs folder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from augkit.report import write_report
from augkit.report.collect import (
    STANDARD_CURVE_KEYS,
    config_strategies,
    load_config,
    load_runs,
    paired_differences,
    summarize,
)
from augkit.report.tables import _metric_table, paired_table, to_markdown

METRICS = ("test_error", "nll", "ece", "oe", "fgsm_error", "train_seconds")


def signals(runs: list[dict]) -> str:
    """Last-epoch value of every strategy-specific metric, mean over seeds."""
    rows: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        if not r["metrics"]:
            continue
        last = r["metrics"][-1]
        for k, v in last.items():
            if k not in STANDARD_CURVE_KEYS and isinstance(v, (int, float)):
                rows.setdefault(r["strategy"], {}).setdefault(k, []).append(float(v))
    lines = []
    for name, keys in rows.items():
        cells = ", ".join(f"{k} {statistics.mean(v):.4g}" for k, v in keys.items())
        lines.append(f"- `{name}` (last epoch): {cells}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--baseline", default=None)
    p.add_argument("--copy", default=None, help="docs folder to copy the report into")
    p.add_argument("--spa-sizes", default=None, help="SPA Table-1 layout for these sizes (run_dir: root)")
    a = p.parse_args()
    if a.spa_sizes:
        print(spa_table(Path(a.run_dir), [int(n) for n in a.spa_sizes.split(",")]))
        return
    out = Path(a.run_dir)
    write_report(out)
    runs = load_runs(out)
    summary = summarize(runs, expected=config_strategies(load_config(out)))
    print(to_markdown(_metric_table(summary, METRICS)))
    print()
    print(to_markdown(paired_table(paired_differences(runs, "test_error", a.baseline))))
    sig = signals(runs)
    if sig:
        print()
        print(sig)
    if a.copy:
        dest = Path(a.copy)
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("report.md", "report.html", "results.csv", "curves.csv", "summary.json", "config.json"):
            if (out / name).is_file():
                shutil.copy2(out / name, dest / name)
        shutil.copytree(out / "figures", dest / "figures", dirs_exist_ok=True)
        for gallery in out.glob("*/gallery.png"):
            (dest / gallery.parent.name).mkdir(exist_ok=True)
            shutil.copy2(gallery, dest / gallery.parent.name / "gallery.png")


def spa_table(root: Path, sizes: list[int]) -> str:
    """SPA Table-1 layout: rows = training-set size x augmentation, columns SPA / CA / NA accuracy.

    Accuracy = 100 - test error of the final evaluation, mean ± standard error (std / sqrt(n)) over seeds.
    """
    cols = {"SPA (λ=0.1)": "0.1", "CA (λ=0)": "0", "NA (λ=∞)": "inf"}
    head = "| n train | augmentation | " + " | ".join(cols) + " | best |"
    lines = [head, "|---:|:---|---:|---:|---:|:---|"]
    for n in sizes:
        d = root / f"spa-t1-n{n}"
        if not d.is_dir():
            continue
        by = {}
        for r in load_runs(d):
            if r.get("complete"):
                by.setdefault(r["strategy"], []).append(100 * (1 - r["test_error"]))
        for aug in ("flip", "translation"):
            cells, means = [], {}
            for label, lam in cols.items():
                vals = by.get(f"spa:lambda={lam},aug={'flip' if lam == 'inf' else aug}", [])
                if not vals:
                    cells.append("—")
                    continue
                m = statistics.mean(vals)
                se = statistics.stdev(vals) / len(vals) ** 0.5 if len(vals) > 1 else float("nan")
                means[label] = m
                cells.append(f"{m:.2f} ± {se:.2f} (n={len(vals)})")
            best = max(means, key=means.get) if means else "—"
            lines.append(f"| {n} | {aug} | " + " | ".join(cells) + f" | {best.split(' ')[0]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
