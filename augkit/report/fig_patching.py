"""Figures of ``augkit patch``: test accuracy per subgroup and validation curves per method.

Matplotlib only; reads the rows ``augkit.patch_compare`` collects (one per run: per-subgroup
accuracies and the run's per-epoch records), draws nothing it is not given.
"""

from __future__ import annotations

import statistics

from matplotlib.figure import Figure

from .plots import _png

__all__ = ["subgroup_bars_png", "val_curves_png"]


def subgroup_bars_png(rows: list[dict], methods: list[str], names: tuple[str, ...]) -> bytes:
    """Grouped bars: mean test accuracy of each subgroup per method, seed-to-seed std as error bars."""
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        vals = [[r[n] for r in rows if r["strategy"] == m and n in r] for n in names]
        means = [statistics.fmean(v) if v else float("nan") for v in vals]
        stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
        xs = [k + (i - (len(methods) - 1) / 2) * width for k in range(len(names))]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=m)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="accuracy per (class, subgroup)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def val_curves_png(rows: list[dict], methods: list[str]) -> bytes:
    """Validation error per epoch, one line per run, coloured by method (convergence at a glance)."""
    fig = Figure(figsize=(6, 3.4))
    ax = fig.add_subplot()
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    labelled: set[str] = set()
    for r in rows:
        recs = [e for e in r.get("metrics", []) if e.get("val_error") is not None]
        if recs:
            m = r["strategy"]
            xs, ys = [e["epoch"] for e in recs], [100 * e["val_error"] for e in recs]
            ax.plot(xs, ys, color=colours[m], alpha=0.8, label=None if m in labelled else m)
            labelled.add(m)
    ax.set(xlabel="epoch", ylabel="validation error (%)", title="validation error (training skew)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
