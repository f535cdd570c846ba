"""Policy searches above the training loop: AutoAugment, RandAugment grid, Fast AA, PBA, TANDA.

Each search is declared once in :data:`POLICY_SEARCHES` (``augkit search NAME``); every trial it
trains is an ordinary augkit run scheduled by :mod:`augkit.policy_search.trials` on Ray Tune
(``.[search]`` extra) or in-process, and every search writes ``OUT/policy.json`` for
``--strategies policy:file=OUT/policy.json`` plus a search report (:mod:`.common`).

This package sits above :mod:`augkit.runs` (a trial is a run); :mod:`augkit.search` holds the
pre-training stages that a strategy consumes (IF-DA) and sits below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import atomic_write_bytes
from ..pba import PBAPolicy, read_schedule
from ..policy_io import load_policy
from ..runs import TrainConfig, prepare_data
from . import autoaugment, fast_autoaugment, pba, randaugment_grid, tanda
from .common import SearchDef, parse_options, policy_gallery
from .trials import BACKENDS, run_trials

__all__ = ["BACKENDS", "POLICY_SEARCHES", "run_policy_search", "run_trials"]

POLICY_SEARCHES: dict[str, SearchDef] = {
    "autoaugment": SearchDef(
        autoaugment.search,
        autoaugment.OPTIONS,
        "AutoAugment (Cubuk et al. 2019): LSTM controller + PPO, children trained as Ray trials",
    ),
    "randaugment-grid": SearchDef(
        randaugment_grid.search,
        randaugment_grid.OPTIONS,
        "RandAugment (Cubuk et al. 2020): grid over N and M, each point a Ray trial",
    ),
    "pba": SearchDef(
        pba.search,
        pba.OPTIONS,
        "Population Based Augmentation (Ho et al. 2019): synchronous PBT over 30 op levels -> a schedule",
    ),
    "tanda": SearchDef(
        tanda.search,
        tanda.OPTIONS,
        "TANDA (Ratner et al. 2017): TF-sequence generator (lstm|mean-field) trained against a discriminator",
        needs_val=False,
    ),
    "fast-autoaugment": SearchDef(
        fast_autoaugment.search,
        fast_autoaugment.OPTIONS,
        "Fast AutoAugment (Lim et al. 2019): K folds, TPE over sub-policies by density matching",
    ),
}


def run_policy_search(
    name: str, cfg: TrainConfig, out: str | Path, options: str = "", progress: bool = True, **trial_opts: Any
) -> dict:
    """Run search ``name`` with run options ``cfg`` into ``out``; returns its summary."""
    if name not in POLICY_SEARCHES:
        raise ValueError(f"policy search {name!r} is unknown; valid: {', '.join(POLICY_SEARCHES)}")
    d = POLICY_SEARCHES[name]
    opts = parse_options(name, options, d.options)
    if d.needs_val and not cfg.val:
        raise ValueError("a policy search needs a validation split: pass --val (e.g. --val 0.2 or --val 500)")
    if trial_opts.get("backend", "ray") == "ray":
        from ..cluster import check_address, require_ray

        require_ray()
        check_address(trial_opts.get("ray_address"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = d.run(cfg, out, opts, trial_opts, progress)
    if summary.get("gallery_written"):
        return summary
    images = prepare_data(cfg).train_x[:8]
    if (out / "policy.json").is_file():
        found = load_policy(str(out / "policy.json"))  # the file as a user replays it
    else:  # PBA: its schedule's final levels
        found = PBAPolicy(read_schedule(out / "schedule.json")[-1][1])
    atomic_write_bytes(out / "policy_gallery.png", policy_gallery(found, images))
    return summary
