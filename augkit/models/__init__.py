"""Models built as stages so hidden-layer methods can reach in; see :mod:`augkit.models.base`.

Every builder has the signature ``(in_channels, num_classes, mean, std, *, generator, **options)``
where ``mean``/``std`` are per-channel floats applied inside the model to [0, 1] input (uint8
input is divided by 255 first) and ``generator`` (a ``torch.Generator`` or an int seed) drives
all of the initialisation; the global RNG is never touched.

=================  ==========================================================  ===========
name               reference                                                   shortcut
=================  ==========================================================  ===========
small_cnn          VGG-style conv-BN-ReLU, GAP head (CPU default)              none
small_cnn_half     small_cnn at half width (16/32/64): 1/4 of the multiply-    none
                   adds, 2.9x the training throughput on one CPU thread
resnet20/56        He et al. CVPR 2016, CIFAR ResNet                           option A
preact_resnet18    He et al. ECCV 2016, CIFAR variant                          option B
wrn, wrn_28_2/10   Zagoruyko & Komodakis BMVC 2016 (``depth``, ``widen``,      option B
                   ``dropout`` options on ``wrn``)
=================  ==========================================================  ===========
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from .base import Head, Normalize, StagedNet
from .preact import GeneratorDropout, preact_resnet18, wrn, wrn_28_k
from .resnet import cifar_resnet, resnet20, resnet56
from .small_cnn import small_cnn

__all__ = [
    "MODELS",
    "GeneratorDropout",
    "Head",
    "Normalize",
    "StagedNet",
    "build_model",
    "cifar_resnet",
    "count_parameters",
    "preact_resnet18",
    "resnet20",
    "resnet56",
    "small_cnn",
    "wrn",
    "wrn_28_k",
]

MODELS: dict[str, Callable[..., StagedNet]] = {
    "small_cnn": small_cnn,
    "small_cnn_half": partial(small_cnn, widths=(16, 32, 64)),
    "resnet20": resnet20,
    "resnet56": resnet56,
    "preact_resnet18": preact_resnet18,
    "wrn": wrn,
    "wrn_28_2": wrn_28_k(2),
    "wrn_28_10": wrn_28_k(10),
}


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    **kw: Any,
) -> StagedNet:
    """Build the registered model ``name``; ``kw`` must include ``generator`` (Generator or int seed)."""
    builder = MODELS.get(name)
    if builder is None:
        raise ValueError(f"unknown model name {name!r}; valid names: {', '.join(sorted(MODELS))}")
    if "generator" not in kw:
        raise TypeError(
            "build_model needs generator= (a torch.Generator or an int seed); initialisation never "
            "uses the global RNG"
        )
    return builder(in_channels, num_classes, mean, std, **kw)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
