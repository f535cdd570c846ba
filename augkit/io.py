"""Atomic file writes: a reader never sees a half-written file (write temp, fsync, rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_save_torch", "atomic_write_bytes", "atomic_write_text", "load_torch"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
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
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)
