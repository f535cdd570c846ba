"""Apply several policies to one batch, one batched kernel call per (op, stage).

Each image has an *owner* policy (Adversarial AutoAugment: image copy ``m`` of the M*N batch
belongs to policy ``m``; a replayed schedule: a policy drawn per image), draws one of its
owner's sub-policies uniformly (AutoAugment's rule, kept by Zhang et al. §3.2) and runs that
sub-policy's stages.  The per-image choices become one :class:`augkit.sample.PolicyParams`
over the whole batch and :func:`augkit.stages.run_stages` executes it: images of *all*
policies that share an op at a stage go through one kernel call (magnitudes are per-image
tensors), so the cost is at most (#ops present) kernel calls per stage, never a loop over
images or over policies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..sample import PolicyParams, rand, randint, sample_policy_aux
from ..stages import run_stages

__all__ = ["apply_policies", "sample_params"]


def _check(ops: Tensor, mags: Tensor, probs: Tensor | None, names: Sequence[str]) -> None:
    if ops.ndim != 3 or mags.shape != ops.shape:
        raise ValueError(
            f"ops and mags must both have shape (P, S, K); got {tuple(ops.shape)} and {tuple(mags.shape)}"
        )
    if probs is not None and probs.shape != ops.shape:
        raise ValueError(f"probs must have shape {tuple(ops.shape)}, got {tuple(probs.shape)}")
    if ops.numel() and (int(ops.min()) < 0 or int(ops.max()) >= len(names)):
        raise ValueError(
            f"ops must index names (0..{len(names) - 1}), got range {int(ops.min())}..{int(ops.max())}"
        )


def sample_params(
    x: Tensor,
    ops: Tensor,
    mags: Tensor,
    owner: Tensor,
    generator: torch.Generator,
    probs: Tensor | None = None,
) -> PolicyParams:
    """Per-image draws: sub-policy of the owner policy, stage firing, signs, Cutout centres, partners.

    ``ops``/``mags``/``probs``: (P, S, K) op index, magnitude in [0, 1], probability (None =
    always applied, the Adversarial AutoAugment search space); ``owner``: (B,) policy index.
    """
    b, dev = x.shape[0], x.device
    p, s, k = ops.shape
    choice = randint(s, (b,), generator, dev)
    own = owner.to(dev).long()
    op_i = ops.to(dev)[own, choice]
    mag = mags.to(dev, torch.float32)[own, choice]
    if probs is None:
        applied = torch.ones((b, k), dtype=torch.bool, device=dev)
    else:
        applied = rand((b, k), generator, dev) < probs.to(dev)[own, choice]
    sg, centers, partners = sample_policy_aux(b, k, x.shape[-2], x.shape[-1], generator, dev)
    return PolicyParams(op_i, mag, sg, applied, centers, partners)


def apply_policies(
    x: Tensor,
    names: Sequence[str],
    ops: Tensor,
    mags: Tensor,
    owner: Tensor,
    generator: torch.Generator,
    probs: Tensor | None = None,
    fill: float | tuple = 0.0,
    interpolation: str = "nearest",
) -> Tensor:
    """Augment image ``i`` of ``x`` with a sub-policy of policy ``owner[i]``.

    ``names``: op-table names indexed by ``ops``.  Returns a new tensor (dtype and device kept).
    """
    _check(ops, mags, probs, names)
    if owner.shape != (x.shape[0],):
        raise ValueError(f"owner must have shape ({x.shape[0]},), got {tuple(owner.shape)}")
    if x.shape[0] == 0:
        return x.clone()
    params = sample_params(x, ops, mags, owner, generator, probs)
    out = run_stages(x, tuple(names), params, fill, interpolation)
    return x.clone() if out is x else out  # no stage fired: still a new tensor
