"""Training-time strategies: one module per method that changes how training uses augmentation."""

from .base import Batch, Context, Strategy, TransformStrategy, one_hot, soft_cross_entropy
from .registry import STRATEGIES, build_strategy, has_search, parse_strategy, strategy_dirname

__all__ = [
    "STRATEGIES",
    "Batch",
    "Context",
    "Strategy",
    "TransformStrategy",
    "build_strategy",
    "has_search",
    "one_hot",
    "parse_strategy",
    "soft_cross_entropy",
    "strategy_dirname",
]
