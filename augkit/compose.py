"""Combinators: apply transforms in order, with a probability, or one of several per image.

Split from :mod:`augkit.transforms` (which re-exports them) to keep files small; each image of a
batch draws its own branch, and the params of every child are kept so a draw replays exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Augment, as_batch
from .sample import index_params, rand

__all__ = ["ChoiceParams", "Compose", "OneOf", "RandomApply"]


# shared with augkit.transforms (which imports them from here)
def _is_num(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _prob(p: float, name: str = "p") -> float:
    if not _is_num(p) or not 0.0 <= p <= 1.0:  # NaN fails the comparison
        kind = ValueError if _is_num(p) else TypeError
        raise kind(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def _on_subset(x: Tensor, mask: Tensor, params, fn: Callable[[Tensor, object], Tensor]) -> Tensor:
    """Apply ``fn`` only to the images where ``mask`` is set (params indexed to match)."""
    if bool(mask.all()):
        return fn(x, params)
    out = x.clone()
    idx = torch.nonzero(mask).squeeze(1)
    if idx.numel():
        out[idx] = fn(x[idx], index_params(params, idx))
    return out


class Compose(Augment):
    """Apply transforms in order; params are the tuple of each child's params."""

    def __init__(self, transforms: Sequence[Augment], seed: int = 0) -> None:
        super().__init__(seed)
        _check_transforms(transforms, allow_empty=True)
        self.transforms = torch.nn.ModuleList(transforms)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> tuple:
        params = []
        for t in self.transforms:  # later draws may depend on earlier output shapes
            p = t.sample_batch(x, generator)
            x = t.apply_batch(x, p)
            params.append(p)
        return tuple(params)

    def apply_batch(self, x: Tensor, params: tuple) -> Tensor:
        for t, p in zip(self.transforms, params, strict=True):
            x = t.apply_batch(x, p)
        return x

    def sample_apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        for t in self.transforms:
            x = t.sample_apply(x, generator)
        return x

    def apply(self, x: Tensor, params: tuple) -> Tensor:
        """Each child's own ``apply``, so an empty batch still takes a resizing child's output size."""
        xb, single = as_batch(x)
        for t, p in zip(self.transforms, params, strict=True):
            xb = t.apply(xb, p)
        return xb[0] if single else xb


@dataclass(frozen=True)
class ChoiceParams:
    choice: Tensor  # (B,) which child (or 1/0 for RandomApply)
    children: tuple  # each child's params for the whole batch


class RandomApply(Augment):
    """Apply ``transform`` to each image with probability ``p`` (per image)."""

    def __init__(self, transform: Augment, p: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        if not isinstance(transform, Augment):
            raise TypeError(f"transform must be an augkit Augment module, got {type(transform).__name__}")
        self.transform, self.p = transform, _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> ChoiceParams:
        on = rand((x.shape[0],), generator, x.device) < self.p
        return ChoiceParams(on.long(), (self.transform.sample_batch(x, generator),))

    def apply_batch(self, x: Tensor, params: ChoiceParams) -> Tensor:
        return _on_subset(x, params.choice.bool(), params.children[0], self.transform.apply_batch)


class OneOf(Augment):
    """Each image gets exactly one of ``transforms``, drawn with ``weights``."""

    def __init__(
        self, transforms: Sequence[Augment], weights: Sequence[float] | None = None, seed: int = 0
    ) -> None:
        super().__init__(seed)
        _check_transforms(transforms, allow_empty=False)
        self.transforms = torch.nn.ModuleList(transforms)
        if isinstance(weights, Tensor):
            weights = weights.tolist()
        ok = weights is None or (
            isinstance(weights, (tuple, list)) and all(_is_num(v) and 0 <= v < math.inf for v in weights)
        )
        w = (
            torch.ones(len(transforms))
            if not ok or weights is None
            else torch.tensor(weights, dtype=torch.float32)
        )
        if not ok or w.shape != (len(transforms),) or float(w.sum()) <= 0:
            raise ValueError(
                f"weights must be {len(transforms)} non-negative numbers with a positive sum, got {weights!r}"
            )
        self.cdf = torch.cumsum(w / w.sum(), 0)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> ChoiceParams:
        u = rand((x.shape[0],), generator, x.device)
        choice = torch.searchsorted(self.cdf.to(x.device), u, right=True).clamp(max=len(self.transforms) - 1)
        return ChoiceParams(choice, tuple(t.sample_batch(x, generator) for t in self.transforms))

    def apply_batch(self, x: Tensor, params: ChoiceParams) -> Tensor:
        out = x.clone()
        for k, t in enumerate(self.transforms):
            idx = torch.nonzero(params.choice == k).squeeze(1)
            if idx.numel():
                out[idx] = t.apply_batch(x[idx], index_params(params.children[k], idx))
        return out


def _check_transforms(transforms: object, allow_empty: bool) -> None:
    if not isinstance(transforms, (tuple, list, torch.nn.ModuleList)) or not all(
        isinstance(t, Augment) for t in transforms
    ):
        raise TypeError(
            f"transforms must be a list of augkit Augment modules, got {type(transforms).__name__}"
        )
    if not transforms and not allow_empty:
        raise ValueError("transforms must not be empty")
