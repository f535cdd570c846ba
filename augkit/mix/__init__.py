"""Multi-image augmentation: images and their soft targets are mixed together (issue 5)."""

from .common import check_alpha, check_pair_batch, mix_targets, partners
from .mixers import RICAP, BCMix, CutMix, MixParams, Mixup, Mosaic, SamplePairingMix, to_targets

__all__ = [
    "RICAP",
    "BCMix",
    "CutMix",
    "MixParams",
    "Mixup",
    "Mosaic",
    "SamplePairingMix",
    "check_alpha",
    "check_pair_batch",
    "mix_targets",
    "partners",
    "to_targets",
]
