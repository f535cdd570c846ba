"""Did the runs converge, and what does the comparison say?  Plain sentences for the top of a report.

Convergence (the under-training guard) is judged on the *validation* split only — the test set
decides nothing.  A run counts as converged when, over the last ``TAIL`` (20 %) of its epochs,

its validation error is no longer falling beyond noise: the least-squares slope of the
validation-error evaluations in the tail, times the tail's length in epochs, is a predicted
drop no larger than the noise, where the noise is the larger of the binomial standard error
of one evaluation (``sqrt(p (1 - p) / n_val)``) and the seed-to-seed standard deviation of
the strategy's last validation error.

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

__all__ = ["LOSS_ABS", "LOSS_REL", "TAIL", "convergence", "run_convergence", "verdict_lines"]

TAIL = 0.2
LOSS_REL = 0.10
LOSS_ABS = 0.01
MIN_POINTS = 3


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def run_convergence(metrics: list[dict], n_val: int | None, seed_noise: float = 0.0) -> dict[str, Any]:
    """The guard for one run's per-epoch records; ``status`` is converged | not converged | unknown."""
    if not metrics:
        return {"status": "unknown", "why": "no epochs recorded"}
    epochs = int(metrics[-1]["epoch"])
    start = epochs - max(1.0, TAIL * epochs)
    tail = [r for r in metrics if r["epoch"] >= start]
    pts = [(float(r["epoch"]), float(r["val_error"])) for r in tail if r.get("val_error") is not None]
    if not n_val or len(pts) < MIN_POINTS:
        why = "no validation split" if not n_val else f"{len(pts)} validation evaluations in the last 20 %"
        return {"status": "unknown", "why": why}
    xs, ys = zip(*pts, strict=True)
    drop = -_slope(list(xs), list(ys)) * (xs[-1] - xs[0])
    p = min(max(ys[-1], 1e-6), 1 - 1e-6)
    noise = max(math.sqrt(p * (1 - p) / n_val), seed_noise)
    losses = [float(r["train_loss"]) for r in tail if r.get("train_loss") is not None]
    loss_drop = losses[0] - losses[-1] if len(losses) >= 2 else 0.0
    loss_flat = loss_drop <= max(LOSS_REL * losses[0], LOSS_ABS) if losses else True
    val_flat = drop <= noise
    why = "" if val_flat else (f"validation error still falling ({100 * drop:.2f} pp over the last 20 % "
                               f"> noise {100 * noise:.2f})")  # fmt: skip
    note = "" if loss_flat else f"training loss still falling ({losses[0]:.4g} -> {losses[-1]:.4g})"
    return {"status": "converged" if val_flat else "not converged", "why": why, "note": note,
            "val_drop": drop, "noise": noise, "loss_drop": loss_drop}  # fmt: skip


def convergence(runs: list[dict], n_val: int | None) -> dict[str, dict[str, Any]]:
    """Per strategy: ``status`` (all converged / some did not / unknown) and the runs' reasons."""
    by: dict[str, list[dict]] = {}
    for r in runs:
        if r.get("complete", True):
            by.setdefault(r["strategy"], []).append(r)
    out = {}
    for name, rs in by.items():
        curves = [r.get("metrics") or [] for r in rs]
        last = [m[-1]["val_error"] for m in curves if m and m[-1].get("val_error") is not None]
        noise = statistics.stdev(last) if len(last) >= 2 else 0.0
        per = [run_convergence(r.get("metrics") or [], n_val, noise) for r in rs]
        states = {p["status"] for p in per}
        status = next(s for s in ("not converged", "unknown", "converged") if s in states)
        reasons = sorted({p["why"] for p in per if p["why"]})
        notes = sorted({p["note"] for p in per if p.get("note")})
        out[name] = {"status": status, "runs": len(per), "why": reasons, "notes": notes}
    return out


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
