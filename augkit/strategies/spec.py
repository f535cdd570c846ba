"""How a strategy is declared: a builder, its ``key=value`` options with parsers and defaults, help.

Shared by the core table in ``registry.py`` and every method family's module, which export
``STRATEGY_DEFS: dict[str, StrategyDef]`` that the registry merges.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import transforms
from ..base import Augment
from .base import Strategy

__all__ = [
    "BASE_OPTIONS",
    "StrategyDef",
    "base_augments",
    "base_pipeline",
    "float_in",
    "int_at_least",
    "load_entry",
    "parse_bool",
    "parse_key_values",
]

_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def int_at_least(low: int) -> Callable[[str], int]:
    """An option parser for counts: an int >= ``low`` (so the error names the strategy's own key)."""

    def parse(v: str) -> int:
        n = int(v)
        if n < low:
            raise ValueError(f"expected an int >= {low}, got {v!r}")
        return n

    return parse


def float_in(
    low: float, high: float, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An option parser for a bounded number (NaN refused); the error shows the interval."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(v: str) -> float:
        x = float(v)
        above = x > low if low_open else x >= low
        below = x < high if high_open else x <= high
        if not (above and below):  # NaN fails both
            raise ValueError(f"expected a number in {interval}, got {v!r}")
        return x

    return parse


def parse_bool(v: str) -> bool:
    if v.lower() not in _BOOL:
        raise ValueError(f"expected a boolean (1/0/true/false), got {v!r}")
    return _BOOL[v.lower()]


@dataclass(frozen=True)
class StrategyDef:
    """One strategy, declared once: everything else (CLI, search, report) reads this record.

    The ``"module:attr"`` fields are imported only when used, so reading the table costs nothing.
    """

    build: Callable[..., Strategy]  # build(opts); composite: build(opts, build_strategy, table)
    options: dict[str, tuple[Callable[[str], Any], Any]]  # key -> (parser, default)
    help: str
    search: str | None = None  # search(data, fit, out_dir, options, config, progress) -> artefact
    figures: str | None = None  # report figures(runs, strategy, specs, out_dir) -> [ReportFigure]
    artefacts: tuple[str, ...] = ()  # small files the strategy writes into a run directory
    composite: bool = False  # builds other registered strategies (SPA's inner augmentation)
    bare_option: str | None = None  # an item without '=' (or inline JSON) is this option's value
    # why it cannot train under torchrun (None: each rank runs it on its local batch; augkit.train)
    ddp_refusal: str | None = None


def parse_key_values(
    what: str, text: str, table: dict[str, tuple[Callable[[str], Any], Any]], bare: str | None = None
) -> dict[str, Any]:
    """``"k=v,k=v"`` against ``table`` (key -> (parser, default)), defaults filled in.

    ``what`` opens every error (``"strategy 'mixup'"``, ``"search 'pba'"``), which names the bad
    item and the valid keys.  ``bare``: the key a value without ``=`` belongs to; a bare value
    written as inline JSON keeps its own commas (the whole text is then one item).
    """
    opts = {k: default for k, (_, default) in table.items()}
    whole = bare is not None and any(c in text for c in "[{")
    for item in filter(None, (s.strip() for s in ([text] if whole else text.split(",")))):
        key, eq, value = item.partition("=")
        if bare is not None and not eq:
            key, eq, value = bare, "=", item
        if not eq or key not in table:
            valid = ", ".join(table) or "(none)"
            raise ValueError(
                f"{what}: option {item!r} is not key=value with a valid key; valid keys: {valid}"
            )
        try:
            opts[key] = table[key][0](value)
        except ValueError as e:
            raise ValueError(f"{what}: option {key}={value!r} is invalid: {e}") from None
    return opts


def load_entry(entry: str) -> Any:
    """Import ``"augkit.module:attr"`` (entry points of :class:`StrategyDef`; augkit's own only)."""
    module, _, attr = entry.partition(":")
    if not module.startswith("augkit.") or not attr:
        raise ValueError(f"entry must be 'augkit.<module>:<name>', got {entry!r}")
    return getattr(importlib.import_module(module), attr)


# ``base``: the pipeline a method runs on top of; ``fill``: 8-bit fill value of geometric ops
BASE_OPTIONS: dict[str, tuple[Callable[[str], Any], Any]] = {"base": (str, "standard"), "fill": (float, 0.0)}


def base_augments(o: dict[str, Any]) -> list[Augment]:
    """The base pipeline named by option ``base``: ``standard`` (pad-crop + flip) or ``none``."""
    bases = {
        "standard": lambda: transforms.standard_parts(o.get("padding", 4)),
        "none": lambda: [],
    }
    if o["base"] not in bases:
        raise ValueError(f"base must be one of {sorted(bases)}, got {o['base']!r}")
    return bases[o["base"]]()


def base_pipeline(o: dict[str, Any]) -> transforms.Compose:
    """:func:`base_augments` as one transform: what a method family augments with before its own step."""
    return transforms.Compose(base_augments(o))
