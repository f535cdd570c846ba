"""Stage "pretrain G" of IF-DA (Lee et al., CVPR 2020, §4.3): mimic the baseline augmentation.

The paper trains G "based on the GAN framework" with the relativistic average GAN (RaGAN,
Jolicoeur-Martineau, ICLR 2019) and two discriminators: one over images and one over "the feature
map in the last fully-connected layer of F", defined by a single fully connected layer.  To avoid
the trivial identity solution the real samples are *baseline-augmented* images rather than the
originals, so G learns to produce transformations distributed like the baseline's.

RaGAN with the standard (logistic) loss, for critic C, real r and fake f:

    L_D = BCE(C(r) - mean C(f), 1) + BCE(C(f) - mean C(r), 0)
    L_G = BCE(C(f) - mean C(r), 1) + BCE(C(r) - mean C(f), 0)

summed over the two discriminators.  Choices the paper leaves open: the fake is
``G(x, dropout(E(x)))`` with E trained jointly (dropout on tau is the only randomness, the same
sampling used in stages 3 and 4, so stage 3 starts from the pretrained pair); the real is
``baseline(x)`` with an independent draw; the image discriminator is conv4x4/2(C->32) LeakyReLU
conv4x4/2(32->64) LeakyReLU, global average pool, linear(64->1); Adam lr 2e-4, betas (0.5, 0.999)
for all three (the usual GAN setting); F is frozen in eval mode and feeds the feature critic with
``F.embed`` (the input of its last FC layer).  ``identity_pretrain`` instead regresses G's outputs
to zero and x~ to x (the "identity" option, for ablations and tests).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import sample
from .transforms import AugNet, _build

__all__ = ["ImageCritic", "gan_pretrain", "identity_pretrain", "ragan_losses"]


class ImageCritic(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x - 0.5)[:, 0]


def ragan_losses(c_real: Tensor, c_fake: Tensor) -> tuple[Tensor, Tensor]:
    """(discriminator loss, generator loss) of the relativistic average GAN, standard loss."""
    dr = c_real - c_fake.mean()
    df = c_fake - c_real.mean()
    bce = F.binary_cross_entropy_with_logits
    d = bce(dr, torch.ones_like(dr)) + bce(df, torch.zeros_like(df))
    g = bce(df, torch.ones_like(df)) + bce(dr, torch.zeros_like(dr))
    return d, g


def _batches(n: int, batch_size: int, g: torch.Generator, device) -> list[Tensor]:
    perm = sample.permutation(n, g, device)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def gan_pretrain(
    aug: AugNet,
    classifier: nn.Module,
    x: Tensor,
    baseline: Callable[[Tensor, torch.Generator], Tensor],
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    lr: float = 2e-4,
    device: torch.device | str = "cpu",
    log: Callable[[dict], None] | None = None,
) -> list[dict]:
    """RaGAN pretraining of ``aug`` (E and G) on uint8 images ``x``; returns per-epoch losses."""
    device = torch.device(device)
    classifier.eval()
    for p in classifier.parameters():
        p.requires_grad_(False)
    d_img = _build(lambda: ImageCritic(aug.channels), generator).to(device)
    d_feat = _build(lambda: nn.Linear(classifier.head.fc.in_features, 1), generator).to(device)
    opt_g = torch.optim.Adam(aug.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_img.parameters(), *d_feat.parameters()], lr=lr, betas=(0.5, 0.999))
    history = []
    for epoch in range(epochs):
        sums = {"d_loss": 0.0, "g_loss": 0.0}
        idx_list = _batches(x.shape[0], batch_size, generator, "cpu")
        for idx in idx_list:
            xb = x[idx].to(device)
            real = baseline(xb, generator).float() / 255.0
            src = baseline(xb, generator).float() / 255.0
            fake = aug(src, generator=generator)
            # discriminators
            d_loss = sum(
                ragan_losses(c(real), c(fake.detach()))[0]
                for c in (d_img, lambda t: d_feat(classifier.embed(t))[:, 0])
            )
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # generator (E and G)
            g_loss = sum(
                ragan_losses(c(real), c(fake))[1]
                for c in (d_img, lambda t: d_feat(classifier.embed(t))[:, 0])
            )
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            sums["d_loss"] += float(d_loss.detach()) / len(idx_list)
            sums["g_loss"] += float(g_loss.detach()) / len(idx_list)
        rec = {"epoch": epoch + 1, **sums}
        history.append(rec)
        if log:
            log(rec)
    return history


def identity_pretrain(
    aug: AugNet,
    x: Tensor,
    *,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    lr: float = 1e-3,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Pretrain toward the identity: minimise ``||G outputs||^2 + ||x~ - x||^2``; returns losses."""
    device = torch.device(device)
    opt = torch.optim.Adam(aug.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = sample.randint(x.shape[0], (min(batch_size, x.shape[0]),), generator, "cpu")
        xb = x[idx].to(device)
        xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb
        parts = aug.components(xb, generator=generator)
        loss = parts["raw"].pow(2).mean() + (parts["out"] - xb).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
