"""SAMPLE: the only place in augkit's augmentation core that draws random numbers.

Every function takes an explicit ``torch.Generator`` and returns a frozen dataclass of
tensors whose first dimension is the batch.  Draws happen on the generator's device and
are moved to the images' device afterwards, so a CPU generator drives CUDA batches with
the same bits as on CPU.  Nothing here touches the global RNG.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "AffineParams",
    "BoxParams",
    "ColorParams",
    "FlipParams",
    "GridMaskParams",
    "HideParams",
    "NoiseParams",
    "OffsetParams",
    "PolicyParams",
    "ScalarParams",
    "beta",
    "dirichlet",
    "gamma",
    "index_params",
    "permutation",
    "rand",
    "randint",
    "sample_boxes",
    "sign",
]


# --- primitive draws ---------------------------------------------------------------------


def rand(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> Tensor:
    """Uniform [0, 1) on the generator's device, moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str
) -> Tensor:
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def uniform(lo: float, hi: float, shape: tuple[int, ...], generator: torch.Generator, device) -> Tensor:
    return lo + (hi - lo) * rand(shape, generator, device)


def sign(shape: tuple[int, ...], generator: torch.Generator, device) -> Tensor:
    """+1 or -1 with equal probability, float32."""
    return torch.where(rand(shape, generator, device) < 0.5, -1.0, 1.0)


def permutation(n: int, generator: torch.Generator, device) -> Tensor:
    """A random permutation of ``range(n)`` (mixing partners, shuffles)."""
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _gamma64(n: int, a: float, generator: torch.Generator) -> Tensor:
    """``n`` Gamma(a, 1) draws as float64 on the generator's device (see :func:`gamma`)."""
    dev = generator.device
    boost = a < 1
    d = (a + 1 if boost else a) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    parts, need = [], n
    while need > 0:
        # one oversampled block per round: acceptance is > 95 % for d >= 2/3, so one round
        # almost always suffices; the first ``need`` accepted candidates are kept, in order
        k = need + need // 8 + 16
        z = torch.randn(k, generator=generator, device=dev, dtype=torch.float64)
        u = torch.rand(k, generator=generator, device=dev, dtype=torch.float64)
        v = (c * z + 1).pow_(3)
        rhs = (0.5 * z * z + d) - d * v + d * torch.log(v.clamp(min=1e-300))
        acc = (d * v)[(v > 0) & (torch.log(u) < rhs)][:need]
        parts.append(acc)
        need -= acc.numel()
    out = (
        parts[0]
        if len(parts) == 1
        else torch.cat(parts)
        if parts
        else torch.zeros(0, dtype=torch.float64, device=dev)
    )
    if boost:
        u = torch.rand(n, generator=generator, device=dev, dtype=torch.float64)
        out = out * u.clamp(min=1e-300) ** (1.0 / a)
    return out


def _check_concentration(a: float) -> float:
    a = float(a)
    if not a > 0 or not math.isfinite(a):
        raise ValueError(f"concentration must be a finite number > 0, got {a!r}")
    return a


def gamma(shape: tuple[int, ...], concentration: float, generator: torch.Generator, device) -> Tensor:
    """Gamma(concentration, 1) draws from an explicit generator (torch's own sampler takes none).

    Marsaglia & Tsang (2000), "A simple method for generating gamma variables", vectorised:
    each round draws an oversampled block of normal/uniform candidate pairs and keeps the
    first accepted ones in order (accepted candidates of an i.i.d. stream are i.i.d. Gamma),
    so the bits depend only on the generator and a call is ~one round of ~12 tensor ops.
    ``concentration < 1`` uses the boost ``Gamma(a) = Gamma(a + 1) * U^(1/a)``.
    """
    a = _check_concentration(concentration)
    return _gamma64(math.prod(shape), a, generator).view(shape).float().to(device)


def beta(shape: tuple[int, ...], alpha: float, beta_: float, generator: torch.Generator, device) -> Tensor:
    """Beta(alpha, beta_) as ``X / (X + Y)`` with Gamma draws (Mixup's lambda, AugMix's m).

    Beta(1, 1) is U(0, 1): one uniform draw.  Equal concentrations draw X and Y in one block.
    """
    a, b = _check_concentration(alpha), _check_concentration(beta_)
    n = math.prod(shape)
    if a == 1.0 and b == 1.0:
        return rand(shape, generator, device)
    if a == b:
        xy = _gamma64(2 * n, a, generator)
        x, y = xy[:n], xy[n:]
    else:
        x, y = _gamma64(n, a, generator), _gamma64(n, b, generator)
    s = x + y
    out = x / s.clamp(min=1e-300)
    zero = s <= 0
    if bool(zero.any()):  # both gammas underflowed (tiny concentrations): a fair coin
        coin = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64) < 0.5
        out = torch.where(zero, coin.to(out.dtype), out)
    return out.view(shape).float().to(device)


def dirichlet(shape: tuple[int, ...], k: int, alpha: float, generator: torch.Generator, device) -> Tensor:
    """Symmetric Dirichlet(alpha, ..., alpha) over the last axis of size ``k`` (AugMix's weights)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    x = gamma((*shape, k), alpha, generator, device)
    s = x.sum(-1, keepdim=True)
    return torch.where(s > 0, x / s.clamp(min=1e-30), torch.full_like(x, 1.0 / k))


def index_params(params, idx: Tensor):
    """Select images ``idx`` from a params dataclass (or tuple of them), field by field."""
    if params is None:
        return None
    if isinstance(params, tuple):
        return tuple(index_params(p, idx) for p in params)
    changes = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        if isinstance(v, Tensor) and v.ndim > 0:
            changes[f.name] = v[idx]
        elif isinstance(v, tuple) or dataclasses.is_dataclass(v):
            changes[f.name] = index_params(v, idx)
    return dataclasses.replace(params, **changes)


# --- params dataclasses --------------------------------------------------------------------


@dataclass(frozen=True)
class FlipParams:
    flip: Tensor  # (B,) bool


@dataclass(frozen=True)
class OffsetParams:
    offsets: Tensor  # (B, 2) int64 (top, left) in the padded image


@dataclass(frozen=True)
class BoxParams:
    boxes: Tensor  # (B, 4) (top, left, height, width)
    values: Tensor | None = None  # fill values for erasing: (B, C, 1, 1) or (B, C, H, W)


@dataclass(frozen=True)
class ScalarParams:
    value: Tensor  # (B,) one native value per image
    apply: Tensor  # (B,) bool, False = untouched


@dataclass(frozen=True)
class NoiseParams:
    noise: Tensor  # raw noise drawn per image
    value: Tensor  # (B,) strength per image


@dataclass(frozen=True)
class AffineParams:
    angle: Tensor  # (B,) degrees, counter-clockwise
    translate: Tensor  # (B, 2) pixels (x, y)
    scale: Tensor  # (B,)
    shear: Tensor  # (B, 2) shear factors (x, y)


@dataclass(frozen=True)
class ColorParams:
    factors: Tensor  # (B, 4) brightness, contrast, saturation factors and hue shift
    order: Tensor  # (B, 4) a permutation of 0..3 per image (torchvision applies a random order)


@dataclass(frozen=True)
class HideParams:
    hide: Tensor  # (B, gh, gw) bool


@dataclass(frozen=True)
class GridMaskParams:
    d: Tensor  # (B,) unit size in pixels
    offsets: Tensor  # (B, 2)
    angle: Tensor  # (B,) degrees
    apply: Tensor  # (B,) bool


@dataclass(frozen=True)
class PolicyParams:
    """Per image and stage: which op, with which magnitude and sign, and whether it fires.

    ``centers`` (Cutout) and ``partners`` (SamplePairing, an index into the stage's batch)
    are drawn for every image and stage, used only where the op needs them.
    """

    ops: Tensor  # (B, S) int64 index into the policy's op-name list
    magnitude: Tensor  # (B, S) float in [0, 1]
    sign: Tensor  # (B, S) float +-1
    applied: Tensor  # (B, S) bool
    centers: Tensor  # (B, S, 2) int64
    partners: Tensor  # (B, S) int64


def sample_policy_aux(
    b: int, s: int, h: int, w: int, g: torch.Generator, device
) -> tuple[Tensor, Tensor, Tensor]:
    """Signs, Cutout centres and SamplePairing partners for ``b`` images and ``s`` stages."""
    sg = sign((b, s), g, device)
    cy = randint(max(h, 1), (b, s, 1), g, device)
    cx = randint(max(w, 1), (b, s, 1), g, device)
    partners = randint(max(b, 1), (b, s), g, device)
    return sg, torch.cat([cy, cx], dim=-1), partners


def sample_boxes(
    b: int,
    h: int,
    w: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    g: torch.Generator,
    device,
    tries: int = 10,
    fallback: str = "center",
) -> tuple[Tensor, Tensor]:
    """Boxes with area fraction in ``scale`` and aspect (w/h) log-uniform in ``ratio``.

    Vectorised rejection sampling: ``tries`` candidates per image, the first that fits
    wins (Szegedy et al. 2015; Zhong et al. 2020 both retry until a box fits).  Images with
    no fitting candidate get ``fallback``: "center" = the whole image clipped to ``ratio``
    (torchvision's RandomResizedCrop fallback) or "none" = a 0x0 box (Random Erasing leaves the
    image alone).  Returns (boxes (B, 4) float, found (B,) bool).
    """
    area = h * w
    target = area * uniform(scale[0], scale[1], (b, tries), g, device)
    log_r = uniform(math.log(ratio[0]), math.log(ratio[1]), (b, tries), g, device)
    aspect = torch.exp(log_r)
    bw = torch.sqrt(target * aspect).round()
    bh = torch.sqrt(target / aspect).round()
    ok = (bw <= w) & (bh <= h) & (bw > 0) & (bh > 0)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(b, dtype=torch.long, device=device))
    pick = lambda t: t.gather(1, first[:, None])[:, 0]
    bw, bh, found = pick(bw), pick(bh), ok.any(1)
    ut, ul = rand((b,), g, device), rand((b,), g, device)
    if fallback == "center":
        in_ratio = w / h
        fw = torch.full((b,), float(w), device=device)
        fh = torch.full((b,), float(h), device=device)
        if in_ratio < ratio[0]:
            fh = torch.full_like(fh, float(round(w / ratio[0])))
        elif in_ratio > ratio[1]:
            fw = torch.full_like(fw, float(round(h * ratio[1])))
        bw, bh = torch.where(found, bw, fw), torch.where(found, bh, fh)
    else:
        bw, bh = torch.where(found, bw, 0.0), torch.where(found, bh, 0.0)
    top = torch.floor(ut * (h - bh + 1)).clamp(min=0)
    left = torch.floor(ul * (w - bw + 1)).clamp(min=0)
    return torch.stack([top, left, bh, bw], dim=1), found
