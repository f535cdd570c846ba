"""IF-DA: augmentation network learned through influence functions (Lee et al., CVPR 2020).

``transforms`` (E, G_s, G_a), ``influence`` (last-layer influence functions and iHVP solvers),
``gan`` (RaGAN pretraining of G), ``stages`` (the stage computations; :mod:`augkit.search.ifda` runs
and caches them).
"""

from .influence import influence_aug, influence_up_loss, inverse_hvp, val_influence_vector
from .stages import IFDAOptions
from .transforms import AugNet

__all__ = [
    "AugNet",
    "IFDAOptions",
    "influence_aug",
    "influence_up_loss",
    "inverse_hvp",
    "val_influence_vector",
]
