"""Saliency maps, region masks and the PuzzleMix / Co-Mixup solvers used by the saliency strategies."""

from .boxes import paste, peak, peak_box_mask, topk_grid_mask
from .comixup import comixup, comixup_objective, icm_potts  # the simplified solver (comixup-simplified)
from .comixup_full import comixup_energy, comixup_full  # the paper's solver (strategy comixup)
from .graphcut import binary_cut, grid_energy, swap_labelling
from .maps import eval_mode, feature_attention, input_gradient_saliency, spectral_residual
from .puzzlemix import (
    block_candidates,
    exposed_saliency,
    label_energy_terms,
    puzzle_mask,
    puzzlemix,
    transport,
    transport_plan,
)

__all__ = [
    "binary_cut",
    "block_candidates",
    "comixup",
    "comixup_energy",
    "comixup_full",
    "comixup_objective",
    "eval_mode",
    "exposed_saliency",
    "feature_attention",
    "grid_energy",
    "icm_potts",
    "input_gradient_saliency",
    "label_energy_terms",
    "paste",
    "peak",
    "peak_box_mask",
    "puzzle_mask",
    "puzzlemix",
    "spectral_residual",
    "swap_labelling",
    "topk_grid_mask",
    "transport",
    "transport_plan",
]
