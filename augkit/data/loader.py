"""Tensor-resident mini-batch loader.

Small-image datasets fit in device memory as uint8 (Fashion-MNIST: 47 MB, CIFAR-10: 150 MB), so
batching is an ``index_select`` on a resident tensor instead of a worker pool collating Python
objects -- the approach of airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single
GPU").  Batches stay uint8: augmentation and normalisation run later, in the strategy and the
model (DESIGN.md section 4).

Choices:
- Shuffling draws one ``randperm`` per epoch from the loader's own ``torch.Generator`` (the
  "data order" stream; DESIGN.md asks for separate streams for data order, augmentation and
  init).  The loader owns that generator: nothing else should draw from it.
- ``state_dict()`` records the generator state *at the start of the current epoch* plus the number
  of batches already handed out; ``load_state_dict()`` restores it, and the next iteration redraws
  the same permutation and skips the batches already seen, so a resumed run sees exactly the
  batches the interrupted run would have seen.  A state taken after the last batch of an epoch
  points at the start of the next epoch.
- Starting a new ``iter()`` without a pending resume starts a new epoch (like
  ``torch.utils.data.DataLoader``), even if the previous one was abandoned part way.
- ``shard=(rank, world)`` (data-parallel training under torchrun): every rank's loader draws the
  same permutation from the same data-order stream, and rank r yields its contiguous
  ``batch_size / world`` slice of each global batch of ``batch_size``.  ``len``, the state and
  the batches seen by all ranks together are those of the unsharded loader, so a checkpoint's
  loader state is the same on every rank.  ``batch_size`` must be a multiple of ``world``; a
  ragged last batch (``drop_last=False``) is split by ``tensor_split`` into nearly equal parts.
- ``transform`` (optional) is applied to each image batch on the device, e.g. a cheap dtype or
  layout change; it must not draw random numbers from the global RNG.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["TensorLoader"]


class TensorLoader:
    """Iterate ``(xb, yb)`` mini-batches of resident tensors ``x`` (N, ...) and ``y`` (N, ...)."""

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        transform: Callable[[Tensor], Tensor] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise TypeError(f"x and y must be torch.Tensors, got {type(x).__name__} and {type(y).__name__}")
        if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x and y must share their first dimension, got shapes {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {shuffle!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if shuffle and generator is None:
            raise ValueError("shuffle=True needs an explicit generator (torch.Generator().manual_seed(seed))")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        self.rank, self.world = _check_shard(shard, int(batch_size))
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.epoch = 0  # completed epochs
        self._position = 0  # batches handed out in the current epoch
        self._epoch_state: Tensor | None = None  # generator state at the start of the current epoch
        self._resume = False  # a load_state_dict is waiting for the next iter()

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> Tensor:
        n = self.num_samples
        if not self.shuffle or self.generator is None:  # __init__ ties shuffle to a generator
            return torch.arange(n, device=self.device)
        perm = torch.randperm(n, generator=self.generator, device=self.generator.device)
        return perm.to(self.device)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self._resume:  # load_state_dict already rewound the generator to the epoch's start
            self._resume = False
        else:
            self._position = 0
            self._epoch_state = self.generator.get_state() if self.shuffle else None
        order = self._order()
        start, stop = self._position, len(self)
        for b in range(start, stop):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if self.world > 1:
                idx = idx.tensor_split(self.world)[self.rank]
            xb = self.x.index_select(0, idx)
            yb = self.y.index_select(0, idx)
            if self.transform is not None:
                xb = self.transform(xb)
            self._position = b + 1
            yield xb, yb
        self._position = 0
        self._epoch_state = None
        self.epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: enough to replay the rest of the epoch and every later one."""
        position, epoch, state = self._position, self.epoch, self._epoch_state
        if position >= len(self) and position > 0:
            # The epoch's batches are all out; the loop just hasn't asked for StopIteration yet.
            position, epoch, state = 0, epoch + 1, None
        if state is None and self.generator is not None:
            state = self.generator.get_state()
        return {
            "epoch": epoch,
            "position": position,
            "generator_state": None if state is None else state.clone(),
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the next ``iter()`` continues from that exact batch."""
        for key in ("epoch", "position", "generator_state", "num_samples", "batch_size"):
            if key not in state:
                raise ValueError(f"state is missing {key!r}; expected a TensorLoader.state_dict()")
        if state["num_samples"] != self.num_samples or state["batch_size"] != self.batch_size:
            raise ValueError(
                f"state is for {state['num_samples']} samples in batches of {state['batch_size']}, "
                f"this loader has {self.num_samples} in batches of {self.batch_size}"
            )
        if not (0 <= int(state["position"]) <= len(self)):
            raise ValueError(f"state position {state['position']} outside [0, {len(self)}]")
        gen_state = state["generator_state"]
        if self.generator is not None and gen_state is not None:
            self.generator.set_state(gen_state)
        self.epoch = int(state["epoch"])
        self._position = int(state["position"])
        self._epoch_state = None if gen_state is None else gen_state.clone()
        self._resume = True


def _check_shard(shard: tuple[int, int], batch_size: int) -> tuple[int, int]:
    """``(rank, world)`` validated: ints, ``0 <= rank < world``, ``world`` dividing the batch."""
    ok = isinstance(shard, tuple) and len(shard) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in shard
    )
    if not ok or not 0 <= shard[0] < shard[1]:
        raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard!r}")
    rank, world = int(shard[0]), int(shard[1])
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} is not divisible by the world size {world} ({shard=})")
    return rank, world
