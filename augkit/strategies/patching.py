"""Strategies ``gdro`` and ``clamp``: model patching (Goel, Gu, Li & Ré, ICLR 2021; the seed's
``004_...`` part 4) on a dataset with subgroup labels (``augkit.patching.GroupedDataset``).

``gdro:eta=0.01,adjust=1`` — class-conditional group DRO alone (the paper's GDRO row): the
cross-entropy of each subgroup present in the batch, weighted by the online per-class subgroup
weights of :class:`augkit.patching.ClassConditionalGDRO`.

``clamp:weight=5,eta=0.01,adjust=1,gdro=true,iterations=1000,cycle=10`` — CLAMP: its search
(:mod:`augkit.search.cyclegan`) trains one CycleGAN per class between its two subgroups and
translates every training image into the other subgroup of its class; training then adds the
subgroup-consistency penalty (:func:`augkit.patching.camel_consistency`, ``weight`` = 5 as in
the released MNIST-Correlation config) over each image and its translation to the
class-conditional GDRO loss (``gdro=false``: to the mean cross-entropy, an ablation).  As in the
released code (``augmentation_training: original``) the label loss is on the original images
only; the translations enter through the consistency term.  One forward pass over the original
and translated images (batch norm sees both, as in AugMix's JSD pass).

Subgroups and translations are looked up from the raw batch's pixels (:class:`augkit.patching.
GroupIndex`), so the loop and loader stay those of every strategy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..patching.groups import GroupIndex
from ..patching.objectives import ClassConditionalGDRO, camel_consistency
from .base import Batch, Context, Strategy, one_hot, soft_cross_entropy
from .spec import StrategyDef, float_in, int_at_least, parse_bool

__all__ = ["STRATEGY_DEFS", "ClampStrategy", "GDROStrategy"]


def _grouped(ctx: Context, name: str) -> tuple[Tensor, Tensor, Tensor]:
    data = ctx.data
    groups = getattr(data, "train_groups", None)
    if groups is None:
        raise ValueError(
            f"{name} needs subgroup labels: train on a GroupedDataset (augkit patch builds the zigzag "
            f"benchmark), got {type(data).__name__}"
        )
    return data.train_x, data.train_y, groups


class GDROStrategy(Strategy):
    """Class-conditional group DRO over the training set's subgroups."""

    name = "gdro"

    def __init__(self, o: dict[str, Any]) -> None:
        self.opts, self.index, self.gdro = o, None, None
        self._groups: Tensor | None = None
        self._pending: dict | None = None

    def setup(self, ctx: Context) -> None:
        x, y, groups = _grouped(ctx, self.name)
        self.index = GroupIndex(x, groups)
        n_groups = int(groups.max()) + 1
        group_class = torch.zeros(n_groups, dtype=torch.int64).scatter_(0, groups, y)
        counts = torch.bincount(groups, minlength=n_groups)
        self.gdro = ClassConditionalGDRO(group_class, counts, self.opts["eta"], self.opts["adjust"])
        if self._pending is not None:
            self.gdro.load_state_dict(self._pending)

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        self._groups = self.index.groups_of(x)
        return Batch(x, one_hot(y, ctx.num_classes, ctx.label_smoothing))

    def robust_loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        per = soft_cross_entropy(logits, targets, reduction="none")
        return self.gdro.loss(per, self._groups)

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        return self.robust_loss(model(batch.x), batch.y)

    def on_epoch_end(self, ctx: Context) -> dict:
        q = self.gdro.weights()
        return {f"gdro_q{g}": float(v) for g, v in enumerate(q)}

    def state_dict(self) -> dict:
        return self.gdro.state_dict() if self.gdro is not None else dict(self._pending or {})

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        if self.gdro is None:
            self._pending = state
        else:
            self.gdro.load_state_dict(state)


class ClampStrategy(GDROStrategy):
    """GDRO (or mean CE) on the originals + subgroup consistency with their CycleGAN translations."""

    name = "clamp"

    def __init__(self, o: dict[str, Any]) -> None:
        super().__init__(o)
        self.translations: Tensor | None = None
        self.summary: dict = {}
        self._cons: list[float] = []

    def load_artefact(self, artefact: Any) -> None:
        self.translations, self.summary = artefact.translations, dict(artefact.summary)

    def setup(self, ctx: Context) -> None:
        if self.translations is None:
            raise ValueError(
                "clamp trains its CycleGANs in its search first: run it through augkit patch/train, or "
                "call load_artefact(augkit.search.cyclegan.search(...))"
            )
        super().setup(ctx)
        if self.translations.shape != ctx.data.train_x.shape:
            raise ValueError(
                f"clamp's translations have shape {tuple(self.translations.shape)}, the training images "
                f"{tuple(ctx.data.train_x.shape)}: the artefact belongs to another dataset"
            )

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        rows = self.index.rows_of(x)
        self._groups = self.index.groups.to(x.device)[rows]
        xt = self.translations[rows.cpu()].to(x.device)
        return Batch(torch.cat([x, xt]), one_hot(y, ctx.num_classes, ctx.label_smoothing))

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        z, zt = model(batch.x).chunk(2)
        if self.opts["gdro"]:
            label = self.robust_loss(z, batch.y)
        else:
            label = soft_cross_entropy(z, batch.y)
        cons = camel_consistency(z, [z, zt])
        self._cons.append(float(cons.detach()))
        return label + self.opts["weight"] * cons

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self.make_batch(x, y, ctx).x[x.shape[0] :]

    def on_epoch_end(self, ctx: Context) -> dict:
        out = super().on_epoch_end(ctx) if self.opts["gdro"] else {}
        if self._cons:
            out["clamp_consistency"] = sum(self._cons) / len(self._cons)
        self._cons = []
        return out


_GDRO = {"eta": (float_in(0, 10), 0.01), "adjust": (float_in(0, 100), 1.0)}

STRATEGY_DEFS: dict[str, StrategyDef] = {
    "gdro": StrategyDef(
        GDROStrategy,
        _GDRO,
        "class-conditional group DRO (Sagawa et al. 2020; per class as in Goel et al. 2021): online "
        "subgroup weights, step eta, adjustment C/sqrt(n_g); needs a dataset with subgroup labels",
        ddp_refusal="its subgroup weights q follow each batch's subgroup losses, so they would drift "
        "apart across ranks",
    ),
    "clamp": StrategyDef(
        ClampStrategy,
        {
            "weight": (float_in(0, 1000), 5.0),
            **_GDRO,
            "gdro": (parse_bool, True),
            "iterations": (int_at_least(1), 1000),
            "cycle": (float_in(0, 1000), 10.0),
        },
        "CLAMP model patching (Goel et al. 2021): per-class CycleGAN translations between subgroups, "
        "subgroup-consistency penalty (weight) + class-conditional GDRO",
        search="augkit.search.cyclegan:search",
    ),
}
