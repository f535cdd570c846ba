"""Report figures, each returned as PNG bytes.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with an explicit Agg canvas: no
``pyplot``, so no global figure registry, no GUI backend and no ``plt.show``, and the caller's own
matplotlib backend is left alone.  PNGs carry no ``Software`` metadata, so the same runs give the
same bytes.

* learning curves: mean over seeds with a ±1 sample-std band (airbench-style reporting);
* reliability diagrams after Guo et al., 2017 ("On Calibration of Modern Neural Networks",
  fig. 1): per-bin accuracy bars against the diagonal, the gap to the bin's mean confidence
  drawn as a hatched bar, bins pooled over seeds weighted by count, pooled ECE in the title;
* per-class error as grouped bars (lines when there are more than 20 classes, where bars
  become unreadable);
* cost: training seconds and images/s with ±std error bars.
"""

from __future__ import annotations

import io
import math
import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .collect import curve_stats, extra_curve_keys, per_class_stats, pooled_reliability

__all__ = [
    "cost_png",
    "dynamics_png",
    "learning_curves_png",
    "per_class_png",
    "reliability_png",
]

_DPI = 100
_MAX_DYNAMICS = 8  # panels of strategy-specific signals per figure


def _colors(names: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _wrap(name: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(name, width)) or name


def _strategies(runs: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["strategy"] for r in runs))


def _band(ax, curve: dict, color, label: str, scale: float = 1.0) -> None:
    x = curve["epoch"]
    m = [v * scale for v in curve["mean"]]
    s = [v * scale for v in curve["std"]]
    ax.plot(x, m, color=color, label=label, lw=1.6, marker="." if len(x) < 30 else None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.fill_between(
        x,
        [a - b for a, b in zip(m, s, strict=True)],
        [a + b for a, b in zip(m, s, strict=True)],
        color=color,
        alpha=0.2,
        lw=0,
    )


def learning_curves_png(runs: list[dict]) -> bytes | None:
    """Test error (%) and train loss vs epoch; mean over complete seeds, ±std band."""
    names = _strategies(runs)
    colors = _colors(names)
    panels = [("test_error", "Test error (%)", 100.0), ("train_loss", "Train loss", 1.0)]
    curves = {key: curve_stats(runs, key) for key, _, _ in panels}
    if not any(curves.values()):
        return None
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        for name in names:
            if name in curves[key]:
                c = curves[key][name]
                _band(ax, c, colors[name], f"{name} (n={max(c['n'])})", scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if not curves[key]:
            ax.text(0.5, 0.5, f"no run logged {key}", ha="center", va="center", transform=ax.transAxes)
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Learning curves (mean ± std over seeds)")
    fig.tight_layout()
    return _png(fig)


def reliability_png(runs: list[dict]) -> bytes | None:
    """One reliability diagram per strategy, bins pooled over seeds."""
    rel = pooled_reliability(runs)
    if not rel:
        return None
    k = len(rel)
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=(3.4 * ncols, 3.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, r) in zip(axes, rel.items(), strict=False):
        edges = r["edges"]
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        idx = [i for i, c in enumerate(r["count"]) if c]
        lefts = [edges[i] for i in idx]
        w = [widths[i] for i in idx]
        acc = [r["accuracy"][i] for i in idx]
        conf = [r["confidence"][i] for i in idx]
        ax.bar(
            lefts, acc, width=w, align="edge", color="#3b6fb6", edgecolor="black", lw=0.5, label="accuracy"
        )
        ax.bar(
            lefts,
            [abs(c - a) for a, c in zip(acc, conf, strict=True)],
            bottom=[min(a, c) for a, c in zip(acc, conf, strict=True)],
            width=w,
            align="edge",
            color="#e0574f",
            alpha=0.35,
            edgecolor="#b02a22",
            hatch="//",
            lw=0.5,
            label="gap to confidence",
        )
        ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ece = "—" if r["ece"] is None else f"{100 * r['ece']:.2f}%"
        ax.set_title(f"{_wrap(name)}\nECE {ece} (pooled, {r['seeds']} seeds)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[k:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def per_class_png(runs: list[dict]) -> bytes | None:
    """Per-class test error (%) per strategy, mean ± std over seeds."""
    pcs = per_class_stats(runs)
    if not pcs:
        return None
    names = list(pcs)
    colors = _colors(_strategies(runs))
    k = max(len(v) for v in pcs.values())
    fig = Figure(figsize=(min(18, max(7, 0.45 * k * max(1, len(names)) / 2 + 3)), 4.2))
    ax = fig.subplots()
    if k <= 20:
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            st = pcs[name]
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(st))]
            ax.bar(
                xs,
                [100 * (s["mean"] or 0.0) for s in st],
                width=width,
                yerr=[100 * (s["std"] or 0.0) for s in st],
                color=colors[name],
                label=name,
                capsize=2,
                error_kw={"lw": 0.8},
            )
        ax.set_xticks(range(k))
    else:
        for name in names:
            st = pcs[name]
            ax.plot(
                range(len(st)), [100 * (s["mean"] or 0.0) for s in st], ".-", color=colors[name], label=name
            )
    ax.set_xlabel("class")
    ax.set_ylabel("test error (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Per-class test error (mean ± std over seeds)")
    fig.tight_layout()
    return _png(fig)


def cost_png(summary: dict) -> bytes | None:
    """Training wall time and throughput per strategy, mean ± std."""
    panels = [("train_seconds", "training time (s)"), ("images_per_second", "images / s")]
    names = [n for n in summary if any(summary[n][m]["n"] for m, _ in panels)]
    if not names:
        return None
    colors = _colors(list(summary))
    fig = Figure(figsize=(max(7, 1.4 * len(names) + 4), 4))
    axes = fig.subplots(1, 2)
    for ax, (m, label) in zip(axes, panels, strict=True):
        means = [summary[n][m]["mean"] or 0.0 for n in names]
        stds = [summary[n][m]["std"] or 0.0 for n in names]
        ax.bar(range(len(names)), means, yerr=stds, color=[colors[n] for n in names], capsize=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8, rotation=25, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Cost (mean ± std over seeds)")
    fig.tight_layout()
    return _png(fig)


def dynamics_png(runs: list[dict], strategy: str) -> bytes | None:
    """The strategy's own metrics.jsonl signals (selection rates, policy stats, …) vs epoch."""
    keys = extra_curve_keys(runs, strategy)[:_MAX_DYNAMICS]
    if not keys:
        return None
    mine = [r for r in runs if r["strategy"] == strategy]
    ncols = min(4, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(max(6.5, 3.4 * ncols), 2.9 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys, strict=False):
        c = curve_stats(mine, key, complete_only=False).get(strategy)
        if c:
            _band(ax, c, "#3b6fb6", key)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(
        _wrap(f"{strategy}: logged signals (mean ± std over seeds, unfinished runs included)", 70),
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)
