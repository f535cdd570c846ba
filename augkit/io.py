"""Atomic file writes: a reader never sees a half-written file (write temp, fsync, rename).

The temporary file is ``.<name>.<random>.tmp`` beside the target (so the rename stays on one
file system); a process killed between the write and the rename leaves one behind, which
:func:`remove_orphan_temps` clears when a run resumes.  Files get the mode the umask gives a
newly created file (``mkstemp``'s private 0600 would make reports unreadable to colleagues).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = [
    "atomic_save_torch",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_torch",
    "remove_orphan_temps",
]

TEMP_SUFFIX = ".tmp"


def _umask_mode() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _umask_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_torch(path: str | os.PathLike, obj: object) -> None:
    """``torch.save`` through :func:`atomic_write_bytes` (checkpoints, stage artefacts)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_torch(path: str | os.PathLike, map_location: object = None) -> object:
    """Load a file written by :func:`atomic_save_torch` without running code from it.

    ``weights_only=True``: tensors, numbers, strings and plain containers only; a pickle that
    asks for anything else (a class, a function) is refused by torch's restricted unpickler.
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # the restricted unpickler met a class, function or call
        first = str(e).strip().splitlines()[0] if str(e).strip() else "a forbidden object"
        raise ValueError(
            f"refusing to load {path}: it holds more than tensors and plain data ({first[:200]})"
        ) from None


def remove_orphan_temps(root: str | os.PathLike) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files an interrupted atomic write left under ``root``; return them."""
    gone = []
    for p in Path(root).rglob(f".*{TEMP_SUFFIX}"):
        if p.is_file() and p.name.count(".") >= 3:  # ".<name>.<random>.tmp": ours, not a user's dotfile
            p.unlink()
            gone.append(p)
    return gone
