"""Strategy ``pba``: replay a Population Based Augmentation schedule (Ho et al., ICML 2019).

``pba:file=OUT/schedule.json`` (written by ``augkit search pba``) applies, after the base
pipeline (``base=standard``: pad-crop + flip, as PBA's CIFAR children), the PBA policy whose
levels are in force at the current epoch (:mod:`augkit.pba`).  ``length=E`` maps a schedule
searched over E epochs onto a run of a different length proportionally (the paper replays its
200-epoch schedules on 200-epoch runs; ``length=0``, the default, replays epoch for epoch).  Without
``file=`` the policy is PBA's starting point, every level zero: the base pipeline alone.
"""

from __future__ import annotations

import math
from typing import Any

from .. import transforms
from ..pba import PBAPolicy, read_schedule
from .base import Context, TransformStrategy
from .spec import BASE_OPTIONS, StrategyDef, base_augments

__all__ = ["PBASchedule", "STRATEGY_DEFS"]


class PBASchedule(TransformStrategy):
    """Base pipeline, then the PBA policy of the current epoch."""

    def __init__(self, o: dict[str, Any]) -> None:
        self.policy = PBAPolicy(fill=o["fill"])
        super().__init__("pba", transforms.Compose([*base_augments(o), self.policy]))
        self.schedule = read_schedule(o["file"]) if o["file"] else [(0, self.policy.levels)]
        if not isinstance(o["length"], int) or o["length"] < 0:
            raise ValueError(f"length must be an int >= 0 (0: no stretch), got {o['length']!r}")
        self.length = o["length"]

    def on_epoch_start(self, ctx: Context) -> None:
        e = math.floor(ctx.epoch * self.length / max(1, ctx.epochs)) if self.length else ctx.epoch
        self.policy.set_levels(next(lv for start, lv in reversed(self.schedule) if start <= e))


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "pba": StrategyDef(
        PBASchedule,
        {"file": (str, ""), "length": (int, 0), **BASE_OPTIONS},
        "Population Based Augmentation (Ho et al. 2019): replay a schedule (file=, from augkit search pba); "
        "length=E maps a schedule searched over E epochs onto this run",
    ),
}
