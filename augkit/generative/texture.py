"""Texture synthesis and neural style transfer by optimising pixels (Gatys et al. 2015, 2016).

``synthesize_texture(targets, size, steps, generator)`` — Gatys, Ecker & Bethge, NeurIPS 2015:
start from noise and optimise each image so that its Gram matrices (:mod:`.features`) match its
target's; B textures are synthesised at once (one batched loss, one optimiser).
``style_transfer(content, style, style_weight, steps, generator)`` — Gatys, Ecker & Bethge,
"Image Style Transfer Using Convolutional Neural Networks", CVPR 2016: start from the content
image and minimise ``content_weight * ||F(x) - F(c)||^2 + style_weight * Gram loss(x, s)``.

Choices the papers leave open or that differ here:

- Optimiser: Adam on the pixels (learning rate 0.01), each step projected back onto [0, 1],
  instead of the papers' L-BFGS: it is batched over images without line searches, and the loss
  falls steadily (tested).  (A sigmoid parametrisation left saturated pixels stuck at 0 or 1.)
- Results are returned as uint8.
- Content features: the random-filter maps of every scale (no deeper layer exists in the
  random-filter network); content loss is their squared difference relative to the content's.
- ``style_weight = 0`` leaves the content image unchanged (its content loss is 0 at the start
  and so is its gradient) up to the uint8 round trip.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .features import RandomFeatures, gram, gram_loss

__all__ = ["style_transfer", "synthesize_texture"]


def _as_float(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{name} must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float().clamp(0, 1)


def _run(x0: Tensor, loss_fn, steps: int, lr: float) -> tuple[Tensor, list[float]]:
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history = []
    for _ in range(steps):
        loss = loss_fn(x).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        history.append(loss.item())
    with torch.no_grad():
        out = x.mul(255).round().to(torch.uint8)
    return out, history


def synthesize_texture(
    targets: Tensor,
    size: tuple[int, int],
    steps: int,
    generator: torch.Generator,
    lr: float = 0.01,
    features: RandomFeatures | None = None,
) -> tuple[Tensor, list[float]]:
    """Textures of ``size`` matching each target's Gram statistics; (uint8 images, loss per step)."""
    t = _as_float(targets, "targets")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    feats = features or RandomFeatures(t.shape[1], generator)
    with torch.no_grad():
        target_grams = [gram(f) for f in feats(t)]
    noise = torch.rand((t.shape[0], t.shape[1], *size), generator=generator)
    return _run(noise, lambda x: gram_loss(feats(x), target_grams), steps, lr)


def style_transfer(
    content: Tensor,
    style: Tensor,
    style_weight: float,
    steps: int,
    generator: torch.Generator,
    content_weight: float = 1.0,
    lr: float = 0.01,
) -> tuple[Tensor, list[float]]:
    """Each content image re-rendered in its style image's statistics; (uint8 images, losses)."""
    c, s = _as_float(content, "content"), _as_float(style, "style")
    if c.shape[:2] != s.shape[:2]:
        raise ValueError(
            f"content and style need the same batch and channels, got {tuple(c.shape)} {tuple(s.shape)}"
        )
    if style_weight < 0 or content_weight < 0:
        raise ValueError("style_weight and content_weight must be >= 0")
    feats = RandomFeatures(c.shape[1], generator)
    with torch.no_grad():
        c_feats = feats(c)
        s_grams = [gram(f) for f in feats(s)]

    def loss(x: Tensor) -> Tensor:
        fx = feats(x)
        content_loss = sum(
            (a - b).pow(2).sum(dim=(1, 2, 3)) / b.pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-12)
            for a, b in zip(fx, c_feats, strict=True)
        )
        return content_weight * content_loss + style_weight * gram_loss(fx, s_grams)

    return _run(c, loss, steps, lr)
