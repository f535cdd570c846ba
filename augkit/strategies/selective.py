"""Sample-selective augmentation (issue 8): self-paced augmentation and uncertainty-based sampling."""

from __future__ import annotations

from .spec import StrategyDef

STRATEGY_DEFS: dict[str, StrategyDef] = {}
