"""Adversarial AutoAugment (issue 6)."""

from __future__ import annotations

from .spec import StrategyDef

STRATEGY_DEFS: dict[str, StrategyDef] = {}
