"""augkit: batched, reproducible image augmentation and learned augmentation.

Layers (see docs/ARCHITECTURE.md): ``ops`` (pure kernels) -> ``space`` (the op table) ->
``sample`` (random draws) -> ``transforms``/``policies`` (replayable modules).
"""

from .base import Augment
from .policies import AutoAugment, Policy, RandAugment, TrivialAugment, from_spec
from .policy_io import load_policy, save_policy
from .space import OPS, OpSpec, apply_op
from .transforms import (
    ColorJitter,
    Compose,
    Cutout,
    ElasticDistortion,
    GaussianBlur,
    GaussianNoise,
    GridMask,
    HideAndSeek,
    OneOf,
    PadCrop,
    RandomAffine,
    RandomApply,
    RandomErasing,
    RandomFlip,
    RandomGrayscale,
    RandomResizedCrop,
    SamplePairing,
    standard,
)

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "Augment",
    "AutoAugment",
    "ColorJitter",
    "Compose",
    "Cutout",
    "ElasticDistortion",
    "GaussianBlur",
    "GaussianNoise",
    "GridMask",
    "HideAndSeek",
    "OneOf",
    "OpSpec",
    "PadCrop",
    "Policy",
    "RandAugment",
    "RandomAffine",
    "RandomApply",
    "RandomErasing",
    "RandomFlip",
    "RandomGrayscale",
    "RandomResizedCrop",
    "SamplePairing",
    "TrivialAugment",
    "apply_op",
    "from_spec",
    "load_policy",
    "save_policy",
    "standard",
]
