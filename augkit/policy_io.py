"""Policy files: read (bounded, errors naming the file), save atomically, load into a policy.

Split from :mod:`augkit.policies` to keep files small; ``augkit.policies`` re-exports nothing
from here (import ``augkit.load_policy`` / ``augkit.save_policy`` or this module).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from .policies import MAX_POLICY_FILE_BYTES, _parse_json, _PolicyModule, _show, policy_from_json

__all__ = ["load_policy", "read_policy_json", "save_policy"]


def read_policy_json(path: str | os.PathLike) -> object:
    """The parsed JSON of a policy file, with errors naming the file.

    Refuses files over ``MAX_POLICY_FILE_BYTES``, text that is not UTF-8 or not JSON, and
    documents nested deeper than ``MAX_JSON_DEPTH``.  The strategy ``policy:file=PATH`` should
    read its file through this function.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {_show(path)}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_POLICY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"policy file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"policy file {path} is a directory, not a JSON file") from None
    if len(raw) > MAX_POLICY_FILE_BYTES:
        raise ValueError(f"policy file {path} is larger than {MAX_POLICY_FILE_BYTES} bytes; not a policy")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"policy file {path} is not JSON (not UTF-8 text: {e})") from None
    return _parse_json(text, f"policy file {path}")


def save_policy(policy: _PolicyModule, path: str) -> None:
    """Write the policy as JSON atomically (write a temp file, then rename)."""
    from .io import atomic_write_text

    atomic_write_text(path, json.dumps(policy.to_json(), indent=1))


def load_policy(
    path: str, fill: float | Sequence[float] | None = None, interpolation: str | None = None
) -> _PolicyModule:
    """Read a policy written by ``save_policy``; ``fill``/``interpolation`` as ``policy_from_json``."""
    data = read_policy_json(path)
    try:
        return policy_from_json(data, fill=fill, interpolation=interpolation)
    except (TypeError, ValueError) as e:
        raise type(e)(f"policy file {path}: {e}") from None
