"""Strategy ``style``: style augmentation (Jackson et al., CVPR-W 2019) through a local AdaIN network.

``style:alpha=0.5,p=0.5`` — after the base pipeline, each image with probability ``p`` is
re-rendered with the style embedding ``alpha z + (1 - alpha) z_own``, ``z`` drawn from the
normal fitted to the style crops' embeddings (:mod:`augkit.generative.adain`).  Its search
(:mod:`augkit.search.style`) trains the decoder before the run (``iterations``, ``style_weight``,
``crops`` style crops), cached in the run directory.  Jackson et al. use alpha = 0.5 and
augmentation ratio 1:1 for their main results; p = 0.5 gives half the images a new style.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..sample import rand, randn
from .base import Context, Strategy
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, float_in, int_at_least

__all__ = ["STRATEGY_DEFS", "StyleAugmentation"]


class StyleAugmentation(Strategy):
    """Base pipeline, then a random style for a ``p`` share of the images."""

    name = "style"

    def __init__(self, o: dict[str, Any]) -> None:
        self.alpha, self.p, self.base = o["alpha"], o["p"], base_pipeline(o)
        self.net = self.mean = self.chol = None

    def load_artefact(self, artefact: Any) -> None:
        self.net, self.mean, self.chol = artefact.net, artefact.mean, artefact.chol

    def setup(self, ctx: Context) -> None:
        if self.net is None:
            raise ValueError(
                "style trains its AdaIN decoder in its search first: run it through augkit "
                "train/compare, or call load_artefact(augkit.search.style.search(...))"
            )
        self.net = self.net.to(ctx.device)

    @torch.no_grad()
    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        g = ctx.aug_generator
        x = self.base(x, generator=g)
        on = rand((x.shape[0],), g, x.device) < self.p
        idx = on.nonzero().squeeze(1)
        if idx.numel() == 0:
            return x
        xs = x[idx].float() / 255 if x.dtype == torch.uint8 else x[idx].float()
        eps = randn((idx.numel(), self.mean.shape[0]), g, x.device)
        z = self.mean.to(x.device) + eps @ self.chol.to(x.device).T
        z = self.alpha * z + (1 - self.alpha) * self.net.embed(xs)
        out = self.net.render(xs, z)
        x = x.clone()
        x[idx] = out.mul(255).round().to(torch.uint8) if x.dtype == torch.uint8 else out.to(x.dtype)
        return x


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "style": StrategyDef(
        StyleAugmentation,
        {
            "alpha": (float_in(0, 1), 0.5),
            "p": (float_in(0, 1), 0.5),
            "iterations": (int_at_least(1), 300),
            "style_weight": (float, 10.0),
            "crops": (int_at_least(2), 256),
            **BASE_OPTIONS,
        },
        "style augmentation (Jackson et al. 2019): random AdaIN style embeddings, alpha-interpolated, for "
        "a p share of images; its search trains the decoder on local style crops",
        search="augkit.search.style:search",
    ),
}
