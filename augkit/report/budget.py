"""Would a longer budget change the comparison?  The half-budget probe, read by seed pairs.

Why a probe: the tail test in :mod:`.verdict` asks whether a run's validation error was still
falling at the end, but under the default cosine schedule the learning rate anneals to zero
over that tail, so every run's curve flattens whatever its budget.  At 6,000 Fashion-MNIST
images and 34 epochs every run passed that test, yet doubling the budget moved RandAugment's
difference to ``none`` by 2.4 pp and TrivialAugment's by 1.8 pp (docs/RESULTS.md §9b): the
table measured the budget.  Nothing in one run's curve can show that; training again with
another budget can.

``compare`` (unless ``--budget-check off``) therefore trains every (strategy, seed) a second
time with *half* the epochs — same data, seeds, schedule shape and evaluation — in
``<out>/budget-half/``, itself an ordinary compare directory.  With ``v`` the final
validation error (the test set decides nothing) and ``ref`` the reference strategy (``none``
when present, else the first strategy listed), per seed ``i``:

* ``gain_i = v_half(s, i) - v_full(s, i)``: what the second half of the budget bought ``s``;
* ``moved_i = [v_full(s, i) - v_full(ref, i)] - [v_half(s, i) - v_half(ref, i)]``: how far the
  second half moved the difference the comparison reports.

A strategy is *budget-sensitive* when the Student-t 95 % interval of the mean ``moved_i``
(paired over seeds, like every interval in the report) excludes zero: its difference to the
reference was still moving when training stopped.  The report then shows a banner.

Choices and their limits: halving is the cheapest probe (1.5x the compute of the comparison)
and, with the diminishing returns of longer training, a difference that did not move from T/2
to T is unlikely to move from T to 2T; the converse is not guaranteed — a difference can
settle between T/2 and T and stay put after — so a flag says "check with a longer budget"
rather than "wrong".  A strategy's own ``gain`` is reported but raises no flag: a baseline and
a method that both improve by the same amount leave the comparison unchanged.  Fewer than two
seed pairs, no validation split or no probe: "not measured", which the verdict says.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from .collect import load_config, load_runs

__all__ = ["PROBE_DIR", "budget_banner", "budget_line", "budget_sensitivity", "load_probe", "probe_mismatch"]

PROBE_DIR = "budget-half"


# config keys a probe may differ in: its budget, where and how it ran, and which strategies
_PROBE_FREE = frozenset({"epochs", "eval_every", "budget", "strategies", "budget_check", "out", "jobs",
                         "backend", "ray_address", "threads", "data_dir", "command", "torch", "started",
                         "loader", "loader_workers"})  # fmt: skip


def probe_mismatch(main: dict, probe: dict) -> list[str]:
    """Why ``probe`` (a config.json) is not a shorter run of ``main``'s comparison: [] when it is."""
    keys = sorted((set(main) & set(probe)) - _PROBE_FREE)  # a key one version lacks: its default then
    why = [f"{k}: {probe.get(k)!r} in the probe, {main.get(k)!r} here"
           for k in keys if main.get(k) != probe.get(k)]  # fmt: skip
    e_main, e_probe = ((c.get("budget") or {}).get("epochs") for c in (main, probe))
    if not (isinstance(e_main, int) and isinstance(e_probe, int) and e_probe < e_main):
        why.append(f"budget: {e_probe!r} epochs in the probe, {e_main!r} here (the probe must be shorter)")
    return why


def load_probe(out_dir: str | Path) -> tuple[list[dict] | None, str]:
    """The half-budget runs of the comparison in ``out_dir`` and, when there are none, why not."""
    out = Path(out_dir)
    probe = out / PROBE_DIR
    if not (probe / "config.json").is_file():
        return None, "no half-budget probe"
    why = probe_mismatch(load_config(out), load_config(probe))
    if why:
        return None, f"{PROBE_DIR}/ is not a shorter run of this comparison ({'; '.join(why)})"
    return load_runs(probe), ""


def _final_val(run: dict) -> float | None:
    """The validation error measured at the run's last epoch (None when it was not)."""
    recs = run.get("metrics") or []
    if not recs or recs[-1].get("val_error") is None:
        return None
    return float(recs[-1]["val_error"])


def _by_seed(runs: list[dict]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in runs:
        v = _final_val(r) if r.get("complete", True) else None
        if v is not None:
            out.setdefault(r["strategy"], {})[int(r["seed"])] = v
    return out


def _interval(xs: list[float]) -> tuple[float, float, float]:
    from scipy.stats import t

    m = statistics.fmean(xs)
    h = float(t.ppf(0.975, len(xs) - 1)) * statistics.stdev(xs) / math.sqrt(len(xs))
    return m, m - h, m + h


def _reference(names: list[str]) -> str | None:
    return "none" if "none" in names else (names[0] if names else None)


def budget_sensitivity(runs: list[dict], probe: list[dict] | None, why: str = "") -> dict[str, Any]:
    """``{"reference", "strategies": {name: {status, gain, moved, pairs}}, "sensitive": [...]}``.

    ``status`` is "stable", "budget-sensitive" or "not measured"; ``gain`` and ``moved`` are
    (mean, low, high) of the per-seed quantities in the module docstring, as error fractions.
    """
    full = _by_seed(runs)
    names = list(dict.fromkeys(r["strategy"] for r in runs))
    ref = _reference(names)
    if probe is None or ref is None:
        why = why or ("no half-budget probe" if probe is None else "no runs")
        return {"reference": ref, "why": why, "sensitive": [],
                "strategies": {s: {"status": "not measured"} for s in names}}  # fmt: skip
    half = _by_seed(probe)
    out: dict[str, dict] = {}
    for s in names:
        pools = (full.get(s, {}), half.get(s, {}), full.get(ref, {}), half.get(ref, {}))
        seeds = sorted(set.intersection(*(set(p) for p in pools)))
        if len(seeds) < 2:
            out[s] = {"status": "not measured", "pairs": len(seeds)}
            continue
        f, h, fr, hr = full[s], half[s], full[ref], half[ref]
        gain = _interval([h[i] - f[i] for i in seeds])
        row: dict[str, Any] = {"status": "stable", "pairs": len(seeds), "gain": gain}
        if s != ref:
            moved = _interval([(f[i] - fr[i]) - (h[i] - hr[i]) for i in seeds])
            row["moved"] = moved
            row["status"] = "budget-sensitive" if moved[1] > 0 or moved[2] < 0 else "stable"
        out[s] = row
    sensitive = [s for s, v in out.items() if v["status"] == "budget-sensitive"]
    return {"reference": ref, "why": "", "sensitive": sensitive, "strategies": out}


def _pp(v: tuple[float, float, float]) -> str:
    m, lo, hi = (100 * x for x in v)
    return f"{m:+.2f} pp [{lo:+.2f}, {hi:+.2f}]"


def budget_banner(b: dict[str, Any]) -> str | None:
    """The warning for a comparison whose differences were still moving with the budget."""
    if not b.get("sensitive"):
        return None
    parts = [f"{s} {_pp(b['strategies'][s]['moved'])}" for s in b["sensitive"]]
    return (f"Warning: the comparison depends on the training budget — from half the epochs to the full "
            f"budget the difference to {b['reference']} (validation error) moved beyond seed noise for: "
            + "; ".join(parts) + ". A longer budget may move it further: rerun with more --epochs before "
            "reading the ranking.")  # fmt: skip


def budget_line(b: dict[str, Any]) -> str:
    """One verdict sentence: what the probe measured, or that it was not run."""
    if b.get("why"):
        return ("Budget sensitivity: not measured (" + b["why"] + "; `compare` runs one unless "
                "`--budget-check off`) — a flat validation tail under the cosine schedule does not show "
                "that a longer budget would leave the comparison unchanged.")  # fmt: skip
    rows = []
    for s, v in b["strategies"].items():
        if v["status"] == "not measured":
            rows.append(f"`{s}` not measured ({v.get('pairs', 0)} seed pairs)")
        elif "moved" in v:
            moved, gain = _pp(v["moved"]), _pp(v["gain"])
            rows.append(f"`{s}` {v['status']} (difference moved {moved}; own gain {gain})")
        else:
            rows.append(f"`{s}` reference (own gain from the second half {_pp(v['gain'])})")
    return ("Budget sensitivity (half-budget probe, validation error, paired 95 % intervals): "
            + "; ".join(rows))  # fmt: skip
