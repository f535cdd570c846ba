"""Tables (Markdown and HTML) and the machine-readable outputs: ``results.csv``, ``curves.csv``,
``summary.json``.

Formatting follows the convention of the augmentation literature (AutoAugment, RandAugment,
AugMix tables): error-type metrics as percentages with 2 decimals, ``mean ± std`` over seeds with
n stated once per row.  Choices made here:

* best mean per column in bold (lowest for errors, NLL, ECE, OE and time; highest for
  ``tta_gain``, ``ood_auroc`` and images/s); every mean that ties the best *at the displayed
  precision* is bold, since the table cannot tell them apart;
* ``tta_gain`` is read as error reduction from test-time augmentation (``test_error -
  tta_error``), so higher is better;
* a cell whose metric has fewer values than the row's n says so (``n=2``); a cell from a single
  run is marked ``†`` (std undefined, shown as 0); columns no run reported are left out and named
  in a note.

Every file is written with :mod:`augkit.io`'s atomic writers (temp file, fsync, rename).
"""

from __future__ import annotations

import csv
import io as _stdio
import json
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from augkit import io as aio

from .collect import METRICS

__all__ = [
    "METRIC_INFO",
    "Table",
    "cost_table",
    "fmt",
    "incomplete_table",
    "main_table",
    "paired_table",
    "to_html",
    "to_markdown",
    "write_curves_csv",
    "write_results_csv",
    "write_summary_json",
]


@dataclass(frozen=True)
class MetricInfo:
    label: str
    scale: float  # displayed value = value * scale
    decimals: int
    higher_is_better: bool


METRIC_INFO: dict[str, MetricInfo] = {
    "test_error": MetricInfo("Test error (%)", 100.0, 2, False),
    "top5_error": MetricInfo("Top-5 error (%)", 100.0, 2, False),
    "nll": MetricInfo("NLL", 1.0, 3, False),
    "ece": MetricInfo("ECE (%)", 100.0, 2, False),
    "oe": MetricInfo("OE (%)", 100.0, 2, False),
    "fgsm_error": MetricInfo("FGSM error (%)", 100.0, 2, False),
    "ifgsm_error": MetricInfo("I-FGSM error (%)", 100.0, 2, False),
    "tta_error": MetricInfo("TTA error (%)", 100.0, 2, False),
    "tta_gain": MetricInfo("TTA gain (pp)", 100.0, 2, True),
    "ood_auroc": MetricInfo("OOD AUROC (%)", 100.0, 2, True),
    "train_seconds": MetricInfo("Train time (s)", 1.0, 1, False),
    "images_per_second": MetricInfo("Images/s", 1.0, 0, True),
}
QUALITY_METRICS = METRICS[:10]
COST_METRICS = ("train_seconds", "images_per_second")


@dataclass
class Table:
    """A rendered-agnostic table: cell strings, a bold mask, right-aligned numeric columns."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bold: list[list[bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    code_first_column: bool = True  # strategy names render as code
    text_columns: int = 1  # leading left-aligned columns; the rest are numbers, right-aligned

    def add(self, cells: list[str], bold: list[bool] | None = None) -> None:
        self.rows.append(cells)
        self.bold.append(bold or [False] * len(cells))


def fmt(value: float | None, metric: str) -> str:
    """One number in a metric's display unit and precision."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    info = METRIC_INFO[metric]
    return f"{value * info.scale:.{info.decimals}f}"


def _row_n(s: dict) -> int:
    return max((m["n"] + m["missing"] for m in s.values()), default=0)


def _metric_table(summary: dict, metrics: tuple[str, ...]) -> Table:
    shown = [m for m in metrics if any(s.get(m, {}).get("n", 0) for s in summary.values())]
    table = Table(["Strategy", "n"] + [METRIC_INFO[m].label for m in shown])
    best: dict[str, str | None] = {}
    for m in shown:
        means = [s[m]["mean"] for s in summary.values() if s[m]["mean"] is not None]
        means = [x for x in means if math.isfinite(x)]
        pick = max if METRIC_INFO[m].higher_is_better else min
        best[m] = fmt(pick(means), m) if means else None
        if len(means) > 1 and len({fmt(x, m) for x in means}) == 1:
            best[m] = None  # every row ties: bold would single nothing out
    single = False
    for name, s in summary.items():
        n = _row_n(s)
        cells, bold = [name, str(n)], [False, False]
        for m in shown:
            st = s[m]
            if st["n"] == 0:
                cells.append("—")
                bold.append(False)
                continue
            cell = f"{fmt(st['mean'], m)} ± {fmt(st['std'], m)}"
            if not st["std_defined"]:
                cell += "†"
                single = True
            if st["n"] != n:
                cell += f" (n={st['n']})"
            cells.append(cell)
            bold.append(best[m] is not None and fmt(st["mean"], m) == best[m])
        table.add(cells, bold)
    table.notes.append(
        "Cells are mean ± sample std (ddof = 1) over seeds; n = completed runs. Best mean in bold "
        "(bold alone does not mean the gap exceeds seed noise: see the paired differences)."
    )
    if single:
        table.notes.append("† a single run: no spread estimate, std shown as 0.")
    dropped = [m for m in metrics if m not in shown]
    if dropped:
        table.notes.append(
            "Not measured by any run: " + ", ".join(METRIC_INFO[m].label for m in dropped) + "."
        )
    return table


def main_table(summary: dict) -> Table:
    """Strategies x quality metrics (accuracy, calibration, robustness, TTA, OOD)."""
    return _metric_table(summary, QUALITY_METRICS)


def cost_table(summary: dict) -> Table:
    """Strategies x cost (training wall time and throughput)."""
    return _metric_table(summary, COST_METRICS)


def _verdict(row: dict, higher_is_better: bool) -> str:
    if row["excludes_zero"] is None:
        return "too few pairs"
    if not row["excludes_zero"]:
        return "no (within noise)"
    better = (row["mean"] > 0) == higher_is_better
    return "yes: better" if better else "yes: worse"


def paired_table(paired: dict) -> Table:
    """Paired-by-seed differences against the baseline, with the t-interval."""
    m = paired["metric"]
    info = METRIC_INFO.get(m, MetricInfo(m, 1.0, 4, False))
    unit = " (pp)" if info.scale == 100.0 else ""
    conf = round(100 * paired["confidence"])
    name = info.label.replace(" (%)", "")
    table = Table(
        [
            "Strategy",
            "pairs",
            f"Δ {name}{unit} mean ± std",
            f"{conf}% CI{unit}",
            "p",
            "Exceeds seed noise?",
        ]
    )
    f = lambda v: "—" if v is None else f"{v * info.scale:+.{info.decimals}f}"  # noqa: E731
    for strategy, row in paired["rows"].items():
        ci = "—" if row["ci_low"] is None else f"[{f(row['ci_low'])}, {f(row['ci_high'])}]"
        p = "—" if row["p_value"] is None else f"{row['p_value']:.3g}"
        sd = "—" if row["std"] is None else f"{row['std'] * info.scale:.{info.decimals}f}"
        verdict = _verdict(row, info.higher_is_better)
        table.add(
            [strategy, str(row["n"]), f"{f(row['mean'])} ± {sd}", ci, p, verdict],
            [False, False, False, False, False, verdict.startswith("yes")],
        )
        if row["unmatched_seeds"]:
            table.notes.append(
                f"{strategy}: seeds {row['unmatched_seeds']} lack a partner run "
                "and are not in its difference."
            )
    table.notes.insert(
        0,
        f"Δ = strategy − {paired['baseline']} on the same seed (shared data order and init), averaged over "
        f"matched seeds; {conf}% Student-t interval on the mean difference. The difference exceeds seed "
        "noise when the interval excludes 0.",
    )
    return table


def incomplete_table(incomplete: list[dict], config: dict, out_dir: str | Path | None = None) -> Table:
    """Runs without a final.json (and configured runs never started), with epochs done."""
    total = config.get("epochs")
    table = Table(["Strategy", "seed", "epochs done", "reason", "run directory"], text_columns=5)
    for r in incomplete:
        done = str(r["epochs_done"]) + (f" / {total}" if isinstance(total, int) else "")
        where = r["run_dir"] or "—"
        if out_dir is not None and r["run_dir"]:
            try:
                where = str(Path(r["run_dir"]).relative_to(out_dir))
            except ValueError:
                pass
        table.add([r["strategy"], str(r["seed"]), done, r["reason"], where])
    return table


# ----------------------------------------------------------------------------- renderers
def _md_cell(text: str, code: bool, bold: bool) -> str:
    text = text.replace("|", "\\|")
    if code:
        text = f"`{text}`"
    return f"**{text}**" if bold else text


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown; first column left-aligned, the rest right-aligned."""
    lines = [
        "| " + " | ".join(_md_cell(h, False, False) for h in table.header) + " |",
        "|" + "|".join(":---" if j < table.text_columns else "---:" for j in range(len(table.header))) + "|",
    ]
    for cells, bold in zip(table.rows, table.bold, strict=True):
        md = [
            _md_cell(c, table.code_first_column and j == 0, b)
            for j, (c, b) in enumerate(zip(cells, bold, strict=True))
        ]
        lines.append("| " + " | ".join(md) + " |")
    lines += [""] + [f"_{n}_  " for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def to_html(table: Table) -> str:
    """A plain ``<table>`` (styling comes from the page's inline CSS)."""
    out = [
        "<table>",
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.header) + "</tr></thead>",
    ]
    out.append("<tbody>")
    for cells, bold in zip(table.rows, table.bold, strict=True):
        tds = []
        for j, (c, b) in enumerate(zip(cells, bold, strict=True)):
            text = escape(c)
            if table.code_first_column and j == 0:
                text = f"<code>{text}</code>"
            if b:
                text = f"<strong>{text}</strong>"
            tds.append(f'<td class="{"text" if j < table.text_columns else "num"}">{text}</td>')
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    out += [f'<p class="note">{escape(n)}</p>' for n in table.notes]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- files
_BOOKKEEPING = {
    "strategy",
    "seed",
    "metrics",
    "run_dir",
    "strategy_dir",
    "run_config",
    "epochs_done",
    "complete",
    "reason",
}


def _leaves(prefix: str, value: Any):
    """(name, number-or-None) for every numeric or null leaf; strings and bools are skipped."""
    if value is None:
        yield prefix, None
    elif isinstance(value, bool) or isinstance(value, str):
        return
    elif isinstance(value, (int, float)):
        yield prefix, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(f"{prefix}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(f"{prefix}[{i}]", v)


def _num_text(v: float | int | None) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_results_csv(path: str | Path, runs: list[dict]) -> None:
    """Every number of every complete run's final.json, long format ``strategy,seed,metric,value``.

    Lists become ``name[i]`` and nested dicts ``name.key`` (e.g. ``reliability.count[3]``); a
    null becomes an empty value so the row still says the metric was absent.
    """
    rows = []
    for r in runs:
        if not r.get("complete", True):
            continue
        for k, v in r.items():
            if k in _BOOKKEEPING:
                continue
            for name, x in _leaves(k, v):
                rows.append([r["strategy"], r["seed"], name, _num_text(x)])
    aio.atomic_write_text(path, _csv_text(["strategy", "seed", "metric", "value"], rows))


def write_curves_csv(path: str | Path, runs: list[dict]) -> None:
    """Every number of every run's metrics.jsonl (unfinished runs too), long format."""
    rows = []
    for r in runs:
        for i, rec in enumerate(r["metrics"]):
            epoch = rec.get("epoch", i)
            for k, v in rec.items():
                if k == "epoch":
                    continue
                for name, x in _leaves(k, v):
                    rows.append(
                        [
                            r["strategy"],
                            r["seed"],
                            int(bool(r.get("complete", True))),
                            epoch,
                            name,
                            _num_text(x),
                        ]
                    )
    header = ["strategy", "seed", "complete", "epoch", "metric", "value"]
    aio.atomic_write_text(path, _csv_text(header, rows))


def _finite_or_none(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write null (``stats`` keeps a ``nonfinite`` count beside it)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def write_summary_json(
    path: str | Path,
    summary: dict,
    config: dict,
    incomplete: list[dict],
    paired: dict | None = None,
) -> None:
    """``{"strategies": {name: {metric: {mean, std, n, ...}}}, "config", "incomplete", "paired"}``."""
    doc = {
        "strategies": summary,
        "strategy_order": list(summary),
        "metrics": list(METRICS),
        "config": config,
        "incomplete": incomplete,
        "paired": paired,
    }
    aio.atomic_write_text(path, json.dumps(_finite_or_none(doc), indent=2, allow_nan=False) + "\n")
