"""Sample-selective helpers shared by :mod:`augkit.strategies.selective` (issue 8).

- :func:`loss_pass`: per-sample cross-entropy of a model on a batch, without gradients,
  leaving the model exactly as it was (train/eval flag, BatchNorm running statistics and
  module extra state such as dropout generators are restored after a ``mode="train"`` pass).
- :func:`select_copies`: choose C of L augmented copies per example by loss, top-C (Wu et al.,
  "On the generalization effects of linear transformations in data augmentation", ICML 2020)
  or proportional to loss without replacement (Gumbel-top-k; the released code's sampling).
- :func:`random_compositions`: L copies per example, each the base pipeline followed by two
  ops drawn uniformly from AutoAugment's 16-op set (Cubuk et al. 2019, Table 6) with
  magnitudes uniform in [0, 1].

The choices these make are listed in :mod:`augkit.strategies.selective`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import transforms
from ..policy_tables import AUTOAUGMENT_SEARCH_OPS
from ..sample import PolicyParams, rand, randint, sample_policy_aux
from ..stages import run_stages

__all__ = ["MODES", "SELECT", "UNCERTAINTY_OPS", "loss_pass", "random_compositions", "select_copies", "sync"]

# AutoAugment's 16 ops (Cubuk et al. 2019, Table 6), paper ranges (augkit.space)
UNCERTAINTY_OPS: tuple[str, ...] = AUTOAUGMENT_SEARCH_OPS

MODES = ("eval", "train")
SELECT = ("topc", "proportional")


@contextmanager
def _scoring(model: nn.Module, mode: str) -> Iterator[None]:
    """No-grad scoring that leaves the model exactly as it was (mode, buffers, extra state)."""
    was_training = model.training
    saved_buffers, saved_extra = None, None
    if mode == "train":
        saved_buffers = [b.detach().clone() for b in model.buffers()]
        saved_extra = [
            (m, m.get_extra_state())
            for m in model.modules()
            if type(m).get_extra_state is not nn.Module.get_extra_state
        ]
    model.train(mode == "train")
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
        if saved_buffers is not None:
            with torch.no_grad():
                for b, s in zip(model.buffers(), saved_buffers, strict=True):
                    b.copy_(s)
            for m, st in saved_extra or []:
                m.set_extra_state(st)


def loss_pass(
    model: nn.Module, x: Tensor, y: Tensor, mode: str = "eval", config: dict[str, Any] | None = None
) -> Tensor:
    """Per-sample cross-entropy (nats, hard labels) of ``model`` on ``x``; no grad, model unchanged.

    ``config`` (the run's TrainConfig as a dict) switches on bfloat16 autocast (``amp`` on
    CUDA) and channels-last, as the training step uses them.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    cfg = config or {}
    cuda = x.device.type == "cuda"
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if (cfg.get("amp") and cuda)
        else torch.autocast(x.device.type, enabled=False)
    )
    if cfg.get("channels_last"):
        x = x.contiguous(memory_format=torch.channels_last)
    with _scoring(model, mode), autocast:
        logits = model(x)
    return F.cross_entropy(logits.float(), y.long(), reduction="none")


def sync(x: Tensor) -> None:
    """Wait for the GPU so that wall-clock timings of a pass are honest."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def random_compositions(
    x: Tensor,
    copies: int,
    generator: torch.Generator,
    base: transforms.Compose | None = None,
    fill: float = 0.0,
    ops: tuple[str, ...] = UNCERTAINTY_OPS,
) -> Tensor:
    """(B·copies, C, H, W), example-major (row ``i * copies + l``): per copy, ``base`` (drawn
    independently for each copy) then two ops drawn uniformly with replacement from ``ops``,
    magnitudes uniform in [0, 1], both always applied; batched by op, no loop over images."""
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be an int >= 1, got {copies!r}")
    xr = x.repeat_interleave(copies, dim=0)
    if base is not None and len(base.transforms):
        xr = base(xr, generator=generator)
    n, dev = xr.shape[0], xr.device
    op_idx = randint(len(ops), (n, 2), generator, dev)
    mag = rand((n, 2), generator, dev)
    sg, centers, partners = sample_policy_aux(n, 2, xr.shape[-2], xr.shape[-1], generator, dev)
    applied = torch.ones((n, 2), dtype=torch.bool, device=dev)
    params = PolicyParams(op_idx, mag, sg, applied, centers, partners)
    return run_stages(xr, ops, params, fill)


def select_copies(losses: Tensor, c: int, select: str, generator: torch.Generator) -> Tensor:
    """Indices (B, C) into the L copies of each row of ``losses`` (B, L).

    ``topc``: the C largest losses (the paper).  ``proportional``: C copies without
    replacement, each draw with probability proportional to loss (Gumbel-top-k); draws only
    for ``proportional``.
    """
    if select not in SELECT:
        raise ValueError(f"select must be one of {SELECT}, got {select!r}")
    if losses.ndim != 2 or not 1 <= c <= losses.shape[1]:
        raise ValueError(f"need losses (B, L) and 1 <= c <= L, got shape {tuple(losses.shape)} and c={c}")
    if select == "topc":
        return losses.topk(c, dim=1).indices
    u = rand(tuple(losses.shape), generator, losses.device).clamp(1e-20, 1.0 - 1e-7)
    keys = losses.float().clamp_min(1e-12).log() - (-u.log()).log()
    return keys.topk(c, dim=1).indices
