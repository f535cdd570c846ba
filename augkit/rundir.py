"""Run directories: created and marked by augkit, deleted only when augkit made them, resumed only unchanged.

* ``--out`` must name a directory that can be written (not a file, not under a read-only
  parent); this is checked before any work.
* A directory augkit creates holds a marker file (``.augkit-run``).  ``--overwrite`` deletes a
  non-empty directory only if it carries the marker: ``--out ~ --overwrite`` refuses instead of
  emptying a home directory.
* A marked directory that holds no run yet (a start that failed after creating it) may be
  reused by a corrected retry without ``--resume`` or ``--overwrite``.
* ``--resume`` compares the stored options with the requested ones and refuses, naming the
  keys, when any that changes results differs; nothing is written before that check passes.
  Orphan temporary files of interrupted atomic writes are removed on resume.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .io import atomic_write_text, remove_orphan_temps

__all__ = ["MARKER", "RunDirError", "changed_keys", "check_out", "has_runs", "prepare_out", "refuse_changed"]

MARKER = ".augkit-run"


class RunDirError(FileExistsError):
    """The output directory holds something augkit must not overwrite or continue."""


def check_out(out: Path) -> None:
    """``out`` can become a writable directory; raise ValueError naming ``--out`` otherwise."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; expected a directory (new or an augkit run directory)")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: {parent} is not writable")


def has_runs(out: Path) -> bool:
    """Whether ``out`` holds any training progress (a compare's seed runs, or one run's metrics)."""
    return (out / "metrics.jsonl").exists() or any(out.glob("*/seed*/metrics.jsonl"))


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Make ``out`` ready for a run (see the module docstring for the rules); then mark it."""
    check_out(out)
    if out.exists() and any(out.iterdir()):
        marked = (out / MARKER).is_file()
        if overwrite:
            if not marked:
                raise RunDirError(
                    f"refusing to --overwrite {out}: augkit did not create it (no {MARKER} file); "
                    f"delete it yourself or choose another --out"
                )
            shutil.rmtree(out)
        elif resume:
            if not (marked or has_runs(out)):
                raise RunDirError(f"--resume: {out} holds no augkit run to continue")
            remove_orphan_temps(out)
        elif marked and not has_runs(out):
            shutil.rmtree(out)  # only set-up files of a failed start: a corrected retry starts clean
        else:
            raise RunDirError(
                f"output directory {out} already holds a run; pass --resume to continue it or "
                f"--overwrite to start again"
            )
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).exists():
        atomic_write_text(out / MARKER, "created by augkit; --overwrite may delete this directory\n")


def changed_keys(
    stored: Mapping[str, Any], requested: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[str]:
    """Keys whose values differ between a stored config and the requested one (``ignore`` aside)."""
    skip = set(ignore)
    keys = (set(stored) | set(requested)) - skip
    return sorted(k for k in keys if stored.get(k) != requested.get(k))


def refuse_changed(
    stored: Mapping[str, Any], requested: Mapping[str, Any], ignore: Iterable[str], out: Path
) -> None:
    """Refuse to resume ``out`` when any option outside ``ignore`` differs, naming every such key."""
    diff = changed_keys(stored, requested, ignore)
    if diff:
        shown = ", ".join(f"{k}: {stored.get(k)!r} -> {requested.get(k)!r}" for k in diff)
        raise RunDirError(f"--resume: {out} was run with other options ({shown}); use another --out")
