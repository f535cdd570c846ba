"""IF-DA: augmentation network learned through influence functions (Lee et al., CVPR 2020).

``transforms`` (E, G_s, G_a), ``influence`` (last-layer influence functions and iHVP solvers),
``gan`` (RaGAN pretraining of G), ``stages`` (the resumable staged procedure).
"""

from .influence import influence_aug, influence_up_loss, inverse_hvp, val_influence_vector
from .stages import IFDAOptions, StageResult, run_stages
from .transforms import AugNet

__all__ = [
    "AugNet",
    "IFDAOptions",
    "StageResult",
    "influence_aug",
    "influence_up_loss",
    "inverse_hvp",
    "run_stages",
    "val_influence_vector",
]
