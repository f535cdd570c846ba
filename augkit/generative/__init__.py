"""Model-based augmentation (issue 15): texture synthesis, style transfer, a fast AdaIN style network
and style augmentation (strategy ``style``).

Nothing here downloads weights: features are random filters (Ustyuzhaninov et al. 2017) and the
AdaIN decoder is trained locally (:mod:`.adain`).  Data distillation is the strategy ``distill``
(:mod:`augkit.search.distill`), GAN augmentation the strategy ``gan`` (:mod:`.gan`).  Not yet here:
CLAMP (model patching).
"""

from __future__ import annotations

from .features import RandomFeatures, gram, gram_loss
from .texture import style_transfer, synthesize_texture

__all__ = ["RandomFeatures", "gram", "gram_loss", "style_transfer", "synthesize_texture"]
