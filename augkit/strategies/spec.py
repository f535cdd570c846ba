"""How a strategy is declared: a builder, its ``key=value`` options with parsers and defaults, help.

Shared by the core table in ``registry.py`` and every method family's module, which export
``STRATEGY_DEFS: dict[str, StrategyDef]`` that the registry merges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import transforms
from ..base import Augment
from .base import Strategy

__all__ = ["BASE_OPTIONS", "StrategyDef", "base_augments", "parse_bool"]

_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_bool(v: str) -> bool:
    if v.lower() not in _BOOL:
        raise ValueError(f"expected a boolean (1/0/true/false), got {v!r}")
    return _BOOL[v.lower()]


@dataclass(frozen=True)
class StrategyDef:
    build: Callable[[dict[str, Any]], Strategy]
    options: dict[str, tuple[Callable[[str], Any], Any]]  # key -> (parser, default)
    help: str


# ``base``: the pipeline a method runs on top of; ``fill``: 8-bit fill value of geometric ops
BASE_OPTIONS: dict[str, tuple[Callable[[str], Any], Any]] = {"base": (str, "standard"), "fill": (float, 0.0)}


def base_augments(o: dict[str, Any]) -> list[Augment]:
    """The base pipeline named by option ``base``: ``standard`` (pad-crop + flip) or ``none``."""
    bases = {
        "standard": lambda: [transforms.PadCrop(o.get("padding", 4)), transforms.RandomFlip(0.5)],
        "none": lambda: [],
    }
    if o["base"] not in bases:
        raise ValueError(f"base must be one of {sorted(bases)}, got {o['base']!r}")
    return bases[o["base"]]()
