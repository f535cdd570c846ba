"""Helpers for sample-selective augmentation (SPA, uncertainty-based sampling); see
:mod:`augkit.strategies.selective` for the strategies and their documented choices."""

from .core import MODES, SELECT, UNCERTAINTY_OPS, loss_pass, random_compositions, select_copies, sync

__all__ = ["MODES", "SELECT", "UNCERTAINTY_OPS", "loss_pass", "random_compositions", "select_copies", "sync"]
