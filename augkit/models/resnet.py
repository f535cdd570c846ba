"""CIFAR ResNets of He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, section 4.2.

ResNet-(6n+2): a 3x3 conv with 16 filters, then three groups of n basic blocks (two 3x3 convs
each, post-activation: conv-BN-ReLU-conv-BN, add, ReLU) on 16, 32 and 64 channels; the first
block of groups 2 and 3 halves the resolution with a stride-2 conv; global average pool and a
linear layer.  ResNet-20 is n=3 (0.27 M parameters), ResNet-56 is n=9 (0.85 M).

Shortcut: **option A**, as the paper uses on CIFAR ("we use identity shortcuts in all cases"):
identity where shapes agree; where they change, the input is subsampled by taking every other
pixel and the new channels are zero (here appended after the existing ones; the paper does not
say where; zero-padding both sides, as some re-implementations do, is the same network up to a
channel permutation).  Option A adds no parameters, which is why the counts above match the
paper's table 6.

Stages for hidden-layer methods: 0 = stem (conv-BN-ReLU), 1..3 = the three groups.  Inputs other
than 32x32 work (28x28 -> 28/14/7; 8x8 -> 8/4/2) because the head pools globally.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Head, StagedNet, check_common, finalize

__all__ = ["cifar_resnet", "resnet20", "resnet56"]

_WIDTHS: tuple[int, ...] = (16, 32, 64)
_STRIDES: tuple[int, ...] = (1, 2, 2)


class PadShortcut(nn.Module):
    """Option A shortcut: subsample by ``stride`` and append ``extra`` zero channels."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = extra

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus shortcut, then ReLU (He et al. 2016, figure 2)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        same = stride == 1 and cin == cout
        self.shortcut: nn.Module = nn.Identity() if same else PadShortcut(stride, cout - cin)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def cifar_resnet(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
    depth: int = 20,
) -> StagedNet:
    """ResNet-``depth`` for CIFAR, ``depth = 6n + 2`` (20, 32, 44, 56, 110, ...)."""
    mean_t, std_t = check_common(in_channels, num_classes, mean, std)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth!r}")
    n = (depth - 2) // 6
    with torch.device("meta"):
        stem = nn.Sequential(
            nn.Conv2d(in_channels, _WIDTHS[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(_WIDTHS[0]),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = [stem]
        cin = _WIDTHS[0]
        for width, stride in zip(_WIDTHS, _STRIDES, strict=True):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(cin, width, stride if i == 0 else 1))
                cin = width
            stages.append(nn.Sequential(*blocks))
        net = StagedNet(stages, Head(cin, num_classes), in_channels, num_classes, mean_t, std_t)
    return finalize(net, generator)


def resnet20(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
) -> StagedNet:
    """ResNet-20 (n = 3), option A shortcuts."""
    return cifar_resnet(in_channels, num_classes, mean, std, generator=generator, depth=20)


def resnet56(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
) -> StagedNet:
    """ResNet-56 (n = 9), option A shortcuts."""
    return cifar_resnet(in_channels, num_classes, mean, std, generator=generator, depth=56)
