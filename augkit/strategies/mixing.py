"""Multi-image mixing strategies (issue 5): Mixup, CutMix, Manifold Mixup,
AugMix, RICAP, Mosaic, BC, SamplePairing, label smoothing."""

from __future__ import annotations

from .spec import StrategyDef

STRATEGY_DEFS: dict[str, StrategyDef] = {}
