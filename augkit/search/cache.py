"""Cached search stages: an artefact is recomputed only when the options it depends on change.

A stage writes ``artefact.pt`` and then ``done.json`` (atomically, in that order) holding its
key (every option it depends on, chained through its inputs), wall seconds and CPU minutes
(``time.process_time``: all threads of this process).  A rerun whose key matches loads the
artefact (tensors and plain containers only: nothing in it can run code) instead of
recomputing; a changed key recomputes and replaces it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_save_torch, atomic_write_text, load_torch

__all__ = ["DATA_KEYS", "cached_stage", "data_key", "stage_done"]


DATA_KEYS = ("dataset", "subset", "val", "subset_seed")


def data_key(data, config: dict) -> dict:
    """What a stage trained on the run's training images depends on: the run's data options, the
    seed, and the images' count and shape (so a changed cut of the data never reuses a stage)."""
    return {"seed": int(config.get("seed", 0)), "shape": [int(v) for v in data.train_x.shape[1:]],
            "n_train": int(data.train_x.shape[0]), **{k: config.get(k) for k in DATA_KEYS}}  # fmt: skip


def stage_done(d: Path, key: dict) -> dict | None:
    """The ``done.json`` of stage directory ``d`` if it was written for ``key``, else None."""
    done = d / "done.json"
    if not done.exists():
        return None
    info = json.loads(done.read_text())
    return info if info.get("key") == key else None


def cached_stage(
    root: Path, name: str, key: dict, fn: Callable[[Path], Any], device: torch.device
) -> tuple[Any, dict]:
    """Run ``fn(stage_dir)`` unless ``root/name`` holds its artefact for ``key``; return (artefact, cost)."""
    d = root / name
    info = stage_done(d, key)
    if info is not None:
        return load_torch(d / "artefact.pt", map_location=device), {**info["cost"], "cached": True}
    t0, c0 = time.perf_counter(), time.process_time()
    art = fn(d)
    cost = {"wall_seconds": time.perf_counter() - t0, "cpu_minutes": (time.process_time() - c0) / 60.0}
    atomic_save_torch(d / "artefact.pt", art)
    info = {"key": key, "cost": cost, "device": str(device)}
    atomic_write_text(d / "done.json", json.dumps(info, indent=1))
    return art, {**cost, "cached": False}
