"""Strategy ``gan``: GAN-based augmentation — real batches extended by class-conditional DCGAN samples.

``gan:ratio=0.5,iterations=2000,fid_epochs=30`` — its search (:mod:`augkit.search.gan`) trains the DCGAN
(:mod:`augkit.generative.gan`) on the run's training images before the run; every batch of B
real images (base pipeline applied) then gets ``round(ratio * B)`` generated images, their labels
drawn uniformly over the classes with the run's augmentation generator (the generated images
also pass the base pipeline).  Choices: class-balanced generated labels (the common choice in
GAN-augmentation papers; the training subsets here are balanced anyway) and a fixed share per
batch rather than a fixed pool of generated images, so every step sees new samples.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..sample import randint, randn
from .base import Batch, Context, Strategy, extended_batch
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, float_in, int_at_least

__all__ = ["GANAugmentation", "STRATEGY_DEFS"]


class GANAugmentation(Strategy):
    name = "gan"

    def __init__(self, o: dict[str, Any]) -> None:
        self.ratio, self.base, self.gan = o["ratio"], base_pipeline(o), None

    def load_artefact(self, artefact: Any) -> None:
        self.gan = artefact.gan

    def setup(self, ctx: Context) -> None:
        if self.gan is None:
            raise ValueError(
                "gan trains its DCGAN in its search first: run it through augkit train/compare, or "
                "call load_artefact(augkit.search.gan.search(...))"
            )
        self.gan = self.gan.to(ctx.device)

    @torch.no_grad()
    def _generated(self, k: int, ctx: Context, device) -> tuple[Tensor, Tensor]:
        from ..generative.gan import Z

        g = ctx.aug_generator
        labels = randint(ctx.num_classes, (k,), g, "cpu").to(device)
        self.gan.G.eval()
        x = self.gan.G(randn((k, Z), g, "cpu").to(device), labels)
        return x.mul(255).round().to(torch.uint8), labels

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        gx, gy = self._generated(max(1, round(self.ratio * x.shape[0])), ctx, x.device)
        return extended_batch(x, y, gx, gy, self.base, ctx)

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self._generated(x.shape[0], ctx, x.device)[0]


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "gan": StrategyDef(
        GANAugmentation,
        {
            "ratio": (float_in(0, 4, low_open=True), 0.5),
            "iterations": (int_at_least(1), 2000),
            "fid_epochs": (int_at_least(0), 30),
            **BASE_OPTIONS,
        },
        "GAN augmentation: class-conditional DCGAN samples (trained in its search on the training images) "
        "added to every batch at ratio",
        search="augkit.search.gan:search",
        artefacts=("gan_samples.png", "gan_frechet.json"),
    ),
}
