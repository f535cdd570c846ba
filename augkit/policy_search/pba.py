"""Population Based Augmentation search (Ho, Liang, Stoica, Abbeel & Chen, ICML 2019, §3-4).

``augkit search pba --out DIR --options population=16,interval=3``.  A population of child
models (ordinary augkit runs with strategy ``pba:file=<member>/schedule.json``, seeds
``seed + i``) trains in rounds of ``interval`` epochs; after each round every member has a
validation error, and PBT's *exploit* step replaces the bottom ``quantile`` (25 %) by copies of
members drawn from the top 25 % (weights, optimizer, loader and generator state: the whole
checkpoint) whose levels then *explore* (Algorithm 3, :func:`augkit.pba.explore`: each level
resampled uniformly with probability 0.2, else shifted by 0-3 levels up or down).  Each member's
schedule is its lineage: the donor's entries up to the round, then the explored levels.  The
output is the best member's schedule (``schedule.json``), replayed by ``pba:file=...``
(``length=E`` stretches it onto a run of another length).  Levels start at zero (the paper:
"initialized to zero"), i.e. the base pipeline alone.

Choices the paper leaves open, and departures:

- The PBT loop is *synchronous* and runs in this process: each round's members are trials on
  the shared trial runner (Ray Tune or local, :mod:`augkit.policy_search.trials`), and exploit /
  explore happen between rounds with the search's own generator.  Tune's
  ``PopulationBasedTraining(synch=True)`` implements the same rule, but its choices use Python's
  global random state and its asynchronous default depends on report timing, so the same seed
  would not give the same schedule; here it does.
- Donors are drawn uniformly from the top quantile (the paper's truncation selection; Tune's
  default).  Population 16 and interval 3 epochs are the paper's CIFAR settings.
- Reward: the member's validation error after the round (the paper's validation accuracy).

Resumable: ``pba_state.pt`` (levels, schedules, the generator, per-round errors; weights-only)
is written after every round; a round's members that finished are not re-trained.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_save_torch, load_torch
from ..pba import SLOTS, PBAPolicy, explore, write_schedule
from ..runs import TrainConfig, prepare_data, resolve, train_run
from ..sample import rand
from ..strategies.spec import float_in, int_at_least
from .common import check_resumable, write_report
from .trials import record_trial, run_trials

__all__ = ["OPTIONS", "exploit_explore", "search"]

STATE_FILE = "pba_state.pt"


OPTIONS: dict[str, tuple[Any, Any]] = {
    "population": (int_at_least(2), 16),
    "interval": (int_at_least(1), 3),
    "quantile": (float_in(0, 0.5, low_open=True), 0.25),
    "resample": (float_in(0, 1), 0.2),
}


def chunk_trial(spec: dict) -> dict:
    """Train one member up to ``spec["until"]`` (resuming its checkpoint); report its validation error."""
    d, cfg = Path(spec["dir"]), TrainConfig.from_dict(spec["config"])
    resume = (d / "checkpoint.pt").is_file()

    def train() -> list[dict]:
        run = train_run(cfg, d, resume=resume, progress=False, final_eval=False, until=spec["until"])
        return run["history"]

    return record_trial(spec, f"{d.name}-ep{spec['until']}", train)


def exploit_explore(
    errors: list[float],
    levels: list[torch.Tensor],
    quantile: float,
    resample: float,
    generator: torch.Generator,
) -> list[int | None]:
    """Per member: the donor it copies (bottom quantile) or None; explores ``levels`` in place."""
    n = len(errors)
    k = max(1, int(n * quantile))
    order = sorted(range(n), key=lambda i: (errors[i], i))
    top, bottom = order[:k], order[-k:]
    donors: list[int | None] = [None] * n
    for i in bottom:
        j = top[int(rand((1,), generator, "cpu").item() * k) % k]
        donors[i] = j
        levels[i] = explore(levels[j], generator, resample)
    return donors


def _copy_member(src: Path, dst: Path) -> None:
    for name in ("checkpoint.pt", "metrics.jsonl"):
        tmp = dst / f".{name}.copy"
        shutil.copyfile(src / name, tmp)
        tmp.replace(dst / name)


def search(cfg: TrainConfig, out: Path, options: dict, trial_opts: dict, progress: bool) -> dict:
    """Synchronous PBT over PBA levels; the best member's schedule is the result."""
    o = options
    cfg = resolve(cfg, prepare_data(cfg))  # rounds need a number of epochs
    members = [out / "trials" / f"member{i:02d}" for i in range(o["population"])]
    state = _load_state(out, cfg, o)
    check_resumable(state.setdefault("key", o), o, out)
    gen = torch.Generator()
    gen.set_state(state["generator"])
    rounds = -(-cfg.epochs // o["interval"])
    for r in range(state["round"], rounds):
        until = min((r + 1) * o["interval"], cfg.epochs)
        specs = []
        for i, d in enumerate(members):
            d.mkdir(parents=True, exist_ok=True)
            write_schedule(d / "schedule.json", state["schedules"][i])
            c = replace(cfg, strategy=f"pba:file={d / 'schedule.json'}", seed=cfg.seed + i)
            specs.append({"dir": str(d), "config": asdict(c), "until": until, "result": f"round{r:03d}.json"})
        results = run_trials(chunk_trial, specs, out, progress=progress, **trial_opts)
        errors = [res["val_error"] for res in results]
        state["results"] += results
        if until < cfg.epochs:
            _evolve(state, errors, members, until, o, gen)
        state.update(round=r + 1, generator=gen.get_state(), errors=errors)
        atomic_save_torch(out / STATE_FILE, state)
        if progress:
            print(
                f"pba search: epoch {until}/{cfg.epochs}, best validation error {100 * min(errors):.2f} %"
            )
    best = min(range(len(members)), key=lambda i: (state["errors"][i], i))
    write_schedule(out / "schedule.json", state["schedules"][best])
    final = PBAPolicy(state["levels"][best])
    extra = {
        "schedule": str(out / "schedule.json"),
        "best_member": best,
        "rounds": rounds,
        "replay": f"pba:file={out / 'schedule.json'},length={cfg.epochs}",
    }
    return write_report(out, "pba", o, state["results"], final, extra, save=False)


def _load_state(out: Path, cfg: TrainConfig, o: dict) -> dict:
    f = out / STATE_FILE
    if f.is_file():
        return load_torch(f)
    zero = torch.zeros(SLOTS, 2, dtype=torch.int64)
    return {
        "round": 0,
        "levels": [zero.clone() for _ in range(o["population"])],
        "schedules": [[{"epoch": 0, "levels": zero.tolist()}] for _ in range(o["population"])],
        "results": [],
        "errors": [],
        "generator": torch.Generator().manual_seed(cfg.seed).get_state(),
    }


def _evolve(state: dict, errors: list[float], members: list[Path], until: int, o: dict, gen) -> None:
    """Exploit (copy the donor's checkpoint and lineage) and explore (perturb its levels)."""
    donors = exploit_explore(errors, state["levels"], o["quantile"], o["resample"], gen)
    old = [list(s) for s in state["schedules"]]
    for i, j in enumerate(donors):
        if j is None:
            continue
        _copy_member(members[j], members[i])
        state["schedules"][i] = [e for e in old[j] if e["epoch"] < until]
        state["schedules"][i].append({"epoch": until, "levels": state["levels"][i].tolist()})
