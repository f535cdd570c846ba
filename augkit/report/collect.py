"""Read a ``compare`` run directory and turn it into summary statistics.

The report layer only reads what training wrote; it never trains.  Layout::

    <out>/config.json                        compare config ("strategies" gives the row order)
    <out>/<strategy_dir>/seed<k>/config.json  per-run config ({"strategy": ..., "seed": k, ...})
    <out>/<strategy_dir>/seed<k>/metrics.jsonl one JSON object per epoch
    <out>/<strategy_dir>/seed<k>/final.json    final evaluation; absent while the run is unfinished
    <out>/<strategy_dir>/gallery.png           optional augmentation gallery

Statistics follow the usual multi-seed reporting practice (airbench; Bouthillier et al., 2021,
"Accounting for variance in machine learning benchmarks"): mean and *sample* standard deviation
(ddof=1) over seeds, with n always shown.  With n = 1 there is no spread estimate: std is
reported as 0 and flagged (``std_defined = False``) rather than hidden.

Differences against the baseline (the first strategy of ``config["strategies"]`` that has
finished runs, usually ``none``) are *paired by seed*: seed k of both strategies shares data
order and initialisation, so the per-seed difference removes that shared noise.  The 95%
interval is the Student-t interval on the mean paired difference (scipy's ``t.ppf`` when scipy is
importable, otherwise a two-sided 95% table that rounds the degrees of freedom *down*, which can
only widen the interval).

Choices left open by the layout and made here:

* a run is complete iff its ``final.json`` parses; unfinished or unreadable runs are kept in
  :func:`load_runs` output with ``complete = False`` and listed by :func:`incomplete_runs`;
* repeated epochs in ``metrics.jsonl`` (a resumed run re-logs them) keep the last record, and a
  truncated last line (the writer was interrupted mid-line) is ignored;
* a metric a run did not report (``null``) is left out of that metric's statistics and counted
  in ``missing``; non-finite values are kept (an infinite NLL is a real result) and counted in
  ``nonfinite``;
* strategies absent from ``config["strategies"]`` are placed after the listed ones, by name.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS",
    "STANDARD_CURVE_KEYS",
    "config_strategies",
    "curve_stats",
    "extra_curve_keys",
    "incomplete_runs",
    "load_config",
    "load_runs",
    "paired_differences",
    "per_class_stats",
    "pooled_reliability",
    "stats",
    "strategy_dirs",
    "summarize",
    "t_critical",
]

# Scalar metrics of final.json summarised per strategy, in report order.
METRICS: tuple[str, ...] = (
    "test_error",
    "top5_error",
    "nll",
    "ece",
    "oe",
    "fgsm_error",
    "ifgsm_error",
    "tta_error",
    "tta_gain",
    "ood_auroc",
    "train_seconds",
    "images_per_second",
)

_SEED_DIR = re.compile(r"^seed(\d+)$")

# Two-sided 95% Student-t critical values t_{0.975, df} (standard table; checked against scipy in
# the tests).  Used only when scipy is not importable.
_T975: dict[int, float] = {
    1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 5: 2.570582, 6: 2.446912, 7: 2.364624,
    8: 2.306004, 9: 2.262157, 10: 2.228139, 11: 2.200985, 12: 2.178813, 13: 2.160369, 14: 2.144787,
    15: 2.131450, 16: 2.119905, 17: 2.109816, 18: 2.100922, 19: 2.093024, 20: 2.085963, 21: 2.079614,
    22: 2.073873, 23: 2.068658, 24: 2.063899, 25: 2.059539, 26: 2.055529, 27: 2.051831, 28: 2.048407,
    29: 2.045230, 30: 2.042272, 40: 2.021075, 60: 2.000298, 120: 1.979930,
}  # fmt: skip
_Z975 = 1.959964


# ----------------------------------------------------------------------------- reading
def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_config(out_dir: str | Path) -> dict:
    """The compare config ``<out>/config.json``; ``{}`` when it is missing."""
    path = Path(out_dir) / "config.json"
    if not path.is_file():
        return {}
    cfg = _read_json(path)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(cfg).__name__}")
    return cfg


def read_metrics(path: Path) -> list[dict]:
    """A run's ``metrics.jsonl``: one record per epoch (see :func:`_read_metrics`)."""
    return _read_metrics(Path(path))


def _read_metrics(path: Path) -> list[dict]:
    """Per-epoch records, one per epoch (last record wins), sorted by epoch."""
    if not path.is_file():
        return []
    by_epoch: dict[Any, dict] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # interrupted mid-write: the line is simply not there yet
                continue
            raise ValueError(f"{path}: line {i + 1} is not valid JSON: {line[:80]!r}") from None
        if isinstance(rec, dict):
            by_epoch[rec.get("epoch", len(by_epoch))] = rec
    return sorted(by_epoch.values(), key=lambda r: (r.get("epoch") is None, r.get("epoch") or 0))


def _norm(name: str) -> str:
    """Loose key so that a filesystem-safe directory name finds its strategy."""
    return re.sub(r"[^0-9a-z]+", "", str(name).lower())


def config_strategies(config: dict) -> list[str]:
    """Strategy names of ``config["strategies"]`` as given (a dict entry contributes its "name")."""
    names = []
    for s in config.get("strategies") or []:
        names.append(str(s.get("name", s)) if isinstance(s, dict) else str(s))
    return names


def _order(name: str, strategy_dir: str, listed: list[str]) -> tuple[int, str]:
    if name in listed:
        return listed.index(name), name
    for i, c in enumerate(listed):
        if _norm(c) in (_norm(name), _norm(strategy_dir)):
            return i, name
    return len(listed), name


def load_runs(out_dir: str | Path) -> list[dict]:
    """Every run under ``out_dir``, in config strategy order then seed.

    A complete run is its ``final.json`` dict plus ``metrics`` (the per-epoch records),
    ``run_dir``, ``strategy_dir``, ``run_config``, ``epochs_done`` and ``complete = True``.
    An unfinished run has ``strategy``, ``seed``, the same bookkeeping keys, ``complete = False``
    and a ``reason``.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"out_dir must be an existing compare run directory, got {str(out)!r}")
    listed = config_strategies(load_config(out))
    runs = []
    for sdir in sorted(p for p in out.iterdir() if p.is_dir()):
        for rdir in sorted(p for p in sdir.iterdir() if p.is_dir() and _SEED_DIR.match(p.name)):
            runs.append(_load_run(rdir, listed))
    runs.sort(key=lambda r: (*_order(r["strategy"], r["strategy_dir"], listed), r["seed"]))
    return runs


def _load_run(rdir: Path, listed: list[str]) -> dict:
    run_cfg = _read_json(rdir / "config.json") if (rdir / "config.json").is_file() else {}
    metrics = _read_metrics(rdir / "metrics.jsonl")
    final, reason = None, "no final.json (still running or stopped)"
    if (rdir / "final.json").is_file():
        try:
            final = _read_json(rdir / "final.json")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            reason = f"unreadable final.json ({e})"
    name = (final or {}).get("strategy") or run_cfg.get("strategy")
    if name is None:  # no record of the true name: recover it from the directory name
        matches = [c for c in listed if _norm(c) == _norm(rdir.parent.name)]
        name = matches[0] if matches else rdir.parent.name
    seed = (final or {}).get("seed", run_cfg.get("seed", int(_SEED_DIR.match(rdir.name).group(1))))
    book = {
        "strategy": str(name),
        "seed": int(seed),
        "metrics": metrics,
        "epochs_done": len(metrics),
        "run_dir": str(rdir),
        "strategy_dir": rdir.parent.name,
        "run_config": run_cfg,
        "complete": final is not None,
    }
    if final is None:
        return {**book, "reason": reason}
    return {**final, **book}


def strategy_dirs(runs: list[dict]) -> dict[str, str]:
    """Strategy name -> its directory name (first seen)."""
    out: dict[str, str] = {}
    for r in runs:
        out.setdefault(r["strategy"], r["strategy_dir"])
    return out


def incomplete_runs(runs: list[dict], config: dict | None = None) -> list[dict]:
    """Unfinished runs, plus (strategy, seed) pairs the config asked for that never started.

    ``config["seeds"]`` is used only when it is an explicit list of seeds.
    """
    out = [
        {
            "strategy": r["strategy"],
            "seed": r["seed"],
            "epochs_done": r["epochs_done"],
            "run_dir": r["run_dir"],
            "reason": r["reason"],
        }
        for r in runs
        if not r.get("complete", True)
    ]
    config = config or {}
    seeds = config.get("seeds")
    if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds):
        have = {(r["strategy"], r["seed"]) for r in runs}
        have_norm = {(_norm(r["strategy"]), r["seed"]) for r in runs} | {
            (_norm(r["strategy_dir"]), r["seed"]) for r in runs
        }
        for name in config_strategies(config):
            for s in seeds:
                if (name, s) not in have and (_norm(name), s) not in have_norm:
                    out.append(
                        {
                            "strategy": name,
                            "seed": s,
                            "epochs_done": 0,
                            "run_dir": None,
                            "reason": "not started",
                        }
                    )
    return out


# ----------------------------------------------------------------------------- statistics
def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def stats(values: list[Any]) -> dict:
    """Mean, sample std (ddof=1), n of the numeric entries of ``values``; ``None`` entries are missing."""
    xs = [x for x in (_num(v) for v in values) if x is not None]
    n = len(xs)
    if n == 0:
        mean = std = None
    else:
        mean = math.fsum(xs) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return {
        "mean": mean,
        "std": std,
        "n": n,
        "values": xs,
        "std_defined": n > 1,
        "missing": len(values) - n,
        "nonfinite": sum(not math.isfinite(x) for x in xs),
    }


def summarize(
    runs: list[dict], metrics: tuple[str, ...] = METRICS, expected: list[str] | None = None
) -> dict:
    """strategy -> metric -> :func:`stats` dict (plus ``seeds``), over complete runs.

    Strategies keep the order of ``runs`` (config order when they come from :func:`load_runs`);
    a strategy whose runs are all unfinished appears with ``n = 0``, and so does each name of
    ``expected`` (e.g. ``config["strategies"]``) that no run belongs to, in ``expected``'s order.
    """
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(r["strategy"], [])
        if r.get("complete", True):
            groups[r["strategy"]].append(r)
    if expected:
        dirs = {r["strategy"]: r.get("strategy_dir", r["strategy"]) for r in runs}
        covered = {_order(name, dirs[name], expected)[0] for name in groups}
        for i, name in enumerate(expected):
            if i not in covered:
                groups[name] = []
                dirs[name] = name
        groups = dict(sorted(groups.items(), key=lambda kv: _order(kv[0], dirs[kv[0]], expected)))
    out: dict[str, dict] = {}
    for name, rs in groups.items():
        out[name] = {}
        for m in metrics:
            s = stats([r.get(m) for r in rs])
            s["seeds"] = [r["seed"] for r in rs if _num(r.get(m)) is not None]
            out[name][m] = s
    return out


def t_critical(df: int, confidence: float = 0.95, use_scipy: bool = True) -> float:
    """Two-sided Student-t critical value; scipy if available, else the 95% table (df rounded down)."""
    if not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be an int >= 1, got {df!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if use_scipy:
        try:
            from scipy.stats import t
        except ImportError:
            pass
        else:
            return float(t.ppf(0.5 + confidence / 2, df))
    if abs(confidence - 0.95) > 1e-12:
        raise ValueError(f"without scipy only confidence=0.95 is tabulated, got {confidence!r}")
    if df > 120:
        return _T975[120] if df < 1000 else _Z975
    return _T975[max(k for k in _T975 if k <= df)]


def _p_value(t_stat: float, df: int) -> float | None:
    try:
        from scipy.stats import t
    except ImportError:
        return None
    return float(2 * t.sf(abs(t_stat), df))


def paired_differences(
    runs: list[dict],
    metric: str = "test_error",
    baseline: str | None = None,
    confidence: float = 0.95,
) -> dict:
    """Mean paired (same-seed) difference ``strategy - baseline`` of ``metric`` with a t-interval.

    Returns ``{"baseline", "metric", "confidence", "rows": {strategy: row}}``; a row has ``n``,
    ``seeds`` (matched), ``mean``, ``std``, ``ci_low``, ``ci_high``, ``t_crit``, ``p_value``
    (None without scipy), ``excludes_zero`` and ``unmatched_seeds``.  With fewer than 2 pairs
    the interval is None: one pair cannot separate a difference from seed noise.
    """
    values: dict[str, dict[int, float]] = {}
    for r in runs:
        values.setdefault(r["strategy"], {})
        v = _num(r.get(metric)) if r.get("complete", True) else None
        if v is not None:
            values[r["strategy"]][r["seed"]] = v
    if baseline is None:
        baseline = next((s for s, v in values.items() if v), None)
    elif baseline not in values:
        raise ValueError(f"baseline must be one of the strategies {list(values)}, got {baseline!r}")
    out: dict[str, Any] = {"baseline": baseline, "metric": metric, "confidence": confidence, "rows": {}}
    if baseline is None:
        return out
    base = values[baseline]
    for name, vals in values.items():
        if name == baseline:
            continue
        seeds = sorted(set(vals) & set(base))
        d = [vals[s] - base[s] for s in seeds]
        st = stats(d)
        row = {
            "n": st["n"],
            "seeds": seeds,
            "mean": st["mean"],
            "std": st["std"],
            "ci_low": None,
            "ci_high": None,
            "t_crit": None,
            "p_value": None,
            "excludes_zero": None,
            "unmatched_seeds": sorted(set(vals) ^ set(base)),
        }
        if st["n"] >= 2 and math.isfinite(st["mean"]):
            tc = t_critical(st["n"] - 1, confidence)
            se = st["std"] / math.sqrt(st["n"])
            row.update(t_crit=tc, ci_low=st["mean"] - tc * se, ci_high=st["mean"] + tc * se)
            row["excludes_zero"] = row["ci_low"] > 0 or row["ci_high"] < 0
            if se > 0:
                row["p_value"] = _p_value(st["mean"] / se, st["n"] - 1)
            else:
                row["p_value"] = 1.0 if st["mean"] == 0 else 0.0
        out["rows"][name] = row
    return out


# ----------------------------------------------------------------------------- per-run arrays
def per_class_stats(runs: list[dict]) -> dict[str, list[dict]]:
    """strategy -> one :func:`stats` dict per class index of ``per_class_error`` (complete runs)."""
    out: dict[str, list[dict]] = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        rows = [
            r.get("per_class_error") or [] for r in runs if r["strategy"] == name and r.get("complete", True)
        ]
        k = max((len(x) for x in rows), default=0)
        if k:
            out[name] = [stats([x[i] if i < len(x) else None for x in rows]) for i in range(k)]
    return out


def pooled_reliability(runs: list[dict]) -> dict[str, dict]:
    """strategy -> reliability bins pooled over seeds (count-weighted), with the pooled ECE.

    Pooling the per-seed bins weighted by their counts is exactly the reliability diagram of the
    concatenated test predictions of all seeds (Guo et al., 2017, eq. 3 for the ECE).
    """
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        rels = [r.get("reliability") for r in runs if r["strategy"] == name and r.get("complete", True)]
        rels = [x for x in rels if isinstance(x, dict) and x.get("edges") and x.get("count") is not None]
        if not rels:
            continue
        edges = [float(e) for e in rels[0]["edges"]]
        nb = len(edges) - 1
        cnt, acc_sum, conf_sum = [0.0] * nb, [0.0] * nb, [0.0] * nb
        for rel in rels:
            if len(rel["count"]) != nb:
                raise ValueError(
                    f"reliability bins differ between seeds of {name!r}: {nb} vs {len(rel['count'])}"
                )
            for b in range(nb):
                c, a, p = rel["count"][b], rel["accuracy"][b], rel["confidence"][b]
                if c and a is not None and p is not None:
                    cnt[b] += c
                    acc_sum[b] += c * a
                    conf_sum[b] += c * p
        total = sum(cnt)
        acc = [acc_sum[b] / cnt[b] if cnt[b] else None for b in range(nb)]
        conf = [conf_sum[b] / cnt[b] if cnt[b] else None for b in range(nb)]
        ece = sum(cnt[b] / total * abs(acc[b] - conf[b]) for b in range(nb) if cnt[b]) if total else None
        out[name] = {
            "edges": edges,
            "count": cnt,
            "accuracy": acc,
            "confidence": conf,
            "ece": ece,
            "seeds": len(rels),
        }
    return out


# Keys of metrics.jsonl that every run logs; anything else numeric is a strategy's own signal.
STANDARD_CURVE_KEYS = (
    "epoch",
    "train_loss",
    "train_error",
    "test_error",
    "lr",
    "epoch_seconds",
    "images_per_second",
)


def curve_stats(runs: list[dict], key: str, complete_only: bool = True) -> dict[str, dict]:
    """strategy -> {"epoch": [...], "mean": [...], "std": [...], "n": [...]} of a metrics.jsonl key.

    Epochs are aligned by their ``epoch`` number; an epoch's mean is over the seeds that logged
    a number for it (``n`` says how many), std is the sample std (0 where n = 1).
    """
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        per_epoch: dict[Any, list] = {}
        for r in runs:
            if r["strategy"] != name or (complete_only and not r.get("complete", True)):
                continue
            for i, rec in enumerate(r["metrics"]):
                v = _num(rec.get(key))
                if v is not None:
                    per_epoch.setdefault(rec.get("epoch", i), []).append(v)
        if not per_epoch:
            continue
        epochs = sorted(per_epoch)
        ss = [stats(per_epoch[e]) for e in epochs]
        out[name] = {
            "epoch": epochs,
            "mean": [s["mean"] for s in ss],
            "std": [s["std"] for s in ss],
            "n": [s["n"] for s in ss],
        }
    return out


def extra_curve_keys(runs: list[dict], strategy: str) -> list[str]:
    """Numeric metrics.jsonl keys a strategy logs beyond :data:`STANDARD_CURVE_KEYS`, first-seen order."""
    keys: dict[str, None] = {}
    for r in runs:
        if r["strategy"] != strategy:
            continue
        for rec in r["metrics"]:
            for k, v in rec.items():
                if k not in STANDARD_CURVE_KEYS and _num(v) is not None:
                    keys.setdefault(k)
    return list(keys)
