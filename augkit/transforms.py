"""COMPOSE: model-free augmentation modules with replayable per-image randomness.

Each module draws its parameters in :meth:`sample_batch` (explicit generator, see
:mod:`augkit.sample`) and applies a pure kernel from :mod:`augkit.ops` in
:meth:`apply_batch`.  Defaults follow the papers:

- ``PadCrop``: 4-pixel zero padding + random 32x32 crop (He et al. 2016 CIFAR recipe).
- ``RandomResizedCrop``: scale (0.08, 1), ratio (3/4, 4/3) (Szegedy et al. 2015, as
  torchvision), 10 tries then a centre crop.
- ``ElasticDistortion``: alpha 34, sigma 4 pixels (Simard et al. 2003, MNIST).
- ``Cutout``: one square, centre uniform over the image, may extend past the border
  (DeVries & Taylor 2017: 16 px on CIFAR-10, fill 0 after normalisation ~ the mean; here the
  fill is on the 8-bit scale and defaults to 0).
- ``RandomErasing``: p 0.5, area (0.02, 0.4), aspect (0.3, 1/0.3), per-pixel random values
  (Zhong et al., AAAI 2020, "RE-R"); a box that does not fit after 10 tries is skipped
  (the paper retries until it fits; we cap the retries to stay batched).
- ``HideAndSeek``: grid of patches each hidden with p 0.5 (Singh & Lee, ICCV 2017); fill the
  dataset mean (pass it) — default 0.
- ``GridMask``: d uniform in [d_min, d_max] as fractions of the shorter side, keep ratio
  r = 0.6, random offsets in [0, d), optional rotation, applied with p 0.8
  (Chen et al. 2020, "GridMask Data Augmentation", ImageNet settings 96-224 px of 224).
- ``SamplePairing``: partner drawn from the same batch, weight 0.5 (Inoue 2018).
- ``ColorJitter``: brightness, contrast, saturation and hue applied in that fixed order
  (torchvision draws a random order; a fixed order keeps the batch in one pass).

Arguments are validated at construction (finite real numbers, not bools or strings; fills on the
8-bit scale).  Sizes that set memory are bounded: ``PadCrop`` padding <= 256 px (the recipes use
4 px), ``RandomResizedCrop`` sides and ``Cutout`` size <= 4096 px, ``HideAndSeek`` grid <= 256
cells per side, ``ElasticDistortion`` sigma <= 64 px (the filter is 8 sigma wide; Simard et al.
use 4 px).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Augment, as_batch
from .compose import ChoiceParams, Compose, OneOf, RandomApply, _is_num, _on_subset, _prob  # noqa: F401
from .ops import color, erase, filters, geometry, pairing
from .ops._common import bound_of
from .sample import (
    AffineParams,
    BoxParams,
    FlipParams,
    GridMaskParams,
    HideParams,
    NoiseParams,
    OffsetParams,
    ScalarParams,
    rand,
    randint,
    randn,
    sample_boxes,
    uniform,
)

__all__ = [
    "ColorJitter",
    "Compose",
    "Cutout",
    "ElasticDistortion",
    "GaussianBlur",
    "GaussianNoise",
    "GridMask",
    "HideAndSeek",
    "OneOf",
    "PadCrop",
    "RandomAffine",
    "RandomApply",
    "RandomErasing",
    "RandomFlip",
    "RandomGrayscale",
    "RandomResizedCrop",
    "SamplePairing",
    "standard",
]


MAX_PADDING, MAX_SIDE, MAX_GRID, MAX_SIGMA = 256, 4096, 256, 64.0


def _number(v: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite real number (not bool, not str, not a tensor) in [lo, hi]."""
    if not _is_num(v):
        raise TypeError(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r} ({type(v).__name__})")
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be a finite number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def _int(v: object, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int in [{lo}, {hi}], got {v!r} ({type(v).__name__})")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {v!r}")
    return int(v)


def _pair(
    v: float | Sequence[float], name: str, lo: float = 0.0, hi: float = math.inf
) -> tuple[float, float]:
    pair = (v, v) if _is_num(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if (
        pair is None
        or len(pair) != 2
        or not all(_is_num(t) and math.isfinite(t) for t in pair)
        or not lo <= pair[0] <= pair[1] <= hi
    ):
        raise ValueError(f"{name} must be a number or an increasing pair within [{lo}, {hi}], got {v!r}")
    return float(pair[0]), float(pair[1])


def _choice(v: object, name: str, choices: Sequence[str]) -> str:
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {v!r}")
    return v


def _check_fill(fill: object, name: str = "fill") -> float | tuple[float, ...]:
    """A fill on the 8-bit scale: a number in [0, 255] or a non-empty per-channel sequence."""
    ok = lambda f: _is_num(f) and 0 <= f <= 255  # noqa: E731 - NaN fails the comparison
    if ok(fill):
        return float(fill)
    if isinstance(fill, (tuple, list)) and fill and all(ok(f) for f in fill):
        return tuple(float(f) for f in fill)
    raise ValueError(
        f"{name} must be a number or a per-channel sequence in [0, 255] (8-bit scale), got {fill!r}"
    )


def _fill(fill: float | Sequence[float], x: Tensor) -> float | tuple[float, ...]:
    s = bound_of(x) / 255.0
    return tuple(f * s for f in fill) if isinstance(fill, (tuple, list)) else float(fill) * s


def _via_float32_on_cpu_half(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """torch 2.x CPU runs a grouped float16 convolution with a (1, K) kernel for minutes even on
    a 33x31 image (bfloat16, float32 and CUDA are fast): filter float16 CPU images in float32."""
    if x.dtype == torch.float16 and x.device.type == "cpu":
        return fn(x.float()).to(torch.float16)
    return fn(x)


_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_FLIP_MERGE_BYTES = 8 << 20  # above this, wide dtypes copy + overwrite the flipped images


class RandomFlip(Augment):
    """Flip each image with probability ``p`` ("horizontal" or "vertical")."""

    def __init__(self, p: float = 0.5, direction: str = "horizontal", seed: int = 0) -> None:
        super().__init__(seed)
        dims = {"horizontal": -1, "vertical": -2}  # geometry.hflip / geometry.vflip
        _choice(direction, "direction", tuple(dims))
        self.p, self.direction, self._dim = _prob(p), direction, dims[direction]

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> FlipParams:
        return FlipParams(rand((x.shape[0],), generator, x.device) < self.p)

    def apply_batch(self, x: Tensor, params: FlipParams) -> Tensor:
        # torch.where with a per-image mask is not vectorised (~40x a copy).  Small or 8-bit
        # batches: flip everything and merge bitwise on an integer view of the same width
        # (exact for any dtype, no sync).  Large wide batches: flipping everything costs more
        # than copying, so copy and overwrite only the flipped images.
        flip = params.flip.to(x.device)
        small = x.element_size() == 1 or x.numel() * x.element_size() <= _FLIP_MERGE_BYTES
        if small and not x.requires_grad:  # the integer view would cut the autograd graph
            xi = x.view(_INT_OF_SIZE[x.element_size()])
            m = flip.to(xi.dtype).neg_().view(-1, 1, 1, 1)  # all bits set where flipped
            out = xi.flip(self._dim)
            return out.bitwise_xor_(xi).bitwise_and_(m).bitwise_xor_(xi).view(x.dtype)
        out = x.clone()
        idx = torch.nonzero(flip).squeeze(1)
        return out.index_copy_(0, idx, x.index_select(0, idx).flip(self._dim))


class PadCrop(Augment):
    """Pad by ``padding`` pixels and crop back to the input size at a random offset."""

    def __init__(self, padding: int = 4, fill: float = 0.0, mode: str = "constant", seed: int = 0) -> None:
        super().__init__(seed)
        self.padding = _int(padding, "padding", 0, MAX_PADDING)
        self.fill, self.mode = _check_fill(fill), _choice(mode, "mode", ("constant", "reflect", "edge"))

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> OffsetParams:
        return OffsetParams(randint(2 * self.padding + 1, (x.shape[0], 2), generator, x.device))

    def apply_batch(self, x: Tensor, params: OffsetParams) -> Tensor:
        return geometry.pad_crop(x, params.offsets, self.padding, fill=_fill(self.fill, x), mode=self.mode)


class RandomResizedCrop(Augment):
    """Crop a random area/aspect box and resize it to ``size`` (Inception-style)."""

    def __init__(
        self,
        size: int | tuple[int, int],
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        interpolation: str = "bilinear",
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        pair = (size, size) if _is_num(size) else tuple(size) if isinstance(size, (tuple, list)) else ()
        if len(pair) != 2:
            raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
        self.size = tuple(_int(s, "size", 1, MAX_SIDE) for s in pair)
        self.scale, self.ratio = _pair(scale, "scale", 0.0, 1.0), _pair(ratio, "ratio", 1e-6, 1e6)
        self.interpolation = _choice(interpolation, "interpolation", ("nearest", "bilinear"))

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> BoxParams:
        boxes, _ = sample_boxes(
            x.shape[0], x.shape[-2], x.shape[-1], self.scale, self.ratio, generator, x.device
        )
        return BoxParams(boxes)

    def apply_batch(self, x: Tensor, params: BoxParams) -> Tensor:
        return geometry.resized_crop(x, params.boxes, self.size, interpolation=self.interpolation)

    # An empty batch still changes size: (0, C, H, W) -> (0, C, *size), not a copy of the input.
    def apply(self, x: Tensor, params: BoxParams) -> Tensor:
        xb, single = as_batch(x)
        out = self.apply_batch(xb, params)
        return out[0] if single else out

    def sample_apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply_batch(x, self.sample_batch(x, generator))


def affine_matrix(p: AffineParams, h: int, w: int) -> Tensor:
    """(B, 2, 3) output->input pixel map for rotate/scale/shear about the centre, then translate."""
    b = p.angle.shape[0]
    a = torch.deg2rad(p.angle)
    cos, sin = torch.cos(a), torch.sin(a)
    fwd = torch.zeros(b, 3, 3, device=p.angle.device)
    # forward map: x' = R(angle) S(scale) Sh(shear) (x - c) + c + t ; counter-clockwise on screen (y down)
    sx, sy = p.shear[:, 0], p.shear[:, 1]
    m = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) * p.scale.view(-1, 1, 1)
    sh = torch.stack(
        [torch.stack([torch.ones_like(sx), sx], -1), torch.stack([sy, torch.ones_like(sy)], -1)], -2
    )
    lin = m @ sh
    c = torch.tensor([w / 2, h / 2], device=p.angle.device)
    fwd[:, :2, :2] = lin
    fwd[:, :2, 2] = c - (lin @ c) + p.translate
    fwd[:, 2, 2] = 1.0
    return torch.linalg.inv(fwd)[:, :2, :]


class RandomAffine(Augment):
    """Per-image rotation (deg), translation (fraction of size), scale and shear factors."""

    def __init__(
        self,
        degrees: float | tuple = 0.0,
        translate: tuple = (0.0, 0.0),
        scale: tuple = (1.0, 1.0),
        shear: float | tuple = 0.0,
        interpolation: str = "bilinear",
        fill: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        sym = lambda v: (-v, v) if _is_num(v) else v  # noqa: E731 - a scalar d means [-d, d]
        self.degrees = _pair(sym(degrees), "degrees", -360, 360)
        if not isinstance(translate, (tuple, list)) or len(translate) != 2:
            raise ValueError(f"translate must be a pair (x, y) of fractions in [0, 1], got {translate!r}")
        self.translate = (
            _number(translate[0], "translate[0]", 0, 1),
            _number(translate[1], "translate[1]", 0, 1),
        )
        self.scale = _pair(scale, "scale", 1e-3, 1e3)
        self.shear = _pair(sym(shear), "shear", -10, 10)
        self.interpolation = _choice(interpolation, "interpolation", ("nearest", "bilinear"))
        self.fill = _check_fill(fill)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> AffineParams:
        b, h, w, dev = x.shape[0], x.shape[-2], x.shape[-1], x.device
        u = lambda r, n=1: (
            uniform(r[0], r[1], (b, n), generator, dev).squeeze(-1)
            if n == 1
            else uniform(r[0], r[1], (b, n), generator, dev)
        )
        tr = uniform(-1.0, 1.0, (b, 2), generator, dev) * torch.tensor(
            [self.translate[0] * w, self.translate[1] * h], device=dev
        )
        return AffineParams(u(self.degrees), tr, u(self.scale), u(self.shear, 2))

    def apply_batch(self, x: Tensor, params: AffineParams) -> Tensor:
        mat = affine_matrix(params, x.shape[-2], x.shape[-1])
        return geometry.warp_affine(x, mat, interpolation=self.interpolation, fill=_fill(self.fill, x))


class ElasticDistortion(Augment):
    """Simard et al. 2003: smoothed random displacement fields, alpha px, sigma px."""

    def __init__(
        self, alpha: float = 34.0, sigma: float = 4.0, p: float = 1.0, fill: float = 0.0, seed: int = 0
    ) -> None:
        super().__init__(seed)
        self.alpha, self.sigma = (
            _number(alpha, "alpha (pixels)", 0.0),
            _number(sigma, "sigma", 0.0, MAX_SIGMA),
        )
        if self.sigma == 0:
            raise ValueError(f"sigma must be > 0 (pixels), got {sigma!r}")
        self.p, self.fill = _prob(p), _check_fill(fill)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> NoiseParams:
        b, _, h, w = x.shape
        noise = uniform(-1.0, 1.0, (b, 2, h, w), generator, x.device)
        on = (rand((b,), generator, x.device) < self.p).float()
        return NoiseParams(noise, on * self.alpha)

    def apply_batch(self, x: Tensor, params: NoiseParams) -> Tensor:
        fn = lambda xs: geometry.elastic(xs, params.noise, params.value, self.sigma, fill=_fill(self.fill, x))  # noqa: E731
        return _via_float32_on_cpu_half(fn, x)


@dataclass(frozen=True)
class JitterParams:
    factors: Tensor  # (B, 4): brightness, contrast, saturation factors; hue shift


class ColorJitter(Augment):
    """Brightness/contrast/saturation factors uniform in [1-v, 1+v]; hue shift in [-h, h]."""

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        for name, v, hi in (
            ("brightness", brightness, 1.0),
            ("contrast", contrast, 1.0),
            ("saturation", saturation, 1.0),
            ("hue", hue, 0.5),
        ):
            _number(v, name, 0.0, hi)  # one number v: factors in [1 - v, 1 + v] (hue: [-v, v])
        self.ranges = (
            (1 - brightness, 1 + brightness),
            (1 - contrast, 1 + contrast),
            (1 - saturation, 1 + saturation),
            (-hue, hue),
        )

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> JitterParams:
        u = rand((x.shape[0], 4), generator, x.device)
        lo = torch.tensor([r[0] for r in self.ranges], device=x.device)
        hi = torch.tensor([r[1] for r in self.ranges], device=x.device)
        return JitterParams(lo + (hi - lo) * u)

    def apply_batch(self, x: Tensor, params: JitterParams) -> Tensor:
        f = params.factors
        for k, fn in enumerate((color.brightness, color.contrast, color.color, color.hue)):
            if self.ranges[k][0] != self.ranges[k][1]:
                x = fn(x, f[:, k])
        return x


class RandomGrayscale(Augment):
    def __init__(self, p: float = 0.1, seed: int = 0) -> None:
        super().__init__(seed)
        self.p = _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> FlipParams:
        return FlipParams(rand((x.shape[0],), generator, x.device) < self.p)

    def apply_batch(self, x: Tensor, params: FlipParams) -> Tensor:
        return _on_subset(x, params.flip, None, lambda xs, _: color.grayscale(xs))


class GaussianBlur(Augment):
    """Blur with per-image sigma uniform in ``sigma`` (pixels), with probability ``p``."""

    def __init__(self, sigma=(0.1, 2.0), p: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.sigma, self.p = _pair(sigma, "sigma", 0.0, 50.0), _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> ScalarParams:
        b = x.shape[0]
        return ScalarParams(
            uniform(*self.sigma, (b,), generator, x.device), rand((b,), generator, x.device) < self.p
        )

    def apply_batch(self, x: Tensor, params: ScalarParams) -> Tensor:
        k = 2 * math.ceil(3 * self.sigma[1]) + 1
        sigma = torch.where(params.apply, params.value, 0.0)
        return _via_float32_on_cpu_half(lambda xs: filters.gaussian_blur(xs, sigma, kernel_size=k), x)


class GaussianNoise(Augment):
    """Additive Gaussian noise, std uniform in ``sigma`` (fraction of the full range)."""

    def __init__(self, sigma=(0.0, 0.1), p: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.sigma, self.p = _pair(sigma, "sigma", 0.0, 1.0), _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> NoiseParams:
        b = x.shape[0]
        s = uniform(*self.sigma, (b,), generator, x.device) * (rand((b,), generator, x.device) < self.p)
        return NoiseParams(randn(tuple(x.shape), generator, x.device), s)

    def apply_batch(self, x: Tensor, params: NoiseParams) -> Tensor:
        return filters.gaussian_noise(x, params.noise, params.value)


class Cutout(Augment):
    """One ``size`` x ``size`` square (pixels, or a fraction of the shorter side if < 1)."""

    def __init__(self, size: float = 16, fill: float | tuple = 0.0, p: float = 1.0, seed: int = 0) -> None:
        super().__init__(seed)
        self.size = _number(size, "size (pixels, or a fraction of the side if < 1)", 0, MAX_SIDE)
        self.fill, self.p = _check_fill(fill), _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> BoxParams:
        b, _, h, w = x.shape
        side = round(self.size * min(h, w)) if self.size < 1 else int(self.size)
        cy, cx = randint(h, (b,), generator, x.device), randint(w, (b,), generator, x.device)
        on = rand((b,), generator, x.device) < self.p
        half = side // 2
        boxes = torch.stack([cy - half, cx - half, torch.full_like(cy, side), torch.full_like(cx, side)], 1)
        return BoxParams(boxes * on.view(-1, 1))

    def apply_batch(self, x: Tensor, params: BoxParams) -> Tensor:
        return erase.erase(x, params.boxes.long(), _fill_tensor(self.fill, x))


def _fill_tensor(fill: float | Sequence[float], x: Tensor) -> Tensor:
    f = torch.as_tensor(_fill(fill, x), dtype=torch.float32, device=x.device)
    return f.view(1, -1, 1, 1) if f.ndim else f


_ERASE_VALUES = ("pixel", "random", "constant")


class RandomErasing(Augment):
    """Random Erasing: one box per image with probability ``p``; value mode per the paper."""

    def __init__(
        self,
        p: float = 0.5,
        scale=(0.02, 0.4),
        ratio=(0.3, 1 / 0.3),
        value: str | float = "pixel",
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        if isinstance(value, str):
            _choice(value, "value", _ERASE_VALUES)
        else:
            value = _check_fill(value, f"value (one of {_ERASE_VALUES} or a fill)")
        self.p, self.scale, self.ratio = (
            _prob(p),
            _pair(scale, "scale", 0.0, 1.0),
            _pair(ratio, "ratio", 1e-6, 1e6),
        )
        self.value = value

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> BoxParams:
        b, c, h, w = x.shape
        boxes, found = sample_boxes(b, h, w, self.scale, self.ratio, generator, x.device, fallback="none")
        on = (rand((b,), generator, x.device) < self.p) & found
        shape = (
            {"pixel": (b, c, h, w), "random": (b, c, 1, 1)}.get(self.value)
            if isinstance(self.value, str)
            else None
        )
        values = rand(shape, generator, x.device).mul_(bound_of(x)) if shape else None
        if x.dtype == torch.uint8 and values is not None:
            values = values.floor_()
        return BoxParams(boxes * on.view(-1, 1), values)

    def apply_batch(self, x: Tensor, params: BoxParams) -> Tensor:
        values = (
            params.values
            if params.values is not None
            else _fill_tensor(0.0 if self.value == "constant" else self.value, x)
        )
        return erase.erase(x, params.boxes.long(), values)


class HideAndSeek(Augment):
    """Hide each cell of a ``grid`` x ``grid`` partition with probability ``p``."""

    def __init__(self, grid: int = 4, p: float = 0.5, fill: float | tuple = 0.0, seed: int = 0) -> None:
        super().__init__(seed)
        self.grid = _int(grid, "grid (cells per side)", 1, MAX_GRID)
        self.p, self.fill = _prob(p), _check_fill(fill)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> HideParams:
        return HideParams(rand((x.shape[0], self.grid, self.grid), generator, x.device) < self.p)

    def apply_batch(self, x: Tensor, params: HideParams) -> Tensor:
        return erase.hide_and_seek(x, params.hide, _fill(self.fill, x))


class GridMask(Augment):
    """GridMask with unit size d ~ U[d_min, d_max] x shorter side, keep ratio ``ratio``."""

    def __init__(
        self,
        d=(0.3, 0.7),
        ratio: float = 0.6,
        rotate: float = 0.0,
        p: float = 0.8,
        fill: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        self.d, self.ratio = _pair(d, "d", 1e-3, 1.0), _number(ratio, "ratio", 0.0, 1.0)
        self.rotate, self.p, self.fill = (
            _number(rotate, "rotate (degrees)", 0, 360),
            _prob(p),
            _check_fill(fill),
        )

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> GridMaskParams:
        b, _, h, w = x.shape
        side = min(h, w)
        d = (uniform(*self.d, (b,), generator, x.device) * side).round().clamp(min=2)
        off = (rand((b, 2), generator, x.device) * d.view(-1, 1)).floor()
        angle = uniform(-self.rotate, self.rotate, (b,), generator, x.device)
        return GridMaskParams(d.long(), off.long(), angle, rand((b,), generator, x.device) < self.p)

    def apply_batch(self, x: Tensor, params: GridMaskParams) -> Tensor:
        fn = lambda xs, p: erase.gridmask(
            xs, p.d, self.ratio, p.offsets, fill=_fill(self.fill, x), angle=p.angle if self.rotate else None
        )
        return _on_subset(x, params.apply, params, fn)


@dataclass(frozen=True)
class PairParams:
    partner: Tensor  # (B,) index into the batch
    weight: Tensor  # (B,)


class SamplePairing(Augment):
    """Blend each image with a random partner of the same batch (Inoue 2018), label kept."""

    def __init__(self, weight: float = 0.5, p: float = 1.0, seed: int = 0) -> None:
        super().__init__(seed)
        self.weight, self.p = _number(weight, "weight", 0.0, 1.0), _prob(p)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> PairParams:
        b = x.shape[0]
        on = rand((b,), generator, x.device) < self.p
        return PairParams(randint(max(b, 1), (b,), generator, x.device), on.float() * self.weight)

    def apply_batch(self, x: Tensor, params: PairParams) -> Tensor:
        return pairing.sample_pairing(x, x[params.partner], params.weight)


# --- combinators -----------------------------------------------------------------------------


def standard_parts(padding: int = 4, flip: bool = True) -> list[Augment]:
    """The "standard" CIFAR/Fashion-MNIST recipe as a list: pad-and-crop, then horizontal flip."""
    return [PadCrop(padding)] + ([RandomFlip(0.5)] if flip else [])


def standard(padding: int = 4, flip: bool = True, seed: int = 0) -> Compose:
    """The "standard" recipe as one transform (the one definition every strategy builds on)."""
    return Compose(standard_parts(padding, flip), seed=seed)
