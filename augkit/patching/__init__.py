"""Model patching (Goel, Gu, Li & Ré, "Model Patching: Closing the Subgroup Performance Gap with
Data Augmentation", ICLR 2021; the seed's ``004_...`` part 4): the subgroup benchmark, the
class-conditional CycleGAN of CLAMP's first stage, and the objectives of its second stage.

Strategies ``gdro`` and ``clamp`` (``augkit.strategies.patching``) train on a
:class:`~augkit.patching.benchmark.GroupedDataset`; ``augkit patch`` runs ERM, GDRO and CLAMP side
by side on the benchmark and reports robust (worst-subgroup) accuracy.
"""

from .benchmark import GROUP_NAMES, GroupedDataset, build_zigzag_benchmark, draw_zigzag, zigzag_params
from .groups import GroupIndex, image_keys
from .objectives import ClassConditionalGDRO, camel_consistency

__all__ = [
    "GROUP_NAMES",
    "ClassConditionalGDRO",
    "GroupIndex",
    "GroupedDataset",
    "build_zigzag_benchmark",
    "camel_consistency",
    "draw_zigzag",
    "image_keys",
    "zigzag_params",
]
