"""Pre-activation ResNets: PreAct ResNet-18 (CIFAR variant) and Wide ResNets.

PreAct ResNet-18 follows He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016,
in the CIFAR layout used by the mixup (Zhang et al. 2018) and Manifold Mixup (Verma et al.
2019) experiments: a 3x3 stem conv with 64 filters and stride 1 (no 7x7 conv, no max-pool),
four groups of two pre-activation basic blocks (BN-ReLU-conv3x3-BN-ReLU-conv3x3, add) on 64,
128, 256, 512 channels with strides 1, 2, 2, 2, then BN-ReLU, global average pool, linear.
Shortcut: identity where shapes agree, otherwise a 1x1 stride-s projection conv applied to the
pre-activated input (**option B**).  Departure from the mixup reference code (a copy of the
widely used kuangliu/pytorch-cifar model): that code omits the final BN-ReLU before pooling;
we keep it, as He et al. 2016 prescribe ("an extra activation after the last addition") and as
the Manifold Mixup code does.  11.17 M parameters for 10 classes.

Wide ResNet follows Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016: WRN-d-k has a
3x3 stem conv with 16 filters, three groups of n = (d - 4) / 6 pre-activation blocks on 16k,
32k, 64k channels with strides 1, 2, 2, dropout (optional, paper: 0.3) between the two convs of
a block after the ReLU, 1x1 projection shortcuts where the shape changes, final BN-ReLU, pool,
linear.  WRN-28-10 has 36.5 M parameters.

Dropout here draws its masks from its own ``torch.Generator`` seeded from the build generator,
never from the global RNG (DESIGN.md section 4); its generator state is saved in the module's
``state_dict`` extra state so a resumed run draws the same masks.

Stages for hidden-layer methods: 0 = stem conv, then one stage per group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Head, StagedNet, as_generator, check_common, finalize

__all__ = ["GeneratorDropout", "PreActBlock", "preact_resnet18", "wrn", "wrn_28_k"]


class GeneratorDropout(nn.Module):
    """Inverted dropout whose masks come from a private generator seeded with ``seed``.

    The generator is created lazily on the activations' device; moving the model to another
    device restarts the stream from ``seed``.
    """

    def __init__(self, p: float, seed: int) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = int(seed)
        self._gen: torch.Generator | None = None
        self._pending_state: Tensor | None = None

    def _generator(self, device: torch.device) -> torch.Generator:
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device).manual_seed(self.seed)
            if self._pending_state is not None:
                self._gen.set_state(self._pending_state)
                self._pending_state = None
        return self._gen

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = self._generator(x.device)
        keep = torch.rand(x.shape, generator=g, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def get_extra_state(self) -> dict[str, Any]:
        state = self._gen.get_state() if self._gen is not None else self._pending_state
        return {"seed": self.seed, "state": state}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self._gen = None
        self._pending_state = state["state"]

    def extra_repr(self) -> str:
        return f"p={self.p}"


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3 plus shortcut (He et al. 2016b, figure 4e)."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.dropout = dropout if dropout is not None else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.project = stride != 1 or cin != cout
        self.shortcut: nn.Module = (
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if self.project else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        o = F.relu(self.bn1(x))
        short = self.shortcut(o) if self.project else x
        out = self.conv1(o)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + short


def _preact_net(
    in_channels: int,
    num_classes: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    generator: torch.Generator,
    stem_width: int,
    groups: Sequence[tuple[int, int, int]],
    dropout: float,
) -> StagedNet:
    """Stem conv, then ``groups`` of (width, blocks, stride), final BN-ReLU in the head."""
    n_blocks = sum(b for _, b, _ in groups)
    seeds = [0] * n_blocks
    if dropout > 0.0:  # drawn only when used, so dropout=0 nets init identically to no-dropout ones
        seeds = torch.randint(2**62, (n_blocks,), generator=generator, device=generator.device).tolist()
    with torch.device("meta"):
        stages: list[nn.Module] = [nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False)]
        cin, i = stem_width, 0
        for width, blocks, stride in groups:
            group = []
            for j in range(blocks):
                drop = GeneratorDropout(dropout, seeds[i]) if dropout > 0.0 else None
                group.append(PreActBlock(cin, width, stride if j == 0 else 1, drop))
                cin, i = width, i + 1
            stages.append(nn.Sequential(*group))
        pre = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        net = StagedNet(stages, Head(cin, num_classes, pre), in_channels, num_classes, mean, std)
    return finalize(net, generator)


def preact_resnet18(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
) -> StagedNet:
    """PreAct ResNet-18, CIFAR variant (3x3 stem, no max-pool), option B projection shortcuts."""
    mean_t, std_t = check_common(in_channels, num_classes, mean, std)
    groups = ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))
    return _preact_net(in_channels, num_classes, mean_t, std_t, as_generator(generator), 64, groups, 0.0)


def wrn(
    in_channels: int,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    generator: torch.Generator | int,
    depth: int = 28,
    widen: int = 10,
    dropout: float = 0.0,
) -> StagedNet:
    """Wide ResNet WRN-``depth``-``widen`` with ``depth = 6n + 4``; ``dropout`` between the block convs."""
    mean_t, std_t = check_common(in_channels, num_classes, mean, std)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth!r}")
    if isinstance(widen, bool) or not isinstance(widen, int) or widen < 1:
        raise ValueError(f"widen must be a positive int, got {widen!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
    n = (depth - 4) // 6
    groups = ((16 * widen, n, 1), (32 * widen, n, 2), (64 * widen, n, 2))
    g = as_generator(generator)
    return _preact_net(in_channels, num_classes, mean_t, std_t, g, 16, groups, float(dropout))


def wrn_28_k(k: int, dropout: float = 0.0) -> Callable[..., StagedNet]:
    """Builder for WRN-28-k; registry signature ``(in_channels, num_classes, mean, std, *, generator)``

    Zagoruyko & Komodakis use ``dropout=0.3`` for their best CIFAR results; 0 (off) is the default here.
    """
    return partial(wrn, depth=28, widen=k, dropout=dropout)
