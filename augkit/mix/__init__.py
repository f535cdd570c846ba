"""Multi-image augmentation: images and their soft targets are mixed together (issue 5)."""

from .common import check_alpha, check_pair_batch, mix_targets, partners

__all__ = ["check_alpha", "check_pair_batch", "mix_targets", "partners"]
