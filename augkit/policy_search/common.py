"""What every policy search shares: its declaration, option parsing, and the search report.

A search writes into its ``--out`` directory ``policy.json`` (replay it with
``--strategies policy:file=OUT/policy.json``), ``search.json`` (method, options, every
trial's reward and cost, the best, the total cost), ``trials.csv``, ``best_so_far.png``
(best validation error against cumulative trial time) and ``policy_gallery.png`` (the found
policy on training images).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_bytes, atomic_write_text
from ..policies import Policy
from ..policy_io import save_policy
from ..strategies.spec import parse_key_values

__all__ = ["SearchDef", "check_resumable", "int_list", "parse_options", "policy_gallery", "write_report"]


@dataclass(frozen=True)
class SearchDef:
    """One policy search: ``run(cfg, out, options, trial_opts, progress) -> summary``."""

    run: Callable[..., dict]
    options: dict[str, tuple[Callable[[str], Any], Any]]
    help: str
    needs_val: bool = True  # its trials are scored on the validation split (TANDA's are not)


def int_list(text: str) -> list[int]:
    """``"1;2;3"`` (``;`` because ``,`` separates options) -> ``[1, 2, 3]``."""
    vals = [int(v) for v in str(text).replace("/", ";").split(";") if v.strip()]
    if not vals:
        raise ValueError(f"expected ';'-separated integers, got {text!r}")
    return vals


def parse_options(name: str, text: str, table: dict[str, tuple[Callable[[str], Any], Any]]) -> dict:
    """``"k=v,k=v"`` against ``table``; errors name the search, the key and the valid keys."""
    return parse_key_values(f"search {name!r}", text or "", table)


def check_resumable(stored: dict | None, requested: dict, where: Path) -> None:
    """A resumed search must use the options it started with (only its length may grow)."""
    if stored is None or stored == requested:
        return
    changed = sorted(k for k in set(stored) | set(requested) if stored.get(k) != requested.get(k))
    raise ValueError(f"{where} was started with other search options ({', '.join(changed)}: "
                     f"{[stored.get(k) for k in changed]} -> {[requested.get(k) for k in changed]}); "
                     f"use a new --out directory")  # fmt: skip


def policy_gallery(policy: Policy, images: torch.Tensor, draws: int = 4, seed: int = 0) -> bytes:
    """PNG: the original images, then ``draws`` rows of the policy applied (fixed seed)."""
    from ..gallery import grid_png

    g = torch.Generator().manual_seed(seed)
    rows = [("original", images)] + [(f"draw {i + 1}", policy(images, generator=g)) for i in range(draws)]
    return grid_png(rows)


def _best_so_far_png(trials: list[dict], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, best, xs, ys = 0.0, float("inf"), [], []
    for r in trials:
        t += r["wall_seconds"]
        best = min(best, r["val_error"])
        xs.append(t / 60)
        ys.append(100 * best)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.step(xs, ys, where="post")
    ax.scatter(xs, [100 * r["val_error"] for r in trials], s=8, alpha=0.5)
    ax.set(xlabel="cumulative trial time (min)", ylabel="validation error (%)", title=title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_report(
    out: Path,
    method: str,
    options: dict,
    trials: list[dict],
    policy: Any,
    extra: dict,
    save: bool = True,
    phases: dict[str, dict | None] | None = None,
) -> dict:
    """Write policy.json (unless ``save`` is false: PBA's result is a schedule), search.json,
    trials.csv, best_so_far.png and the gallery of ``policy``; return the summary.

    ``phases``: work outside the trials (Fast AA's density matching), each ``{"cpu_seconds",
    "wall_seconds"}`` or None where a cache predates its timing; the cost's totals include them
    and are None when a phase is unknown, so a search's cost is never silently understated."""
    if save:
        save_policy(policy, str(out / "policy.json"))
    best = min(trials, key=lambda r: r["val_error"])
    cost = search_cost(trials, phases or {})
    summary = {
        "method": method,
        "options": options,
        "policy": str(out / "policy.json") if save else None,
        "best_trial": best["name"],
        "best_val_error": best["val_error"],
        "cost": cost,
        **extra,
    }
    rows = [
        {k: r.get(k) for k in ("name", "val_error", "epochs", "wall_seconds", "cpu_seconds")} for r in trials
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "trials.csv", buf.getvalue())
    atomic_write_text(out / "search.json", json.dumps({**summary, "trials": rows}, indent=1))
    atomic_write_bytes(out / "best_so_far.png", _best_so_far_png(trials, method))
    return summary


def search_cost(trials: list[dict], phases: dict[str, dict | None]) -> dict:
    """Trial cost plus the named phases' cost, in minutes (totals None if a phase was not timed)."""
    cost = {
        "trials": len(trials),
        "trial_cpu_minutes": sum(r["cpu_seconds"] for r in trials) / 60,
        "trial_wall_minutes": sum(r["wall_seconds"] for r in trials) / 60,
    }
    known = all(p is not None for p in phases.values())
    for name, p in phases.items():
        cost[f"{name}_cpu_minutes"] = None if p is None else p["cpu_seconds"] / 60
        cost[f"{name}_wall_minutes"] = None if p is None else p["wall_seconds"] / 60
    for kind in ("cpu", "wall"):
        extra = sum(p[f"{kind}_seconds"] for p in phases.values() if p is not None) / 60
        cost[f"total_{kind}_minutes"] = cost[f"trial_{kind}_minutes"] + extra if known else None
    return cost
