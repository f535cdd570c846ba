"""The staged network wrapper every augkit model shares, and generator-driven initialisation.

A model is ``normalize -> stages[0] -> ... -> stages[S-1] -> head``.  Exposing the stages
lets hidden-layer methods reach in: Manifold Mixup (Verma et al., ICML 2019) runs
``features(x, upto=k)``, mixes the hidden state, then ``forward_from(h, k)``; IF-DA-style
methods read the pooled last-layer features with ``embed``.  Stage ``-1`` means the
normalised input, so input-space mixing is the ``k = -1`` case of the same code path.

Normalisation lives inside the model (DESIGN.md section 4): the model takes float images in
[0, 1] or uint8 images in [0, 255] (divided by 255), subtracts the per-channel ``mean`` and
divides by ``std``.  Augmentations therefore always see raw pixels.

Initialisation (He et al., ICCV 2015, "Delving deep into rectifiers"): convolutions get
Kaiming-normal weights with ``mode="fan_out"`` (the choice of He et al. 2016's released
ResNets and of torchvision); linear layers get PyTorch's default bound
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` on the weight and a zero bias; batch norms start at
weight 1, bias 0.  Every draw uses the caller's ``torch.Generator``.  To keep the global RNG
untouched, architectures are built on the ``meta`` device (so ``nn.Module`` constructors do
not run their own global-RNG initialisers) and only then materialised and initialised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "Head",
    "Normalize",
    "StagedNet",
    "as_generator",
    "finalize",
]


class Normalize(nn.Module):
    """uint8 -> float/255, then ``(x - mean) / std`` per channel."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.mean_values = tuple(float(m) for m in mean)
        self.std_values = tuple(float(s) for s in std)
        c = len(self.mean_values)
        self.register_buffer("mean", torch.tensor(self.mean_values).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(self.std_values).view(1, c, 1, 1))

    def reset_parameters(self) -> None:
        """Rewrite the buffers from the stored floats (after ``to_empty``)."""
        with torch.no_grad():
            self.mean.copy_(torch.tensor(self.mean_values).view_as(self.mean))
            self.std.copy_(torch.tensor(self.std_values).view_as(self.std))

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = x.to(self.mean.dtype) / 255.0
        elif not x.dtype.is_floating_point:
            raise TypeError(f"x must be uint8 or floating point, got dtype {x.dtype}")
        return (x - self.mean) / self.std


class Head(nn.Module):
    """Optional pre-activation (BN-ReLU of pre-activation nets), global average pool, flatten, linear."""

    def __init__(self, in_features: int, num_classes: int, pre: nn.Module | None = None) -> None:
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_features, num_classes)
        self.in_features = in_features

    def embed(self, h: Tensor) -> Tensor:
        """Pooled features ``(B, in_features)``: the input of the final linear layer."""
        return torch.flatten(self.pool(self.pre(h)), 1)

    def forward(self, h: Tensor) -> Tensor:
        return self.fc(self.embed(h))


class StagedNet(nn.Module):
    """``normalize -> stages -> head`` with entry and exit points between stages.

    ``features(x, upto=k)`` returns the output of stage ``k`` (``-1``: the normalised input;
    ``None``: the last stage) and ``forward_from(h, k)`` runs stages ``k+1 ..`` and the head,
    so ``forward_from(features(x, upto=k), k) == forward(x)`` for every ``k``.
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        head: Head,
        in_channels: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.normalize = Normalize(mean, std)
        self.stages = nn.ModuleList(stages)
        self.head = head

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def _check_stage(self, k: int, name: str) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or not -1 <= k < self.num_stages:
            raise ValueError(f"{name} must be an int in [-1, {self.num_stages - 1}], got {k!r}")
        return k

    def features(self, x: Tensor, upto: int | None = None) -> Tensor:
        """Normalise ``x`` and run stages ``0..upto`` (all stages when ``upto`` is None)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W) for this model, got {tuple(x.shape)}"
            )
        k = self.num_stages - 1 if upto is None else self._check_stage(upto, "upto")
        h = self.normalize(x)
        for stage in self.stages[: k + 1]:
            h = stage(h)
        return h

    def forward_from(self, h: Tensor, k: int) -> Tensor:
        """Logits from the output ``h`` of stage ``k`` (``-1``: from the normalised input)."""
        k = self._check_stage(k, "k")
        for stage in self.stages[k + 1 :]:
            h = stage(h)
        return self.head(h)

    def embed(self, x: Tensor) -> Tensor:
        """Pooled last-layer features ``(B, D)``, the input of the final linear layer."""
        return self.head.embed(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def as_generator(generator: torch.Generator | int) -> torch.Generator:
    """An int is taken as a seed for a fresh CPU generator; a Generator is used as is."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")


def _init_conv(m: nn.Conv2d, g: torch.Generator) -> None:
    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _init_linear(m: nn.Linear, g: torch.Generator) -> None:
    bound = 1.0 / math.sqrt(m.in_features)
    nn.init.uniform_(m.weight, -bound, bound, generator=g)
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _init_bn(m: nn.BatchNorm2d, g: torch.Generator) -> None:
    m.reset_parameters()  # weight 1, bias 0, running stats reset: no random draws


_INITIALISERS: dict[type, Callable[[nn.Module, torch.Generator], None]] = {
    nn.Conv2d: _init_conv,
    nn.Linear: _init_linear,
    nn.BatchNorm2d: _init_bn,
    Normalize: lambda m, g: m.reset_parameters(),
}


def finalize(net: nn.Module, generator: torch.Generator | int) -> nn.Module:
    """Materialise a (possibly ``meta``-device) module on the generator's device and initialise it.

    Raises TypeError for a module type that owns parameters or buffers but has no initialiser
    here, so no tensor is ever left uninitialised after ``to_empty``.
    """
    g = as_generator(generator)
    net = net.to_empty(device=g.device)
    for m in net.modules():
        init = _INITIALISERS.get(type(m))
        if init is not None:
            init(m, g)
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            raise TypeError(f"no initialiser for module type {type(m).__name__}; add one to _INITIALISERS")
    return net


def check_common(
    in_channels: int, num_classes: int, mean: Sequence[float], std: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Validate the arguments every builder takes; return ``mean`` and ``std`` as float tuples."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int (1 or 3), got {in_channels!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    out = []
    for name, seq in (("mean", mean), ("std", std)):
        try:
            vals = tuple(float(v) for v in seq)
        except (TypeError, ValueError):
            vals = None
        if vals is None or len(vals) != in_channels:
            raise ValueError(
                f"{name} must be a sequence of {in_channels} per-channel floats (in_channels), got {seq!r}"
            )
        out.append(vals)
    if any(not s > 0 for s in out[1]):
        raise ValueError(f"std must be positive per channel, got {tuple(std)!r}")
    return out[0], out[1]
