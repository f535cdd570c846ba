"""``write_report``: read a compare run directory, write every report file atomically.

Outputs (all under ``<out>/``): ``summary.json``, ``results.csv`` (every number of every
final.json), ``curves.csv`` (every number of every metrics.jsonl, unfinished runs included),
``figures/*.png``, ``report.md`` (links into ``figures/``) and ``report.html`` (self-contained:
images as base64 data URIs, inline CSS, no external reference).  ``report.html`` is written last,
so its presence means the rest is in place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from augkit import io as aio

from . import plots
from .budget import budget_line, budget_sensitivity, load_probe
from .collect import (
    config_strategies,
    incomplete_runs,
    load_config,
    load_runs,
    paired_differences,
    strategy_dirs,
    summarize,
)
from .context import MethodSpec, ReportContext, ReportFigure
from .html import render_html
from .markdown import render_markdown
from .tables import write_curves_csv, write_results_csv, write_summary_json
from .verdict import convergence, verdict_lines

__all__ = ["MethodSpec", "ReportContext", "ReportFigure", "build_context", "write_report"]


def _method_figures(
    runs: list[dict], names: list[str], out: Path, methods: Mapping[str, MethodSpec]
) -> dict[str, ReportFigure]:
    """Each strategy's own figures, through the figure function its declaration names."""
    found: dict[str, ReportFigure] = {}
    for name in names:
        spec = methods.get(name)
        if spec is None or spec.figures is None:
            continue
        for fig in spec.figures(runs, name, methods, out):
            found.setdefault(fig.name, fig)  # peers (e.g. SPA with CA/NA) may draw the same figure
    return found


def _val_size(config: dict) -> int | None:
    """Validation images of the comparison: recorded by compare, else a count given as ``val``."""
    n = (config.get("data") or {}).get("val")
    if n is None and isinstance(config.get("val"), (int, float)) and config["val"] >= 1:
        n = int(config["val"])  # written before compare recorded the split sizes
    return n


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "strategy"


def build_context(out_dir: str | Path, methods: Mapping[str, MethodSpec] | None = None) -> ReportContext:
    """Load runs, summarise them and draw the figures (nothing is written).

    ``methods`` (strategy spec -> :class:`MethodSpec`) comes from the experiment layer; without
    it the report has no method-specific figures.
    """
    out = Path(out_dir)
    config = load_config(out)
    runs = load_runs(out)
    summary = summarize(runs, expected=config_strategies(config))
    ctx = ReportContext(
        out_dir=out,
        config=config,
        runs=runs,
        summary=summary,
        paired=paired_differences(runs, "test_error"),
        incomplete=incomplete_runs(runs, config),
    )
    drawn = [
        ("learning_curves", "Learning curves", plots.learning_curves_png(runs),
         "Mean over completed seeds; the band is ±1 sample std."),
        ("reliability", "Reliability diagrams", plots.reliability_png(runs),
         "Per-bin accuracy vs mean confidence, test predictions of all seeds pooled; "
         "hatched bars show the gap to perfect calibration (the diagonal)."),
        ("per_class_error", "Per-class error", plots.per_class_png(runs),
         "Mean ± std over seeds of each class's test error."),
        ("cost", "Cost", plots.cost_png(summary), "Training wall-clock time and throughput, mean ± std."),
    ]  # fmt: skip
    for key, title, png, caption in drawn:
        if png is not None:
            ctx.figures[key] = ReportFigure(f"{key}.png", title, png, caption)
    dirs = strategy_dirs(runs)
    for name in dirs:
        png = plots.dynamics_png(runs, name)
        if png is not None:
            ctx.dynamics[name] = ReportFigure(
                f"dynamics_{_safe(dirs[name])}.png", f"{name}: logged signals", png
            )
        gallery = out / dirs[name] / "gallery.png"
        if gallery.is_file():
            ctx.galleries[name] = gallery
    ctx.method = _method_figures(runs, list(dirs), out, methods or {})
    ctx.convergence = convergence(runs, _val_size(config))
    ctx.budget = budget_sensitivity(runs, *load_probe(out))
    ctx.verdict = [*verdict_lines(runs, summary), budget_line(ctx.budget)]
    return ctx


def write_report(out_dir: str | Path, methods: Mapping[str, MethodSpec] | None = None) -> dict[str, Path]:
    """Write the report of the compare run in ``out_dir``; return ``{relative name: path}``."""
    out = Path(out_dir)
    ctx = build_context(out, methods)
    paths: dict[str, Path] = {}
    for fig in [*ctx.figures.values(), *ctx.dynamics.values(), *ctx.method.values()]:
        p = out / "figures" / fig.name
        aio.atomic_write_bytes(p, fig.png)
        paths[f"figures/{fig.name}"] = p
    paths["summary.json"] = out / "summary.json"
    write_summary_json(paths["summary.json"], ctx.summary, ctx.config, ctx.incomplete, ctx.paired)
    paths["results.csv"] = out / "results.csv"
    write_results_csv(paths["results.csv"], ctx.runs)
    paths["curves.csv"] = out / "curves.csv"
    write_curves_csv(paths["curves.csv"], ctx.runs)
    paths["report.md"] = out / "report.md"
    aio.atomic_write_text(paths["report.md"], render_markdown(ctx))
    paths["report.html"] = out / "report.html"
    aio.atomic_write_text(paths["report.html"], render_html(ctx))
    return paths
