"""Data-parallel training on N processes under ``torchrun`` (issue 16): one run, N ranks.

``augkit train ...`` launched by ``torchrun --nproc_per_node N`` (or ``python -m
torch.distributed.run``) finds torchrun's ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` variables
(:func:`launch_env`) and trains ONE run on N processes.  This module holds the process-level
parts; the loop (``train.fit``) sees only a :class:`Ranks` and never asks how it was made.

- **Process group**: gloo on CPU, NCCL on CUDA (rank r uses ``cuda:LOCAL_RANK``), rendezvous
  through torchrun's ``env://`` variables.  A group that the caller already initialised is
  used and left alone.
- **Model**: wrapped in ``DistributedDataParallel`` for the training forward/backward only;
  gradients are averaged over ranks, so with equal local batches one step follows the mean
  loss of the global batch.  Checkpoints, evaluation and every strategy hook see the unwrapped
  module (``ctx.model``), whose parameters are the same on every rank.
- **BatchNorm** is per rank (PyTorch's ``SyncBatchNorm`` refuses CPU tensors in this torch):
  each rank normalises with the statistics of its own ``batch_size / N`` images, and DDP copies
  rank 0's running statistics to every rank at each forward.  This is the one numeric
  difference from one process training the same global batch (tests/test_ddp.py states it).
- **Data**: every rank draws the same global permutation per epoch from the run's data-order
  stream and takes its contiguous ``batch_size / N`` slice of each global batch
  (``TensorLoader(shard=(rank, N))``), so the loader's state is the same on every rank.
- **Augmentation**: rank r draws from its own stream (``train.streams(seed, rank)``); rank 0's
  is the single-process stream, so rank 0 of a 1-process launch draws exactly what a plain run
  does (on CPU a ``torchrun --nproc_per_node 1`` run equals the plain run bit for bit, tested).
- **Writes**: rank 0 only (config.json, metrics.jsonl, checkpoint.pt, final.json and the final
  battery); the others wait at a barrier.  The checkpoint adds ``world_size`` and, per rank, the
  augmentation stream, the strategy state and the model buffers, so every rank resumes exactly;
  a checkpoint is resumed only by the world size that wrote it.
- **Logged numbers**: the training loss is the all-reduced mean over ranks (every rank takes the
  same divergence decision); strategy hook numbers (mixing lambdas, selection rates) are rank 0's.

What "the whole batch" means for strategies that need one (they run on each rank's LOCAL batch of
``batch_size / N`` images; see ``augkit.train`` for the per-family list), and which strategies are
refused (``StrategyDef.ddp_refusal``), is stated in docs/ddp.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["SINGLE", "Launch", "Ranks", "check_launch", "is_main_process", "launch_env", "rank_device",
           "session"]  # fmt: skip

# rank 0 alone runs evaluations and the end-of-run battery while the others wait at a collective
TIMEOUT = timedelta(hours=4)
_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a torchrun launch (read from the environment)."""

    rank: int
    world: int
    local_rank: int
    local_world: int


def launch_env(environ: Mapping[str, str] | None = None) -> Launch | None:
    """torchrun's variables as a :class:`Launch`; None when this process was not launched by torchrun."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return None
    try:
        world, rank, local = (int(env.get(k, "0")) for k in _VARS)
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        shown = ", ".join(f"{k}={env.get(k)!r}" for k in _VARS)
        raise ValueError(f"torchrun environment is not integers: {shown}") from None
    if world < 1 or not 0 <= rank < world or not 0 <= local < local_world:
        raise ValueError(f"torchrun environment is inconsistent: WORLD_SIZE={world}, RANK={rank}, "
                         f"LOCAL_RANK={local}, LOCAL_WORLD_SIZE={local_world}")  # fmt: skip
    return Launch(rank, world, local, local_world)


def is_main_process() -> bool:
    """Rank 0 of a launch, or a process not launched by torchrun (prints, run-directory set-up)."""
    return os.environ.get("RANK", "0") == "0"


def check_launch(launch: Launch | None, batch_size: int, device: str) -> None:
    """Refuse what a launch cannot train, before anything is written (``--batch-size``, ``--device``)."""
    if launch is None:
        return
    n = launch.world
    if n > 500:  # train.MAX_RANKS: each rank's augmentation stream lives in the seed's block of seeds
        raise ValueError(f"torchrun world size {n}: a run trains on at most 500 processes")
    if batch_size % n:
        raise ValueError(
            f"--batch-size {batch_size} is not divisible by the torchrun world size {n}: every process "
            f"takes an equal share of each global batch; use a multiple of {n}"
        )
    if device.startswith("cuda:"):
        raise ValueError(f"--device {device} under torchrun: use --device cuda (rank r takes cuda:LOCAL_RANK)"
                         )  # fmt: skip
    if device == "cuda" and torch.cuda.device_count() < launch.local_world:
        raise ValueError(
            f"--device cuda under torchrun: {launch.local_world} processes on this node need "
            f"{launch.local_world} GPUs, this machine has {torch.cuda.device_count()}; lower --nproc_per_node"
        )


def rank_device(device: str, launch: Launch | None) -> str:
    """The device this rank trains on: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
    return f"cuda:{launch.local_rank}" if launch is not None and device == "cuda" else device


@dataclass(frozen=True)
class Ranks:
    """The loop's view of the processes of one run; :data:`SINGLE` is one plain process (no-ops)."""

    rank: int = 0
    world: int = 1
    active: bool = False  # a process group exists (also for a 1-process torchrun launch)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module the training step runs: DistributedDataParallel in a launch, else ``model``."""
        if not self.active:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: Tensor) -> float:
        """The mean of a scalar over ranks (the plain ``item()`` in one process, bit for bit)."""
        if not self.active:
            return value.item()
        t = value.detach().clone().float().reshape(1)
        dist.all_reduce(t)
        return t.item() / self.world

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` holds on any rank, so every rank takes the same decision."""
        if not self.active:
            return flag
        t = torch.tensor([int(flag)], device=device)
        dist.all_reduce(t)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (one process: ``[obj]``)."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = Ranks()


@contextmanager
def session(launch: Launch | None, device: str) -> Iterator[Ranks]:
    """The process group of a launch for the duration of one run (plain process: :data:`SINGLE`)."""
    if launch is None:
        yield SINGLE
        return
    owned = not dist.is_initialized()
    if owned:
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(launch.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), True)
    finally:
        if owned:
            dist.destroy_process_group()


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor moved to the CPU (per-rank states gathered into rank 0's checkpoint)."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
