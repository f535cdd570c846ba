"""Saliency-guided mixing strategies (issue 5): SaliencyMix, Attentive CutMix, PuzzleMix, Co-Mixup."""

from __future__ import annotations

from .spec import StrategyDef

STRATEGY_DEFS: dict[str, StrategyDef] = {}
