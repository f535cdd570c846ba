"""A small, fast CNN: augkit's CPU default for 28x28 (Fashion-MNIST), 32x32 (CIFAR) and 8x8 (digits).

Not from a paper; it follows the common "VGG-style conv-BN-ReLU blocks, widths doubling at each
max-pool, global average pool" recipe (Simonyan & Zisserman 2015; Ioffe & Szegedy 2015 for BN;
Lin et al. 2014 for the global average pool head).  Three stages:

    stage 0: conv3x3(C_in -> 32)  BN ReLU,                      maxpool 2
    stage 1: conv3x3(32 -> 64)    BN ReLU, conv3x3(64 -> 64)    BN ReLU, maxpool 2
    stage 2: conv3x3(64 -> 128)   BN ReLU, conv3x3(128 -> 128)  BN ReLU
    head:    global average pool, linear(128 -> num_classes)

About 0.28 M parameters and 22 M multiply-adds per 28x28 image.  Choices made for CPU speed:
a single conv at full resolution (the 28x28 layer is the most expensive per channel), the wide
layers only after two pools, no bias in convs followed by BN, no dropout (BN plus augmentation
regularise enough at this size).  Any input size of at least 4x4 works (8x8 -> 4 -> 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Head, StagedNet, check_common, finalize

__all__ = ["small_cnn"]

# (convs in the stage, max-pool at its end) per stage; widths come from the `widths` argument.
_PLAN: tuple[tuple[int, bool], ...] = ((1, True), (2, True), (2, False))


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def small_cnn(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
    widths: Sequence[int] = (32, 64, 128),
) -> StagedNet:
    """Build the small CNN; ``widths`` gives the channels of the three stages."""
    mean_t, std_t = check_common(in_channels, num_classes, mean, std)
    widths = tuple(widths)
    if len(widths) != len(_PLAN) or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be {len(_PLAN)} positive ints, got {widths!r}")
    with torch.device("meta"):
        stages: list[nn.Module] = []
        cin = in_channels
        for width, (n_convs, pool) in zip(widths, _PLAN, strict=True):
            layers: list[nn.Module] = []
            for _ in range(n_convs):
                layers += _conv_bn_relu(cin, width)
                cin = width
            if pool:
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
        net = StagedNet(stages, Head(cin, num_classes), in_channels, num_classes, mean_t, std_t)
    return finalize(net, generator)
