"""Strategy ``distill``: data distillation (Radosavovic et al., CVPR 2018) — train on labels plus a
teacher's view-ensembled pseudo-labels of the unlabeled rest of the training set.

``distill:ratio=0.5,teacher=standard,views=flip-crop`` — its search (:mod:`augkit.search.distill`)
trains the teacher and labels the pool before the run; every training batch of B labeled images
(augmented by the base pipeline) is then extended by ``round(ratio * B)`` pseudo-labeled images
drawn uniformly from the pool with the run's augmentation generator and augmented the same way.
The paper fixes the share of original to generated labels in every minibatch (``ratio`` here;
its experiments use about 6:4, i.e. ratio 0.67) and trains the student from scratch, as here.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..sample import randint
from .base import Batch, Context, Strategy, extended_batch
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, float_in, int_at_least

__all__ = ["VIEW_SETS", "DataDistillation", "STRATEGY_DEFS"]


# named ensembles of augkit's deterministic TTA views (``evaluation_suite.tta_views`` order)
VIEW_SETS = {"identity": (0,), "flip": (0, 1), "flip-crop": (0, 1, 2, 3, 4, 5)}


def _views(v: str) -> str:
    if v not in VIEW_SETS:
        raise ValueError(f"views must be one of {sorted(VIEW_SETS)}, got {v!r}")
    return v


class DataDistillation(Strategy):
    """Labeled batch + a fixed share of pseudo-labeled pool images."""

    name = "distill"

    def __init__(self, o: dict[str, Any]) -> None:
        self.ratio, self.base = o["ratio"], base_pipeline(o)
        self.pool_x: Tensor | None = None
        self.pool_y: Tensor | None = None
        self.summary: dict = {}

    def load_artefact(self, artefact: Any) -> None:
        self.pool_x, self.pool_y, self.summary = artefact.x, artefact.y, artefact.summary

    def setup(self, ctx: Context) -> None:
        if self.pool_x is None:
            raise ValueError(
                "distill trains on its teacher's pseudo-labels: run it through augkit train/compare "
                "(with --subset), or call load_artefact(augkit.search.distill.search(...))"
            )
        if self.pool_x.shape[0] == 0:
            raise ValueError("distill: the teacher kept no pseudo-labeled image (lower threshold=)")

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        k = max(1, round(self.ratio * x.shape[0]))
        idx = randint(self.pool_x.shape[0], (k,), ctx.aug_generator, "cpu")
        return extended_batch(x, y, self.pool_x[idx], self.pool_y[idx], self.base, ctx)

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self.base(x, generator=ctx.aug_generator)


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "distill": StrategyDef(
        DataDistillation,
        {
            "ratio": (float_in(0, 4, low_open=True), 0.67),
            "teacher": (str, "standard"),
            "views": (_views, "flip-crop"),
            "threshold": (float, 0.0),
            "unlabeled": (int_at_least(1), 10000),
            **BASE_OPTIONS,
        },
        "data distillation (Radosavovic et al. 2018): a teacher's view-ensembled pseudo-labels of the "
        "images --subset leaves out, ratio per labeled image in every batch",
        search="augkit.search.distill:search",
    ),
}
