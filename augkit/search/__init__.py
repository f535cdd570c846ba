"""Searches and pre-training stages that run before (and apart from) training a run.

A search takes the data, an injected ``fit`` (the one training loop), a run directory, the
strategy's options and the run options, and returns an artefact (a trained augmentation
network, a policy file) cached on disk by the options it depends on
(:mod:`augkit.search.cache`).  A strategy that consumes one names its search in its
``StrategyDef.search``; :func:`run_strategy_search` is how the experiment layer runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.base import ImageDataset
from ..strategies.base import Strategy
from ..strategies.registry import STRATEGIES, has_search, parse_strategy
from ..strategies.spec import load_entry
from .cache import cached_stage, stage_done

__all__ = ["cached_stage", "run_search", "run_strategy_search", "searchable", "stage_done"]


def searchable() -> list[str]:
    """Names of the strategies that declare a search (``augkit search NAME``)."""
    return [name for name, d in STRATEGIES.items() if d.search]


def run_search(
    text: str, data: ImageDataset, fit: Callable, out_dir: str | Path, config: dict[str, Any], progress: bool
) -> Any:
    """Run the search that strategy spec ``text`` declares; returns its artefact."""
    name, opts = parse_strategy(text)
    entry = STRATEGIES[name].search
    if entry is None:
        raise ValueError(f"strategy {name!r} declares no search; searchable: {', '.join(searchable())}")
    return load_entry(entry)(data=data, fit=fit, out_dir=Path(out_dir), options=opts, config=config,
                             progress=progress)  # fmt: skip


def run_strategy_search(
    text: str,
    strategy: Strategy,
    data: ImageDataset,
    out_dir: str | Path,
    config: dict[str, Any],
    fit: Callable,
    progress: bool = False,
) -> None:
    """Give ``strategy`` (built from ``text``) its search artefact, if its declaration names a search."""
    if has_search(text):
        strategy.load_artefact(run_search(text, data, fit, out_dir, config, progress))
