"""CLAMP's first stage: class-conditional CycleGANs between the subgroups of each class.

Zhu, Park, Isola & Efros, "Unpaired image-to-image translation using cycle-consistent
adversarial networks", ICCV 2017; used class-conditionally by Goel et al. 2021 (one CycleGAN per
class, translating its subgroup A into B and back).  Nothing is downloaded: the networks are
trained here on the run's training images.

As in CycleGAN: ResNet-style generators (7x7 conv, one stride-2 down and up sampling, residual
blocks, instance norm, tanh output on images scaled to [-1, 1]), 70x70-PatchGAN-style
discriminators (here three 4x4 convolutions: 28-pixel images), least-squares GAN losses, cycle
loss weight ``cycle`` = 10, identity loss weight ``identity`` = 0.5 x cycle, Adam (lr 2e-4,
betas 0.5 / 0.999), constant learning rate for the first half of training and linear decay to
zero over the second, N(0, 0.02) initialisation.

Departures (stated): ``RES_BLOCKS`` = 2 residual blocks and 16 base channels (CycleGAN uses 6
at 128 px, 9 at 256 px; these images are 28 px); batches of 8 per subgroup (CycleGAN: 1), 1,000
iterations by default (``clamp:iterations=``; measured: on the zigzag benchmark the zigzag-to-clean
direction removes most of the stroke after 1,000, clean-to-zigzag adds texture rather than a clean
stroke, see docs/RESULTS.md); no history pool of 50 generated images for
the discriminator (each step sees the current generator's output); batches are drawn with
replacement from each subgroup (the minority subgroup holds ~100 images), from an explicit
generator, so training is reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sample import randint

__all__ = ["CycleGAN", "RES_BLOCKS", "train_cyclegan", "translate"]

RES_BLOCKS, WIDTH = 2, 16


def _init(module: nn.Module, g: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0.0, 0.02, generator=g)
                m.bias.zero_()
    return module


def _norm_relu(c: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(c), nn.ReLU(inplace=True)]


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), *_norm_relu(c),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def generator(c: int, w: int = WIDTH) -> nn.Sequential:
    """Image in [-1, 1] -> image in [-1, 1], same size (height and width even)."""
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(c, w, 7), *_norm_relu(w),
        nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), *_norm_relu(2 * w),
        *[_Res(2 * w) for _ in range(RES_BLOCKS)],
        nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1, output_padding=1), *_norm_relu(w),
        nn.ReflectionPad2d(3), nn.Conv2d(w, c, 7), nn.Tanh(),
    )  # fmt: skip


def discriminator(c: int, w: int = WIDTH) -> nn.Sequential:
    """Patch discriminator: a map of real/fake scores."""
    return nn.Sequential(
        nn.Conv2d(c, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * w),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(2 * w, 1, 4, stride=1, padding=1),
    )  # fmt: skip


class CycleGAN(nn.Module):
    """Generators ``ab`` (subgroup A -> B) and ``ba``, discriminators ``da`` and ``db``."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.ab, self.ba = _init(generator(channels), g), _init(generator(channels), g)
        self.da, self.db = _init(discriminator(channels), g), _init(discriminator(channels), g)


def _lsgan(scores: Tensor, real: bool) -> Tensor:
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


def _step_losses(
    m: CycleGAN, a: Tensor, b: Tensor, cycle: float, identity: float
) -> tuple[Tensor, Tensor, dict]:
    fake_b, fake_a = m.ab(a), m.ba(b)
    cyc = F.l1_loss(m.ba(fake_b), a) + F.l1_loss(m.ab(fake_a), b)
    idt = F.l1_loss(m.ba(a), a) + F.l1_loss(m.ab(b), b) if identity else torch.zeros(())
    adv = _lsgan(m.db(fake_b), True) + _lsgan(m.da(fake_a), True)
    g_loss = adv + cycle * cyc + identity * idt
    d_loss = 0.5 * (
        _lsgan(m.da(a), True) + _lsgan(m.da(fake_a.detach()), False)
        + _lsgan(m.db(b), True) + _lsgan(m.db(fake_b.detach()), False)
    )  # fmt: skip
    return g_loss, d_loss, {"adv": adv.item(), "cycle": cyc.item(), "identity": idt.item()}


def train_cyclegan(
    a: Tensor,
    b: Tensor,
    iterations: int,
    generator: torch.Generator,
    seed: int = 0,
    batch: int = 8,
    cycle: float = 10.0,
    identity: float = 5.0,
) -> tuple[CycleGAN, list[dict]]:
    """Train A <-> B on uint8 images ``a`` and ``b``; returns the model and per-step losses."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError(f"each subgroup needs at least one image, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[-1] % 2 or a.shape[-2] % 2:
        raise ValueError(f"the CycleGAN needs even image sides, got {tuple(a.shape[-2:])}")
    m = CycleGAN(a.shape[1], seed)
    opt_g = torch.optim.Adam([*m.ab.parameters(), *m.ba.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*m.da.parameters(), *m.db.parameters()], lr=2e-4, betas=(0.5, 0.999))
    half = iterations // 2
    decay = lambda i: 1.0 if i < half else max(0.0, (iterations - i) / max(iterations - half, 1))  # noqa: E731
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
    fa, fb, history = a.float() / 127.5 - 1, b.float() / 127.5 - 1, []
    for _ in range(iterations):
        xa = fa[randint(fa.shape[0], (batch,), generator, "cpu")]
        xb = fb[randint(fb.shape[0], (batch,), generator, "cpu")]
        g_loss, d_loss, parts = _step_losses(m, xa, xb, cycle, identity)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)  # the generator step left grads on D: drop them
        d_loss.backward()
        opt_d.step()
        for s in scheds:
            s.step()
        history.append({"g_loss": g_loss.item(), "d_loss": d_loss.item(), **parts})
    return m.eval(), history


@torch.no_grad()
def translate(net: nn.Module, x: Tensor, batch: int = 500) -> Tensor:
    """uint8 images through one generator, in eval mode, rounded back to uint8."""
    out = [net(c.float() / 127.5 - 1) for c in x.split(batch)] if x.shape[0] else [x.float()]
    return ((torch.cat(out) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
