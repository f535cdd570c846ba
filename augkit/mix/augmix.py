"""AugMix (Hendrycks et al., "AugMix: A Simple Data Processing Method to Improve Robustness
and Uncertainty", ICLR 2020) and its Jensen-Shannon consistency loss.

Follows the reference code (google-research/augmix, ``augment_and_mix`` and
``augmentations.py``): ``width = 3`` chains, each of depth ``d ~ U{1, 2, 3}`` (``depth=-1``) or
fixed, every step an op drawn uniformly from the AugMix list (autocontrast, equalize,
posterize, rotate, solarize, shear x/y, translate x/y -- none of the ops that overlap the
CIFAR-C / ImageNet-C corruptions) with level ``U(0.1, severity)`` out of 10:

* rotate ``30 * level / 10`` degrees, shear ``0.3 * level / 10``, random sign (our ``Rotate``,
  ``ShearX``/``ShearY`` rows at magnitude ``level / 10``);
* translate ``int(level * side / 3 / 10)`` pixels, random sign (``TranslateXCode`` rows,
  whose integer range caps it at 10 px: exact for images up to 32 px);
* posterize to ``4 - int(4 level / 10)`` bits (``PosterizeCode``), solarize threshold
  ``256 - int(256 level / 10)`` (``Solarize``);
* bilinear resampling and fill 0, as the reference's PIL calls.

Mixing weights ``w ~ Dirichlet(alpha)`` over the chains and ``m ~ Beta(alpha, alpha)``,
``alpha = 1``: ``out = (1 - m) x + m * sum_i w_i chain_i(x)``, computed in float [0, 1].
Every image draws its own ops, levels, depths and weights (the reference does per image too).

The JSD loss (:func:`jsd_loss`) is the reference's: ``M = clamp(mean(p_clean, p1, p2), 1e-7, 1)``
and ``(KL(p_clean || M) + KL(p1 || M) + KL(p2 || M)) / 3`` (batch mean), weighted by 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..sample import PolicyParams, dirichlet, rand, randint, sign
from ..sample import beta as beta_draw
from ..stages import run_stages
from .common import check_alpha

__all__ = ["AUGMIX_OPS", "AugMix", "AugMixParams", "jsd_loss"]

AUGMIX_OPS = (
    "AutoContrast",
    "Equalize",
    "PosterizeCode",
    "Rotate",
    "Solarize",
    "ShearX",
    "ShearY",
    "TranslateXCode",
    "TranslateYCode",
)
_TRANSLATE = {AUGMIX_OPS.index("TranslateXCode"), AUGMIX_OPS.index("TranslateYCode")}


@dataclass(frozen=True)
class AugMixParams:
    chains: tuple[PolicyParams, ...]  # one per chain, stages = max depth
    weights: Tensor  # (B, width) Dirichlet weights
    m: Tensor  # (B,) Beta weight of the mixed chains


class AugMix:
    """``AugMix(width, depth, severity, alpha)``; ``sample``/``apply``/``__call__`` (float out)."""

    def __init__(self, width: int = 3, depth: int = -1, severity: float = 3.0, alpha: float = 1.0) -> None:
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be an int >= 1, got {width!r}")
        if not isinstance(depth, int) or not (depth == -1 or depth >= 1):
            raise ValueError(f"depth must be -1 (random 1..3) or an int >= 1, got {depth!r}")
        if not 0.1 <= severity <= 10:
            raise ValueError(f"severity must lie in [0.1, 10], got {severity!r}")
        self.width, self.depth, self.severity = width, depth, float(severity)
        self.alpha = check_alpha(alpha)

    def _chain(self, b: int, h: int, w: int, g: torch.Generator, dev) -> PolicyParams:
        s = 3 if self.depth == -1 else self.depth
        depth = randint(3, (b, 1), g, dev) + 1 if self.depth == -1 else torch.full((b, 1), s, device=dev)
        ops = randint(len(AUGMIX_OPS), (b, s), g, dev)
        level = 0.1 + (self.severity - 0.1) * rand((b, s), g, dev)  # U[0.1, severity), as the reference
        mag = level / 10.0
        # translate: int(level * side / 3 / 10) pixels, fed to the integer 0-10 px row exactly
        px = torch.floor(level * (w / 3.0) / 10.0).clamp(max=10)
        is_tr = torch.zeros_like(ops, dtype=torch.bool)
        for k in _TRANSLATE:
            is_tr |= ops == k
        mag = torch.where(is_tr, (px + 0.5) / 10.0, mag).clamp(max=1.0)
        applied = torch.arange(s, device=dev).view(1, s) < depth
        zeros = torch.zeros((b, s), dtype=torch.long, device=dev)
        centers = torch.zeros((b, s, 2), dtype=torch.long, device=dev)
        return PolicyParams(ops, mag, sign((b, s), g, dev), applied, centers, zeros)

    def sample(self, x: Tensor, generator: torch.Generator) -> AugMixParams:
        b, _, h, w = x.shape
        dev = x.device
        chains = tuple(self._chain(b, h, w, generator, dev) for _ in range(self.width))
        weights = dirichlet((b,), self.width, self.alpha, generator, dev)
        m = beta_draw((b,), self.alpha, self.alpha, generator, dev)
        return AugMixParams(chains, weights, m)

    def apply(self, x: Tensor, params: AugMixParams) -> Tensor:
        xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        mix = torch.zeros_like(xf)
        for i, p in enumerate(params.chains):
            chain = run_stages(x, AUGMIX_OPS, p, fill=0.0, interpolation="bilinear")
            chain = chain.float() / 255.0 if chain.dtype == torch.uint8 else chain.float()
            mix.add_(params.weights[:, i].view(-1, 1, 1, 1) * chain)
        m = params.m.view(-1, 1, 1, 1)
        return (1 - m) * xf + m * mix

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply(x, self.sample(x, generator))


def jsd_loss(*logits: Tensor) -> Tensor:
    """Jensen-Shannon divergence between the softmaxes of ``logits`` (reference formula)."""
    if len(logits) < 2:
        raise ValueError(f"jsd_loss needs at least two sets of logits, got {len(logits)}")
    probs = [F.softmax(z.float(), dim=1) for z in logits]
    log_m = torch.clamp(sum(probs) / len(probs), 1e-7, 1).log()
    return sum(F.kl_div(log_m, p, reduction="batchmean") for p in probs) / len(probs)
