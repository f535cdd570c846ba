"""Streaming mini-batch loader: worker processes decode image files, batches stay uint8.

For image folders too large to hold as one tensor (:class:`~augkit.data.files.FileImages`).
:class:`StreamLoader` has :class:`~augkit.data.loader.TensorLoader`'s interface (iteration
yields ``(xb, yb)`` on the device, ``len``, ``state_dict``/``load_state_dict``) and yields the
same batches, so the training loop and every strategy cannot tell them apart.

Choices:
- The epoch's order is drawn *by a TensorLoader over the indices* ``0..N-1``, with the loader's
  own generator: one ``randperm`` per epoch, the same batches a TensorLoader over the decoded
  images yields for the same generator (tested), and the same sampler state (generator state
  at the epoch's start + batches already yielded), so checkpoints hold the same record and a
  resumed run sees exactly the batches the interrupted one would have.  The state counts the
  batches *yielded*, not the ones the worker pool has prefetched.
- ``torch.utils.data.DataLoader`` does the work: ``workers`` processes (persistent across
  epochs) decode files with Pillow into ``(C, H, W)`` uint8; the collate stacks them without a
  float conversion; batches are pinned when the device is CUDA and copied with
  ``non_blocking``.  Augmentation is not done here: the strategy augments the uint8 batch
  on the device after the transfer, as on the tensor path (on a GPU, the GPU augments).
- Workers draw no random number, and the DataLoader gets a private generator for its worker
  seeds, so neither the data-order stream nor the global RNG is touched.
- A file that cannot be read any more (it was checked when the folder was loaded) stops the
  run with a one-line error naming it: skipping it now would change the batches mid-run.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .files import FileImages, checked, stack_uint8
from .loader import TensorLoader

__all__ = ["StreamLoader"]


class _EpochBatches:
    """The batch sampler: the current epoch's index lists, replaced by the loader each epoch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class StreamLoader:
    """Iterate ``(xb, yb)`` mini-batches of ``images`` (files) and labels ``y`` (N,), decoded by workers."""

    def __init__(
        self,
        images: FileImages,
        y: Tensor,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        workers: int = 2,
        transform: Callable[[Tensor], Tensor] | None = None,
        prefetch: int = 2,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if not isinstance(images, FileImages):
            raise TypeError(f"images must be a FileImages, got {type(images).__name__}")
        for name, v, low in (("workers", workers, 0), ("prefetch", prefetch, 1)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != len(images):
            raise ValueError(f"y must be a ({len(images)},) tensor of labels, got {y!r:.80}")
        # the order, the state, the shard (torchrun: this rank decodes only its slice of each global
        # batch) and every argument check are the TensorLoader's own
        self._index = TensorLoader(
            torch.arange(len(images)), y.cpu(), batch_size, shuffle, generator, drop_last, "cpu", shard=shard
        )
        self.images = images
        self.device = torch.device(device)
        self.workers, self.prefetch, self.transform = int(workers), int(prefetch), transform
        self._batches = _EpochBatches()
        self._data: DataLoader | None = None  # built on the first iteration (the workers start then)
        self._run: tuple[dict[str, Any], int] | None = None  # (state at the epoch's start, batches yielded)

    @property
    def num_samples(self) -> int:
        return len(self.images)

    @property
    def batch_size(self) -> int:
        return self._index.batch_size

    @property
    def epoch(self) -> int:
        return self._index.epoch

    def __len__(self) -> int:
        return len(self._index)

    def _pipeline(self) -> DataLoader:
        if self._data is None:
            pin = self.device.type == "cuda"
            self._data = DataLoader(
                self.images.reader(),
                batch_sampler=self._batches,
                num_workers=self.workers,
                collate_fn=stack_uint8,
                pin_memory=pin,
                persistent_workers=self.workers > 0,
                prefetch_factor=self.prefetch if self.workers else None,
                generator=torch.Generator(),  # worker seeds from a private stream, not the global RNG
            )
        return self._data

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        start = self._index.state_dict()  # the epoch's start, or the resumed position
        planned = list(self._index)  # this epoch's (remaining) batches, drawn exactly as TensorLoader
        self._batches.batches = [idx.tolist() for idx, _ in planned]
        self._run = (start, 0)
        non_blocking = self.device.type == "cuda"
        for (_, yb), xb in zip(planned, self._pipeline(), strict=True):
            xb = checked(xb).to(self.device, non_blocking=non_blocking)
            if self.transform is not None:
                xb = self.transform(xb)
            self._run = (start, self._run[1] + 1)
            yield xb, yb.to(self.device)
        self._run = None

    def state_dict(self) -> dict[str, Any]:
        """:meth:`TensorLoader.state_dict` of the batches yielded so far (prefetched ones not counted)."""
        if self._run is None:
            return self._index.state_dict()
        start, yielded = self._run
        position = int(start["position"]) + yielded
        if position >= len(self) and position > 0:  # all out: the index loader is at the next epoch
            return self._index.state_dict()
        state = dict(start)
        state["position"] = position
        if state["generator_state"] is not None:
            state["generator_state"] = state["generator_state"].clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (of this loader or of a TensorLoader over the same images)."""
        self._index.load_state_dict(state)
        self._run = None
