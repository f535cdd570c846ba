"""Model-based augmentation (issue 15): texture synthesis and style transfer on random-filter features.

Nothing here downloads weights: the feature extractor is a layer of random filters (Ustyuzhaninov
et al. 2017).  Not yet here: the fast AdaIN style network, style augmentation, GAN augmentation,
CLAMP and data distillation.
"""

from __future__ import annotations

from .features import RandomFeatures, gram, gram_loss
from .texture import style_transfer, synthesize_texture

__all__ = ["RandomFeatures", "gram", "gram_loss", "style_transfer", "synthesize_texture"]
