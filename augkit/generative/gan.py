"""A class-conditional DCGAN for GAN-based augmentation (Radford, Metz & Chintala, ICLR 2016; class
conditioning of the discriminator by projection, Miyato & Koyama, ICLR 2018).

Generator: ``z`` (64) and a class embedding (64) -> linear -> 128 maps at 1/4 size -> BN ReLU ->
transposed conv 4x4 stride 2 to 64 maps -> BN ReLU -> transposed conv 4x4 stride 2 to C maps ->
sigmoid (images in [0, 1]).  Discriminator: conv 4x4 stride 2 (C->64), LeakyReLU 0.2, conv 4x4
stride 2 (64->128), BN, LeakyReLU, global *mean* pool ``h``, ``linear(h) + <embed(y), h>``.
Loss: the non-saturating GAN loss (binary cross-entropy, DCGAN's); Adam 2e-4, betas (0.5, 0.999);
one D and one G step per iteration (DCGAN's settings).  Image sides must be divisible by 4 (8, 28
and 32 are).  Weights are drawn from N(0, 0.02) (DCGAN), BN scales from N(1, 0.02), all from an
explicit generator; the global RNG is never used.

Sanity checks: :func:`frechet` is FID's formula (Heusel et al. 2017) on any features;
:func:`frechet_distance` applies it to mean-pooled random-filter features
(:class:`augkit.generative.RandomFeatures`), and the GAN search (:mod:`augkit.search.gan`) also
applies it to the embeddings of a classifier trained here on the real images (FID uses an
ImageNet Inception net, which nothing here may download).  Both are comparable only within augkit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sample import randint, randn
from .features import RandomFeatures

__all__ = ["ConditionalGAN", "frechet", "frechet_distance", "train_gan"]

Z = 64


def _init(module: nn.Module, g: torch.Generator) -> nn.Module:
    module.to_empty(device="cpu")
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02, generator=g)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.num_batches_tracked.zero_()
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
                m.weight.normal_(0.0, 0.02, generator=g)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
    return module


class _G(nn.Module):
    def __init__(self, c: int, side: int, k: int) -> None:
        super().__init__()
        self.s = side // 4
        self.embed = nn.Embedding(k, Z)
        self.fc = nn.Linear(2 * Z, 128 * self.s * self.s)
        self.bn0, self.bn1 = nn.BatchNorm2d(128), nn.BatchNorm2d(64)
        self.up1 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.up2 = nn.ConvTranspose2d(64, c, 4, 2, 1)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(-1, 128, self.s, self.s)
        h = F.relu(self.bn1(self.up1(F.relu(self.bn0(h)))))
        return torch.sigmoid(self.up2(h))


class _D(nn.Module):
    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(c, 64, 4, 2, 1), nn.Conv2d(64, 128, 4, 2, 1)
        self.bn = nn.BatchNorm2d(128)
        self.fc, self.embed = nn.Linear(128, 1), nn.Embedding(k, 128)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = F.leaky_relu(self.c1(2 * x - 1), 0.2)
        h = F.leaky_relu(self.bn(self.c2(h)), 0.2).mean(dim=(2, 3))
        return self.fc(h)[:, 0] + (self.embed(y) * h).sum(1)


class ConditionalGAN(nn.Module):
    """Generator and discriminator; ``sample(labels, generator)`` gives uint8 images."""

    def __init__(self, channels: int, side: int, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        if side % 4:
            raise ValueError(f"image side must be divisible by 4, got {side}")
        g = torch.Generator().manual_seed(seed)
        with torch.device("meta"):
            gen, disc = _G(channels, side, num_classes), _D(channels, num_classes)
        self.G, self.D = _init(gen, g), _init(disc, g)
        self.num_classes = num_classes

    @torch.no_grad()
    def sample(self, labels: Tensor, generator: torch.Generator) -> Tensor:
        was = self.G.training
        self.G.eval()
        x = self.G(randn((labels.shape[0], Z), generator, labels.device), labels)
        self.G.train(was)
        return x.mul(255).round().to(torch.uint8)


def train_gan(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    iterations: int,
    generator: torch.Generator,
    seed: int = 0,
    batch: int = 64,
) -> tuple[ConditionalGAN, list[dict]]:
    """Train on uint8 images ``x`` with labels ``y``; returns the GAN and per-step losses."""
    gan = ConditionalGAN(x.shape[1], x.shape[-1], num_classes, seed)
    og = torch.optim.Adam(gan.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(gan.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_all = x.float() / 255
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    history = []
    for _ in range(iterations):
        idx = randint(x.shape[0], (batch,), generator, "cpu")
        real, labels = real_all[idx], y[idx]
        fake_labels = randint(num_classes, (batch,), generator, "cpu")
        fake = gan.G(randn((batch, Z), generator, "cpu"), fake_labels)
        d_loss = F.binary_cross_entropy_with_logits(
            gan.D(real, labels), ones
        ) + F.binary_cross_entropy_with_logits(gan.D(fake.detach(), fake_labels), zeros)
        od.zero_grad(set_to_none=True)
        d_loss.backward()
        od.step()
        g_loss = F.binary_cross_entropy_with_logits(gan.D(fake, fake_labels), ones)
        og.zero_grad(set_to_none=True)
        g_loss.backward()
        og.step()
        history.append({"d_loss": d_loss.item(), "g_loss": g_loss.item()})
    return gan, history


def frechet(fa: Tensor, fb: Tensor) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets ``(N, D)`` (FID's formula)."""
    import numpy as np
    from scipy import linalg

    a, b = fa.double().cpu().numpy(), fb.double().cpu().numpy()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def frechet_distance(real: Tensor, fake: Tensor, seed: int = 0) -> float:
    """Fréchet distance of Gaussians fitted to mean-pooled random-filter features (uint8 inputs)."""
    feats = RandomFeatures(real.shape[1], seed, maps=16)
    with torch.no_grad():
        fr, ff = (torch.cat([f.mean(dim=(2, 3)) for f in feats(t.float() / 255)], 1) for t in (real, fake))
    return frechet(fr, ff)
