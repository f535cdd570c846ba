"""Random-filter features and Gram matrices: the statistics texture synthesis and style transfer match.

Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks" (NeurIPS 2015)
describe a texture by the Gram matrices of a CNN's feature maps.  Ustyuzhaninov, Brendel, Gatys &
Bethge, "What does it take to generate natural textures?" (ICLR 2017) show that a *single layer
of random filters at several scales* already gives textures of comparable quality — which is
what augkit uses, since nothing may download a pre-trained VGG.

Choices (the 2017 paper used 8 scales, 3 to 55 px with 128 maps each, on 256 px images):

- Scales 3, 5, 7 and 11 px (images here are 8-64 px), ``maps`` (64) per scale, ReLU, no pooling;
  filters drawn from N(0, 1) and normalised to zero mean and unit norm per filter (the paper
  whitens; per-filter normalisation keeps every scale on the same footing).
- Input: images in [0, 1] minus 0.5, grey or colour (filters span all input channels).
- Gram matrix ``G = F F^T / (H W)`` per scale (normalised by the number of positions so images
  of different sizes compare); the texture loss is the squared Frobenius distance, summed over
  scales, each relative to the target Gram's squared norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RandomFeatures", "gram", "gram_loss"]


class RandomFeatures(nn.Module):
    """One random conv layer per scale; ``forward`` returns the list of ReLU feature maps."""

    def __init__(
        self,
        in_channels: int,
        generator: torch.Generator | int,
        scales: tuple[int, ...] = (3, 5, 7, 11),
        maps: int = 64,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if not scales or any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in scales):
            raise ValueError(f"scales must be odd positive ints, got {scales!r}")
        g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        self.scales = tuple(scales)
        for i, k in enumerate(scales):
            w = torch.randn(maps, in_channels, k, k, generator=g)
            w = w - w.mean(dim=(1, 2, 3), keepdim=True)
            w = w / w.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
            self.register_buffer(f"w{i}", w)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = x - 0.5
        return [
            F.relu(F.conv2d(x, getattr(self, f"w{i}"), padding=k // 2)) for i, k in enumerate(self.scales)
        ]


def gram(features: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices normalised by H * W."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def gram_loss(feats: list[Tensor], target_grams: list[Tensor]) -> Tensor:
    """Per-image texture loss, shape (B,): squared Gram distance relative to the target's, summed over scales.

    Relative (``||G - T||^2 / ||T||^2``) so that every scale, and the style term against the content
    term of style transfer, is O(1) whatever the images' contrast.
    """
    total = 0.0
    for f, t in zip(feats, target_grams, strict=True):
        total = total + (gram(f) - t).pow(2).sum(dim=(1, 2)) / t.pow(2).sum(dim=(1, 2)).clamp_min(1e-12)
    return total
