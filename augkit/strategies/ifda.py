"""IF-DA, augmentation learned through influence functions (issue 7)."""

from __future__ import annotations

from .spec import StrategyDef

STRATEGY_DEFS: dict[str, StrategyDef] = {}
