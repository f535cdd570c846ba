"""Did the runs converge, and what does the comparison say?  Plain sentences for the top of a report.

Convergence (the under-training guard) is judged on the *validation* split only — the test set
decides nothing — and per strategy, because the comparison is of strategy means.  Over the last
``TAIL`` (20 %) of each run's epochs the least-squares slope of its validation-error evaluations,
times the tail's length, is the run's predicted *drop*.  A strategy is still improving when the
mean drop over its k runs exceeds both

* its one-sided 95 % bound: ``t_{0.95, k-1} x sd(drops) / sqrt(k)`` — the drops are tested over
  seeds like every other paired quantity in the report (one run: the fit's own residual
  standard error, with n - 2 degrees of freedom); and
* the seed noise of the comparison: the seed-to-seed standard deviation of the last validation
  error divided by ``sqrt(k)``, the resolution of the strategy's mean.

Why not session 3's rule (every run's drop below the binomial error of *one* evaluation): the
evaluations of one run are strongly correlated (same validation images, a slowly moving model:
residual scatter 0.14-0.45 pp against a binomial 1.1 pp on 1,000 images), while the slopes vary
from seed to seed by more than either — so a per-run rule misfires on whichever seed happens to
end low (1 of 3 TrivialAugment runs of the main job, docs/RESULTS.md §8b) and cannot see a
small drop shared by every seed.  A short run still fails loudly: its drop is many pp.  The price:
with 3 seeds the test is weak when seeds disagree wildly (one flat, two falling by 8 pp passes);
such a strategy shows a large seed std in the results table instead.

The training loss is checked too, but it only adds a *note*: a loss that fell by more than
``LOSS_REL`` (10 %) of its value at the start of the tail and more than ``LOSS_ABS`` (0.01
nats) is reported as "training loss still falling".  Why a note and not the banner: under the
default cosine schedule the learning rate anneals to 0 over exactly that tail, and the loss on
*augmented* batches keeps falling as it does (measured on 1,000 Fashion-MNIST images x 200
epochs, docs/RESULTS.md §9: 10-44 % for every augmented strategy) while the validation error is
flat — more of the same schedule would fit the training batches better without changing what
the comparison reports.  The banner answers "would a longer budget change these numbers?",
which the held-out error measures and the training loss does not.

A tail with fewer than three validation evaluations, or a run without a validation split,
is "unknown", which the report says as plainly as "not converged".  A strategy converged when
every complete run of it did.

The verdict ranks strategies by mean test error (the final measurement), and for each other
strategy reads the paired same-seed difference to the best: worse when its 95 % interval
excludes zero, within noise otherwise; it also states the training cost per point of accuracy
gained over the baseline (``none`` when present).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .collect import paired_differences

__all__ = [
    "LOSS_ABS",
    "LOSS_REL",
    "ONE_SIDED",
    "TAIL",
    "convergence",
    "run_convergence",
    "strategy_convergence",
    "verdict_lines",
]

TAIL = 0.2
ONE_SIDED = 0.95
LOSS_REL = 0.10
LOSS_ABS = 0.01
MIN_POINTS = 3


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Predicted drop over the span and its residual standard error (inf with 2 points)."""
    span, slope = xs[-1] - xs[0], _slope(xs, ys)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    rss = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    se = span * math.sqrt(rss / (len(xs) - 2) / sxx) if len(xs) > 2 and sxx else math.inf
    return -slope * span, se


def run_convergence(metrics: list[dict], n_val: int | None) -> dict[str, Any]:
    """One run's tail: predicted validation drop and its residual SE, plus the training-loss note.

    ``status`` is "measured" or "unknown"; whether the drop matters is decided per strategy by
    :func:`strategy_convergence`, which pools the runs.
    """
    if not metrics:
        return {"status": "unknown", "why": "no epochs recorded", "note": ""}
    epochs = int(metrics[-1]["epoch"])
    start = epochs - max(1.0, TAIL * epochs)
    tail = [r for r in metrics if r["epoch"] >= start]
    pts = [(float(r["epoch"]), float(r["val_error"])) for r in tail if r.get("val_error") is not None]
    if not n_val or len(pts) < MIN_POINTS:
        why = "no validation split" if not n_val else f"{len(pts)} validation evaluations in the last 20 %"
        return {"status": "unknown", "why": why, "note": ""}
    xs, ys = (list(v) for v in zip(*pts, strict=True))
    drop, se = _fit(xs, ys)
    losses = [float(r["train_loss"]) for r in tail if r.get("train_loss") is not None]
    loss_drop = losses[0] - losses[-1] if len(losses) >= 2 else 0.0
    loss_flat = loss_drop <= max(LOSS_REL * losses[0], LOSS_ABS) if losses else True
    note = "" if loss_flat else f"training loss still falling ({losses[0]:.4g} -> {losses[-1]:.4g})"
    return {"status": "measured", "why": "", "note": note, "val_drop": drop, "drop_se": se,
            "points": len(xs), "last_val": ys[-1], "loss_drop": loss_drop}  # fmt: skip


def strategy_convergence(per: list[dict]) -> dict[str, Any]:
    """Pool one strategy's runs: still improving when the mean drop beats its bound and the seed noise."""
    from scipy.stats import t

    falling = [p["note"].removeprefix("training loss still falling ") for p in per if p.get("note")]
    notes = [f"training loss still falling in {len(falling)} of {len(per)} runs: {', '.join(falling)}"]
    notes = notes if falling else []
    unknown = sorted({p["why"] for p in per if p["status"] == "unknown"})
    if unknown:
        return {"status": "unknown", "runs": len(per), "why": unknown, "notes": notes}
    k, drops = len(per), [p["val_drop"] for p in per]
    drop = statistics.fmean(drops)
    if k >= 2:
        bound = float(t.ppf(ONE_SIDED, k - 1)) * statistics.stdev(drops) / math.sqrt(k)
        seed = statistics.stdev([p["last_val"] for p in per]) / math.sqrt(k)
    else:
        bound, seed = float(t.ppf(ONE_SIDED, per[0]["points"] - 2)) * per[0]["drop_se"], 0.0
    bar = max(bound, seed)
    why = [] if drop <= bar else [
        f"validation error still falling: mean {100 * drop:.2f} pp over the last 20 % > {100 * bar:.2f} pp "
        f"(max of the one-sided 95 % bound {100 * bound:.2f} and seed noise {100 * seed:.2f}; runs: "
        + ", ".join(f"{100 * d:.2f}" for d in drops) + " pp)"]  # fmt: skip
    return {"status": "not converged" if why else "converged", "runs": k, "why": why, "notes": notes,
            "val_drop": drop, "bar": bar}  # fmt: skip


def convergence(runs: list[dict], n_val: int | None) -> dict[str, dict[str, Any]]:
    """Per strategy: ``status`` (converged / not converged / unknown), the reasons and the notes."""
    by: dict[str, list[dict]] = {}
    for r in runs:
        if r.get("complete", True):
            by.setdefault(r["strategy"], []).append(r)
    return {name: strategy_convergence([run_convergence(r.get("metrics") or [], n_val) for r in rs])
            for name, rs in by.items()}  # fmt: skip


def _pp(v: float) -> str:
    return f"{100 * v:.2f}"


def verdict_lines(runs: list[dict], summary: dict, baseline: str | None = "none") -> list[str]:
    """The verdict as sentences: best strategy, who is within noise of it, who is worse, cost per point."""
    means = {s: v["test_error"]["mean"] for s, v in summary.items() if v["test_error"]["n"]}
    if not means:
        return ["No complete run yet: no verdict."]
    best = min(means, key=means.get)
    lines = [f"Lowest mean test error: `{best}` ({_pp(means[best])} %)."]
    paired = paired_differences(runs, "test_error", best)["rows"]
    same = [s for s, r in paired.items() if r["excludes_zero"] is False]
    worse = [s for s, r in paired.items() if r["excludes_zero"]]
    unknown = [s for s, r in paired.items() if r["excludes_zero"] is None]
    if same:
        lines.append("Within seed noise of it (paired 95 % interval of the difference includes 0): "
                     + ", ".join(f"`{s}` (+{_pp(paired[s]['mean'])} pp)" for s in same) + ".")  # fmt: skip
    if worse:
        lines.append("Worse than it (interval excludes 0): "
                     + ", ".join(f"`{s}` (+{_pp(paired[s]['mean'])} pp)" for s in worse) + ".")  # fmt: skip
    if unknown:
        lines.append("Too few matched seeds to tell: " + ", ".join(f"`{s}`" for s in unknown) + ".")
    lines += _cost_lines(summary, means, baseline)
    return lines


def _cost_lines(summary: dict, means: dict, baseline: str | None) -> list[str]:
    if baseline not in means:
        return []
    base_err, base_t = means[baseline], summary[baseline]["train_seconds"]["mean"]
    out = []
    for s, err in means.items():
        gain = 100 * (base_err - err)
        t = summary[s]["train_seconds"]["mean"]
        if s == baseline or gain <= 0 or t is None or base_t is None:
            continue
        out.append(f"`{s}` gains {gain:.2f} pp over `{baseline}` for {t - base_t:+.0f} s of training "
                   f"({(t - base_t) / gain:+.0f} s per point).")  # fmt: skip
    return out
