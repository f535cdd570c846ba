"""Adversarial AutoAugment's search space: 20 tokens <-> one policy (Zhang et al., ICLR 2020, §3.2).

A policy is 5 sub-policies of 2 operations; each operation is two tokens, its type (one of
the 16 ops of AutoAugment's search space) and its magnitude (one of 10 uniformly spaced
levels).  The paper removes AutoAugment's per-op probability: every op of the drawn
sub-policy is applied.  Token order follows the controller (paper Figure 3)::

    [op1, mag1, op2, mag2] x 5 sub-policies  ->  20 tokens

Choices the paper leaves open (stated here, used everywhere):

- Op ranges: ``ops="paper"`` uses the AutoAugment paper's Table 6 ranges (augkit's default
  op rows); ``ops="code"`` swaps in AutoAugment's released-code rows (``TranslateXCode`` ...),
  the same switch as the ``autoaugment`` strategy.  The paper says only that "the magnitude of
  all the operations are set in a moderate range" and refers to AutoAugment for details.
- Level -> magnitude: ``scale="code"`` (default) maps level ``l`` (0..9) to ``l / 10``, the
  AutoAugment released code's ``PARAMETER_MAX = 10`` and augkit's convention (DESIGN §4), so
  the strongest level is 90 % of the op's range, a "moderate range"; ``scale="full"`` maps to
  ``l / 9`` so level 9 reaches the range maximum (torchvision's reading of "10 uniformly
  spaced values").
- Ops without a magnitude (AutoContrast, Equalize, Invert) still get a magnitude token; it is
  sampled and ignored, so every one of the 160^10 token strings decodes to a valid policy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..policy_tables import AUTOAUGMENT_SEARCH_OPS, CODE_ALIASES
from ..sample import randint

__all__ = [
    "MAG_SCALES",
    "NUM_LEVELS",
    "NUM_TOKENS",
    "OPS_PER_SUB",
    "PAPER_OPS",
    "SUB_POLICIES",
    "TOKEN_SIZES",
    "decode",
    "level_to_magnitude",
    "op_names",
    "random_tokens",
    "split_tokens",
]

# The 16 operations of the paper's search space (§3.2), in the paper's order.
PAPER_OPS: tuple[str, ...] = AUTOAUGMENT_SEARCH_OPS
NUM_LEVELS = 10
SUB_POLICIES = 5
OPS_PER_SUB = 2
NUM_TOKENS = SUB_POLICIES * OPS_PER_SUB * 2
# vocabulary size of each of the 20 positions: (op type, magnitude) repeated
TOKEN_SIZES: tuple[int, ...] = (len(PAPER_OPS), NUM_LEVELS) * (SUB_POLICIES * OPS_PER_SUB)

# level l in 0..NUM_LEVELS-1 -> magnitude in [0, 1]
MAG_SCALES: dict[str, float] = {"code": float(NUM_LEVELS), "full": float(NUM_LEVELS - 1)}
_OP_VARIANTS: dict[str, dict[str, str]] = {"paper": {}, "code": CODE_ALIASES}


def op_names(ops: str = "paper") -> tuple[str, ...]:
    """The 16 op-table names for op tokens 0..15 (``paper`` or released-``code`` ranges)."""
    if ops not in _OP_VARIANTS:
        raise ValueError(f"ops must be one of {sorted(_OP_VARIANTS)}, got {ops!r}")
    alias = _OP_VARIANTS[ops]
    return tuple(alias.get(o, o) for o in PAPER_OPS)


def level_to_magnitude(levels: Tensor, scale: str = "code") -> Tensor:
    if scale not in MAG_SCALES:
        raise ValueError(f"scale must be one of {sorted(MAG_SCALES)}, got {scale!r}")
    return levels.to(torch.float32) / MAG_SCALES[scale]


def _check_tokens(tokens: Tensor) -> Tensor:
    if not isinstance(tokens, Tensor) or tokens.dtype not in (
        torch.int64,
        torch.int32,
        torch.int16,
        torch.uint8,
    ):
        raise TypeError(
            f"tokens must be an integer tensor, got {type(tokens).__name__} {getattr(tokens, 'dtype', '')}"
        )
    t = tokens.long().reshape(-1, tokens.shape[-1]) if tokens.ndim else tokens.long()
    if tokens.ndim not in (1, 2) or t.shape[-1] != NUM_TOKENS:
        raise ValueError(
            f"tokens must have shape ({NUM_TOKENS},) or (M, {NUM_TOKENS}), got {tuple(tokens.shape)}"
        )
    sizes = torch.tensor(TOKEN_SIZES)
    bad = (t < 0) | (t >= sizes.to(t.device))
    if bool(bad.any()):
        pos = int(bad.nonzero()[0, 1])
        raise ValueError(
            f"token at position {pos} is {int(t[bad][0])}; position {pos} accepts 0..{TOKEN_SIZES[pos] - 1}"
        )
    return t


def split_tokens(tokens: Tensor) -> tuple[Tensor, Tensor]:
    """(M, 20) tokens -> op indices and levels, each (M, 5, 2)."""
    t = _check_tokens(tokens).view(-1, SUB_POLICIES, OPS_PER_SUB, 2)
    return t[..., 0], t[..., 1]


def decode(
    tokens: Tensor, ops: str = "paper", scale: str = "code"
) -> list[list[list[tuple[str, float, float]]]]:
    """Tokens (20,) or (M, 20) -> M policy tables of ``(op, probability 1.0, magnitude)``.

    The tables are what :class:`augkit.policies.Policy` and the policy-schedule JSON take.
    """
    names = op_names(ops)
    op_idx, lvl = split_tokens(tokens)
    level_to_magnitude(lvl[:0], scale)  # validates scale
    div = MAG_SCALES[scale]
    return [
        [
            [
                (names[int(o)], 1.0, int(v) / div)
                for o, v in zip(op_idx[p, s].tolist(), lvl[p, s].tolist(), strict=True)
            ]
            for s in range(SUB_POLICIES)
        ]
        for p in range(op_idx.shape[0])
    ]


def random_tokens(m: int, generator: torch.Generator) -> Tensor:
    """M policies drawn uniformly over the search space (the paper's "Random" ablation)."""
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"m must be a positive int, got {m!r}")
    cols = [randint(size, (m, 1), generator, "cpu") for size in TOKEN_SIZES]
    return torch.cat(cols, dim=1)
