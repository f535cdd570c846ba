"""The one base class between an augkit transform and ``nn.Module``.

Contract (DESIGN §2): ``sample(x, generator)`` draws a frozen params dataclass,
``apply(x, params)`` is deterministic, and ``forward(x, generator)`` is exactly
``apply(x, sample(x, generator))`` — so every random result can be replayed.

Transforms take a batch ``(B, C, H, W)`` or a single image ``(C, H, W)`` (inside a
``DataLoader``).  When no generator is passed, the module's own generator is used: seeded
from ``seed`` (default 0) and, inside a DataLoader worker, mixed with the worker's seed so
that workers do not repeat each other.  The global RNG is never touched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .ops._common import check_image

__all__ = ["Augment", "as_batch", "check_sides"]


def check_sides(x: Tensor, name: str = "x") -> None:
    """Images need at least one channel and one pixel; an empty *batch* (B = 0) is fine."""
    if any(int(s) == 0 for s in x.shape[-3:]):
        raise ValueError(
            f"{name} must have C, H, W >= 1 (an empty batch B = 0 is allowed), got shape {tuple(x.shape)}"
        )


def as_batch(x: Tensor, name: str = "x") -> tuple[Tensor, bool]:
    """Return ``(x as (B, C, H, W), was_single_image)`` after validating rank, dtype and sides."""
    single = isinstance(x, Tensor) and x.ndim == 3
    xb = x.unsqueeze(0) if single else x
    check_image(xb, name)
    check_sides(xb, name)
    return xb, single


class Augment(nn.Module):
    """Base for every random augmentation module: explicit sampling, deterministic apply."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if not -(2**63) <= seed < 2**64:  # what torch.Generator.manual_seed accepts
            raise ValueError(f"seed must be an int in [-2**63, 2**64), got {seed}")
        self.seed = seed
        self._generator: torch.Generator | None = None
        self._worker: int | None = None

    # -- subclasses implement these two on (B, C, H, W) batches --------------------------------
    def sample_batch(self, x: Tensor, generator: torch.Generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def apply_batch(self, x: Tensor, params) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------------------
    def sample(self, x: Tensor, generator: torch.Generator | None = None):
        xb, _ = as_batch(x)
        return self.sample_batch(xb, self._resolve(generator))

    def apply(self, x: Tensor, params) -> Tensor:
        xb, single = as_batch(x)
        out = self.apply_batch(xb, params) if xb.shape[0] else xb.clone()
        return out[0] if single else out

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        xb, single = as_batch(x)
        out = self.sample_apply(xb, self._resolve(generator))
        return out[0] if single else out

    def sample_apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """One pass of sample + apply; composite transforms override it to avoid re-running."""
        params = self.sample_batch(x, generator)
        return self.apply_batch(x, params) if x.shape[0] else x.clone()

    def _resolve(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
            return generator
        info = torch.utils.data.get_worker_info()
        worker = None if info is None else info.id
        if self._generator is None or worker != self._worker:
            seed = self.seed if info is None else (self.seed * 1_000_003 + info.seed) % (2**63)
            self._generator = torch.Generator().manual_seed(seed)
            self._worker = worker
        return self._generator
