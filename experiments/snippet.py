"""Markdown for docs/RESULTS.md from a finished compare directory (the numbers are never typed by hand).

    python experiments/snippet.py runs/tables/mixing [--baseline none] [--copy docs/results/mixing]

(Re)writes the directory's report (``augkit.experiment.report``, method figures included), then
prints the compact table (test error, NLL, ECE, OE, FGSM error, train time), the paired
differences of test error against ``--baseline``, and the strategies' own logged signals
averaged over the last epoch.

``--copy DEST`` copies what a table needs to be regenerated, in the same layout: the report files
(md, html, csv, json, figures), the compare ``config.json``, every strategy's ``gallery.png``, and
of every run its ``config.json``, ``metrics.jsonl``, ``final.json`` and the small artefacts its
strategy declares (``StrategyDef.artefacts``).  Checkpoints and other ``*.pt`` files are never
copied.  ``python experiments/snippet.py DEST`` then prints the same tables from the copy.

A directory without finished runs is refused (exit code 2, nothing written): rewriting its report
would replace committed summaries with empty ones.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from augkit.experiment import method_specs, report
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
REPORT_FILES = ("report.md", "report.html", "results.csv", "curves.csv", "summary.json", "config.json")
# curves.csv repeats every run's metrics.jsonl in one table; at thousands of epochs (SPA at n = 100:
# 2,000 epochs x 9 runs, 8 MB) it is left out of a copy -- `augkit report DEST` rewrites it
MAX_DERIVED_BYTES = 1_000_000
RUN_FILES = ("config.json", "metrics.jsonl", "final.json")
NEVER_COPIED = ("checkpoint.pt",)


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


def finished_runs(out: Path) -> list[dict]:
    """The runs of ``out``; ``SystemExit(2)`` before anything is written when none has finished."""
    try:
        runs = load_runs(out)
    except ValueError as e:
        sys.exit(_refuse(str(e)))
    if not any(r.get("complete") for r in runs):
        where = f"{str(out)!r} has no finished run (<strategy>/seed<k>/final.json)"
        sys.exit(_refuse(f"{where}; {len(runs)} unfinished"))
    return runs


def _refuse(why: str) -> int:
    print(
        f"snippet.py: {why}; nothing written (the report is not overwritten with empty tables)",
        file=sys.stderr,
    )
    return 2


def tables(
    out: Path, runs: list[dict], baseline: str | None, paired: tuple[str, ...] = ("test_error",)
) -> str:
    """The compact metric table, the paired differences of each ``paired`` metric and the logged
    signals, as Markdown."""
    summary = summarize(runs, expected=config_strategies(load_config(out)))
    parts = [to_markdown(_metric_table(summary, METRICS))]
    parts += [to_markdown(paired_table(paired_differences(runs, m, baseline))) for m in paired]
    sig = signals(runs)
    return "\n\n".join([*parts, sig] if sig else parts)


def run_files(out: Path, runs: list[dict]) -> list[Path]:
    """Paths (relative to ``out``) of every run's small files: logs, results, artefacts, search costs."""
    specs = method_specs(list(dict.fromkeys(r["strategy"] for r in runs)))
    files = []
    for r in runs:
        spec = specs.get(r["strategy"])
        rdir = Path(r["run_dir"])
        for name in (*RUN_FILES, *(spec.artefacts if spec else ())):
            path = rdir / name
            if path.is_file() and path.name not in NEVER_COPIED:
                files.append(path.relative_to(out))
        # a search stage's done.json: its cache key and cost (wall seconds, CPU minutes), no weights
        files += sorted(p.relative_to(out) for p in rdir.glob("*/**/done.json"))
    return files


def copy_results(out: Path, runs: list[dict], dest: Path) -> None:
    """Copy the report, the galleries and every run's small files from ``out`` into ``dest``."""
    rel = [Path(n) for n in REPORT_FILES if (out / n).is_file()
           and (n != "curves.csv" or (out / n).stat().st_size <= MAX_DERIVED_BYTES)]  # fmt: skip
    rel += [g.relative_to(out) for g in sorted(out.glob("*/gallery.png"))]
    rel += run_files(out, runs)
    for path in rel:
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out / path, dest / path)
    if (out / "figures").is_dir():
        shutil.copytree(out / "figures", dest / "figures", dirs_exist_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--baseline", default=None)
    p.add_argument("--copy", default=None, help="docs folder to copy the report and the run files into")
    p.add_argument(
        "--paired", default="test_error", help="comma-separated metrics to pair against the baseline"
    )
    p.add_argument("--spa-sizes", default=None, help="SPA Table-1 layout for these sizes (run_dir: root)")
    a = p.parse_args()
    if a.spa_sizes:
        print(spa_table(Path(a.run_dir), [int(n) for n in a.spa_sizes.split(",")]))
        return
    out = Path(a.run_dir)
    runs = finished_runs(out)
    report(out)
    print(tables(out, runs, a.baseline, tuple(a.paired.split(","))))
    if a.copy and Path(a.copy).resolve() != out.resolve():
        copy_results(out, runs, Path(a.copy))


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
