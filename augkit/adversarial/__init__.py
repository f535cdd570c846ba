"""Adversarial AutoAugment (Zhang et al., ICLR 2020): controller, token decoding, batched apply.

The training-time protocol is the ``adversarial-autoaugment`` strategy in
:mod:`augkit.strategies.adversarial`.
"""

from .apply import apply_policies, sample_params
from .controller import Controller, normalise
from .decode import (
    NUM_TOKENS,
    PAPER_OPS,
    TOKEN_SIZES,
    decode,
    level_to_magnitude,
    op_names,
    random_tokens,
    split_tokens,
)

__all__ = [
    "NUM_TOKENS",
    "PAPER_OPS",
    "TOKEN_SIZES",
    "Controller",
    "apply_policies",
    "decode",
    "level_to_magnitude",
    "normalise",
    "op_names",
    "random_tokens",
    "sample_params",
    "split_tokens",
]
