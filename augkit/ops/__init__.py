"""APPLY: pure batched kernels grouped by family (no randomness, no state)."""

from . import color, erase, filters, geometry, pairing

__all__ = ["color", "erase", "filters", "geometry", "pairing"]
