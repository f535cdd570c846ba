"""The Strategy protocol (DESIGN §3): one training loop, method-specific hooks.

A strategy turns a raw batch ``(x uint8, y int)`` into a :class:`Batch` of augmented images
and soft targets, may override the loss, and may log numbers per step and per epoch (they
go into the run's ``metrics.jsonl``).  ``state_dict``/``load_state_dict`` carry whatever the
strategy needs so that a resumed run continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import Augment
from ..losses import soft_cross_entropy

__all__ = [
    "Batch",
    "Context",
    "Strategy",
    "TransformStrategy",
    "extended_batch",
    "one_hot",
    "soft_cross_entropy",
]


@dataclass
class Batch:
    x: Tensor  # augmented images, uint8 or float in [0, 1] (normalisation is inside the model)
    y: Tensor  # soft targets (B, K)
    weight: Tensor | None = None  # per-sample loss weights (B,)


@dataclass
class Context:
    """What hooks may read: the model, device, generators, sizes, the config and the epoch."""

    model: nn.Module
    device: torch.device
    num_classes: int
    aug_generator: torch.Generator
    label_smoothing: float = 0.0
    epoch: int = 0
    step: int = 0
    epochs: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    # the run's data (an augkit.data.ImageDataset; train/val/test tensors) for methods that
    # precompute or search before training (IF-DA, policy search); None in unit tests
    data: Any = None
    out_dir: Path | None = None  # the run directory: stage artefacts and caches live here
    progress: bool = False  # show progress bars in long setup stages


def extended_batch(x: Tensor, y: Tensor, extra_x: Tensor, extra_y: Tensor, base, ctx: Context) -> Batch:
    """``x`` plus labelled extra uint8 images (generated, pseudo-labelled), base-augmented together.

    The extras take the batch's representation (uint8, or float in [0, 1]); targets are one-hot
    with the run's label smoothing.  Shared by strategies that add images to the real batch.
    """
    extra = extra_x.to(x.device)
    extra = extra if x.dtype == torch.uint8 else extra.to(x.dtype) / 255
    xs = base(torch.cat([x, extra]), generator=ctx.aug_generator)
    return Batch(xs, one_hot(torch.cat([y, extra_y.to(y.device)]), ctx.num_classes, ctx.label_smoothing))


def one_hot(y: Tensor, num_classes: int, smoothing: float = 0.0) -> Tensor:
    """Hard labels to soft rows; label smoothing (Szegedy et al. 2016) spreads ``smoothing``."""
    t = F.one_hot(y.long(), num_classes).float()
    return t * (1.0 - smoothing) + smoothing / num_classes if smoothing else t


class Strategy:
    """No augmentation; every other strategy changes only what it must."""

    name = "none"

    def setup(self, ctx: Context) -> None:
        pass

    def on_epoch_start(self, ctx: Context) -> None:
        pass

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        return x

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        return Batch(self.augment(x, ctx), one_hot(y, ctx.num_classes, ctx.label_smoothing))

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        return soft_cross_entropy(model(batch.x), batch.y, batch.weight)

    def on_step_end(self, ctx: Context, stats: dict) -> dict:
        return {}

    def on_epoch_end(self, ctx: Context) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def load_artefact(self, artefact: Any) -> None:
        """Take the result of the strategy's declared search (``StrategyDef.search``)."""
        raise TypeError(f"strategy {self.name!r} declares no search and takes no artefact")

    def tta_transform(self) -> Augment | None:
        """The random transform to draw test-time views from (None: flips/crops only)."""
        return None

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        """Augmented images for galleries: one per input, in input order.

        ``ctx.model`` may be an untrained network (galleries are drawn before training);
        strategies whose batch is not one image per input (AugMix's views, Adversarial
        AutoAugment's M copies) or that need a trained model override this.
        """
        return self.make_batch(x, y, ctx).x[: x.shape[0]]


class TransformStrategy(Strategy):
    """Augment each training batch with one augkit transform (policy or op pipeline)."""

    def __init__(self, name: str, transform: Augment) -> None:
        self.name, self.transform = name, transform

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        return self.transform(x, generator=ctx.aug_generator)

    def tta_transform(self) -> Augment | None:
        return self.transform
