"""Search trials: each one an ordinary augkit training run, scheduled on Ray Tune or in-process.

A trial is ``(name, TrainConfig)``: its run directory ``out/trials/NAME`` holds the usual
``config.json``, ``metrics.jsonl`` and ``checkpoint.pt`` of :func:`augkit.runs.train_run`, plus
``trial.json`` (its reward and cost), written atomically when it finishes.  That file is the
source of truth: a rerun of the search skips every trial whose ``trial.json`` records the same
config (finished trials are never re-run), resumes a half-trained one from its checkpoint, and
any trial can be re-run alone with ``augkit train --config out/trials/NAME/config.json``.

Backends (one function, :func:`run_trials`):

- ``ray`` (default for ``augkit search``): every pending trial is a Ray Tune trial with its own
  CPU (and GPU fraction) request, on a local Ray started here or the cluster at
  ``ray_address`` — the trial functions are plain module-level functions, so a cluster runs
  them unchanged.  Tune keeps its bookkeeping in ``out/tune``; results are read back from
  ``trial.json``, never from Tune's state.
- ``local``: the same trial functions one after another in this process (tests, no Ray).

Both give the same bits: a trial's result depends only on its config (its seed included).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..cluster import ray_map, require_ray
from ..io import atomic_write_text
from ..runs import TrainConfig, train_run

__all__ = ["BACKENDS", "TRIAL_FILE", "record_trial", "require_ray", "run_trials", "train_trial", "trial_spec"]

TRIAL_FILE = "trial.json"
BACKENDS = ("ray", "local")


def _finished(d: Path, config: dict, result: str = TRIAL_FILE) -> dict | None:
    f = d / result
    if not f.is_file():
        return None
    try:
        info = json.loads(f.read_text())
        same = info.get("config") == config and isinstance(info["val_error"], float)
    except (ValueError, KeyError, AttributeError, UnicodeDecodeError) as e:
        raise ValueError(f"trial file {f} is corrupt ({type(e).__name__}: {e}); delete {d} to re-run that "
                         f"trial (the other trials are kept)") from None  # fmt: skip
    return info if same else None


def record_trial(spec: dict, name: str, train: Callable[[], list[dict]]) -> dict:
    """Run ``train()`` (a trial's training, returning its history), then write and return its result.

    The result (``spec["result"]``, default ``trial.json``) holds the config, the last validation
    error (the reward), the epochs trained and the wall / CPU seconds, and is written atomically:
    it is what :func:`run_trials` later reads to know the trial finished.
    """
    d = Path(spec["dir"])
    t0, c0 = time.perf_counter(), time.process_time()
    history = train()
    vals = [r["val_error"] for r in history if r.get("val_error") is not None]
    if not vals:
        raise ValueError(f"trial {d.name}: no validation error recorded; a search needs --val > 0")
    info = {
        "name": name,
        "config": spec["config"],
        "val_error": float(vals[-1]),
        "epochs": len(history),
        "wall_seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
    atomic_write_text(d / spec.get("result", TRIAL_FILE), json.dumps(info, indent=1))
    return info


def train_trial(spec: dict) -> dict:
    """Train one trial (resuming a half-done one); its reward is the last validation error.

    ``spec``: ``{"dir": run directory, "config": asdict(TrainConfig)}``.  Module-level and
    JSON-in/JSON-out so that Ray can ship it to any worker.
    """
    d, config = Path(spec["dir"]), spec["config"]
    done = _finished(d, config)
    if done is not None:
        return done
    resume = (d / "checkpoint.pt").is_file() and (d / "config.json").is_file()
    cfg = TrainConfig.from_dict(config)
    return record_trial(spec, d.name, lambda: train_run(cfg, d, resume=resume, progress=False,
                                                         final_eval=False)["history"])  # fmt: skip


def run_trials(
    fn: Callable[[dict], dict],
    specs: list[dict],
    out: Path,
    backend: str = "ray",
    progress: bool = True,
    **opts: Any,
) -> list[dict]:
    """Run ``fn`` on every spec not yet finished; return every spec's ``trial.json``, in order.

    ``opts``: ``ray_address``, ``cpus`` (local Ray size), ``cpus_per_trial``, ``gpus_per_trial``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    pending = [s for s in specs if _done(s) is None]
    if pending and backend == "ray":
        ray_map(fn, pending, out / "tune", opts)
    elif pending:
        for s in _progress(pending, progress):
            fn(s)
    results = [_done(s) for s in specs]
    missing = [s["dir"] for s, r in zip(specs, results, strict=True) if r is None]
    if missing:
        raise RuntimeError(f"trials did not write {TRIAL_FILE}: {', '.join(missing)}")
    return results  # type: ignore[return-value]


def _done(spec: dict) -> dict | None:
    """The spec's result file if written for its config (``spec["result"]``, default trial.json)."""
    return _finished(Path(spec["dir"]), spec["config"], spec.get("result", TRIAL_FILE))


def _progress(items: list, on: bool):
    if not on:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="trials", leave=False)


def trial_spec(out: Path, name: str, cfg: TrainConfig) -> dict:
    """The spec of trial ``name`` under ``out/trials`` (what :func:`train_trial` takes)."""
    return {"dir": str(out / "trials" / name), "config": asdict(cfg)}
