"""The op table: every named op a policy or a search can use, as data.

``OPS[name] = OpSpec(kernel, low, high, signed, source, ...)``.  A magnitude ``m`` in
[0, 1] (the papers' 0-10 levels are ``m = level / 10``) maps onto the op's native value::

    delta = m * (high - low)            # truncated toward zero when ``integer``
    value = center + sign * (low + delta)   # sign = +-1 drawn per image when ``signed``

``relative`` ranges are fractions of the image side (width for x-ops, height for y-ops,
the shorter side otherwise), turned into pixels for the image at hand.

Sources
-------
- AutoAugment paper: Cubuk et al., "AutoAugment: Learning Augmentation Policies from Data",
  CVPR 2019, Table 6 (reproduced in ``shared/seeds/000_...``).  Ranges: ShearX/Y [-0.3, 0.3];
  TranslateX/Y [-150, 150] px (for 331 px ImageNet crops, stored as 150/331 of the side);
  Rotate [-30, 30] deg; Solarize threshold [0, 256]; Posterize [4, 8] bits; Contrast, Color,
  Brightness, Sharpness factor [0.1, 1.9]; Cutout [0, 60] px (stored as 60/331 of the side,
  same convention as translate); SamplePairing weight [0, 0.4].
- AutoAugment released code (tensorflow/models research/autoaugment/augmentation_transforms.py,
  written for 32x32 CIFAR), where it differs from the paper, as ``...Code`` variants:
  ``TranslateXCode``/``TranslateYCode`` integer 0-10 px; ``RotateCode`` integer degrees;
  ``PosterizeCode`` keeps ``4 - int(4m)`` bits (0-4, not the paper's 4-8);
  ``CutoutCode`` integer 0-20 px filled with (125, 122, 113).
- Direction choices the paper leaves open: Posterize maps m=0 to 8 bits and m=1 to 4 bits and
  Solarize m=0 to threshold 256 (identity) and m=1 to 0, so that a larger magnitude is always a
  stronger op.  The released code's Solarize does the same (threshold ``256 - int(256 m)``), and
  so does torchvision's AutoAugment (Posterize 8 down to 4 bits, Solarize 255 down to 0).  timm
  (``timm/data/auto_augment.py``) does *not*: its AutoAugment "original" policy uses
  ``PosterizeOriginal``, ``4 + int(4 m)`` bits (m=0 the strongest, m=1 the identity), its default
  ``Posterize`` keeps ``int(4 m)`` bits (TPU EfficientNet code), and its ``Solarize`` threshold is
  ``int(256 m)`` (m=0 inverts every pixel); only its ``...Increasing`` variants (``4 - int(4 m)``
  bits, i.e. our ``PosterizeCode``, and threshold ``256 - int(256 m)``) grow with m; its
  RandAugment uses them only with its ``inc`` option (its AugMix always).  The enhancement ops
  follow paper and code: factor 0.1 + 1.8 m, not signed.
- ``...Signed`` enhancement variants (factor 1 +- 0.9 m) are what RandAugment uses here so its
  single magnitude knob is monotone in strength (torchvision's choice; the TF reference code
  uses the unsigned 0.1-1.9 map).
- ``...Wide`` variants: TrivialAugment (Mueller & Hutter, "TrivialAugment: Tuning-free Yet
  State-of-the-Art Data Augmentation", ICCV 2021), "wide" ranges: shear 0.99, translate 32 px,
  rotate 135 deg, enhancement factor 1 +- 0.99, posterize 8 down to 2 bits, solarize 256 down to 0.
  ``TranslateXWide``/``TranslateYWide`` are *absolute*: ``int(32 m)`` pixels at every image size,
  as the authors' code (automl/trivialaugment ``aug_lib.py``: ``translate=MinMax(0, 32)`` through
  ``int_parameter``, a Pillow affine shift in pixels) and torchvision's TrivialAugmentWide
  (``linspace(0, 32)``, applied as ``int(magnitude)`` pixels).  A shift as wide as the image or
  wider (28 px images) is legal and shows only fill, as there.  ``TranslateXWideRel``/
  ``TranslateYWideRel`` keep the former relative reading (up to 1.0 of the side, equal to the
  absolute one on 32 px CIFAR only), for ``TrivialAugment(translate="relative")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import check_sides
from .ops import color, erase, geometry, pairing
from .ops._common import bound_of, check_image, per_image
from .ops.indexed import INTO, identity_into

__all__ = ["OPS", "OpSpec", "apply_op", "op_value", "value_bounds"]

Kernel = Callable[..., Tensor]


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.  ``kernel(x, value, **kw)`` gets per-image values."""

    kernel: Kernel
    low: float = 0.0
    high: float = 0.0
    signed: bool = False
    source: str = ""
    center: float = 0.0
    relative: str | None = None  # None | "x" | "y" | "min": range is a fraction of that side
    integer: bool = False
    identity_at_zero: bool = True
    aux: tuple[str, ...] = ()  # extra per-image draws a policy must supply ("center", "partner")
    differentiable: bool = False  # float path has useful gradients wrt the image

    @property
    def has_magnitude(self) -> bool:
        return self.low != self.high

    @property
    def into(self) -> Callable[..., bool] | None:
        """The kernel's indexed form (:mod:`augkit.ops.indexed`), when it has one: the adapters
        below attach it, so each row keeps naming one kernel."""
        return getattr(self.kernel, "into", None)


# --- kernel adapters: uniform signature kernel(x, value, fill=, interpolation=, **aux) ------


def _identity(x: Tensor, v: Tensor, **_: object) -> Tensor:
    return x.clone()


_identity.into = identity_into  # type: ignore[attr-defined]


def _with_into(kernel: Kernel, fn: Callable[..., Tensor]) -> Kernel:
    kernel.into = INTO.get(fn)  # type: ignore[attr-defined]
    return kernel


def _no_arg(fn: Callable[[Tensor], Tensor]) -> Kernel:
    return _with_into(lambda x, v, **_: fn(x), fn)


def _one_arg(fn: Callable[[Tensor, Tensor], Tensor]) -> Kernel:
    return _with_into(lambda x, v, **_: fn(x, v), fn)


def _warp(fn: Callable[..., Tensor]) -> Kernel:
    def run(x: Tensor, v: Tensor, fill: float = 128.0, interpolation: str = "nearest", **_: object) -> Tensor:
        return fn(x, v, interpolation=interpolation, fill=_native_fill(fill, x))

    return _with_into(run, fn)


def _solarize(x: Tensor, v: Tensor, **_: object) -> Tensor:
    # the table speaks 8-bit thresholds (0..256); the kernel wants the image's native range
    return color.solarize(x, v * bound_of(x) / 255.0)


_with_into(_solarize, color.solarize)


def _posterize(x: Tensor, v: Tensor, **_: object) -> Tensor:
    return color.posterize(x, v.round().to(torch.int64))


_with_into(_posterize, color.posterize)


def _cutout(x: Tensor, v: Tensor, fill: float = 128.0, center: Tensor | None = None, **_: object) -> Tensor:
    center = _default_center(x) if center is None else center
    return erase.cutout(x, center, v.round().to(torch.int64), _native_fill(fill, x))


def _cutout_code(x: Tensor, v: Tensor, center: Tensor | None = None, **_: object) -> Tensor:
    rgb = (125.0, 122.0, 113.0) if x.shape[1] == 3 else (120.0,) * x.shape[1]
    return _cutout(x, v, fill=rgb, center=center)  # type: ignore[arg-type]


def _sample_pairing(x: Tensor, v: Tensor, partner: Tensor | None = None, **_: object) -> Tensor:
    partner = x.roll(1, 0) if partner is None else partner
    return pairing.sample_pairing(x, partner, v)


def _native_fill(fill: float | tuple[float, ...], x: Tensor) -> float | tuple[float, ...]:
    """Fill values are given on the 8-bit scale everywhere in the table; rescale for float."""
    scale = bound_of(x) / 255.0
    if isinstance(fill, (tuple, list)):
        return tuple(float(f) * scale for f in fill)
    return float(fill) * scale


def _default_center(x: Tensor) -> Tensor:
    b, _, h, w = x.shape
    return torch.tensor([h // 2, w // 2], device=x.device).expand(b, 2)


_PAPER = "AutoAugment paper (Cubuk et al. 2019), Table 6"
_CODE = "AutoAugment released code (tensorflow/models research/autoaugment)"
_TA = "TrivialAugment wide ranges (Mueller & Hutter 2021)"
_TA_PX = _TA + "; int(32 m) px at any size, as automl/trivialaugment aug_lib.py and torchvision"
_TA_REL = _TA + "; relative variant: up to 1.0 of the side (32 px only on 32 px images)"
_RA = "signed enhancement, torchvision-style RandAugment choice"
_ENH = {
    "Brightness": color.brightness,
    "Color": color.color,
    "Contrast": color.contrast,
    "Sharpness": color.sharpness,
}
_DIFF = dict(differentiable=True)

OPS: dict[str, OpSpec] = {
    "Identity": OpSpec(_identity, source="no-op (RandAugment/TrivialAugment op set)", **_DIFF),
    # geometry: paper ranges
    "ShearX": OpSpec(_warp(geometry.shear_x), 0.0, 0.3, True, _PAPER),
    "ShearY": OpSpec(_warp(geometry.shear_y), 0.0, 0.3, True, _PAPER),
    "TranslateX": OpSpec(_warp(geometry.translate_x), 0.0, 150 / 331, True, _PAPER, relative="x"),
    "TranslateY": OpSpec(_warp(geometry.translate_y), 0.0, 150 / 331, True, _PAPER, relative="y"),
    "Rotate": OpSpec(_warp(geometry.rotate), 0.0, 30.0, True, _PAPER),
    # colour: paper ranges
    "AutoContrast": OpSpec(_no_arg(color.autocontrast), source=_PAPER, identity_at_zero=False),
    "Equalize": OpSpec(_no_arg(color.equalize), source=_PAPER, identity_at_zero=False),
    "Invert": OpSpec(_no_arg(color.invert), source=_PAPER, identity_at_zero=False),
    "Solarize": OpSpec(_solarize, 256.0, 0.0, False, _PAPER + "; same map as released code", integer=True),
    "Posterize": OpSpec(_posterize, 8.0, 4.0, False, _PAPER + "; m=0 -> 8 bits", integer=True),
    **{
        n: OpSpec(
            _one_arg(f), 0.1, 1.9, False, _PAPER + "; same as released code", identity_at_zero=False, **_DIFF
        )
        for n, f in _ENH.items()
    },
    "Cutout": OpSpec(
        _cutout, 0.0, 60 / 331, False, _PAPER + "; gray fill", relative="min", integer=True, aux=("center",)
    ),
    "SamplePairing": OpSpec(
        _sample_pairing, 0.0, 0.4, False, _PAPER + "; Inoue 2018", aux=("partner",), **_DIFF
    ),
    # released-code variants
    "TranslateXCode": OpSpec(_warp(geometry.translate_x), 0.0, 10.0, True, _CODE, integer=True),
    "TranslateYCode": OpSpec(_warp(geometry.translate_y), 0.0, 10.0, True, _CODE, integer=True),
    "RotateCode": OpSpec(_warp(geometry.rotate), 0.0, 30.0, True, _CODE, integer=True),
    "PosterizeCode": OpSpec(
        _posterize, 4.0, 0.0, False, _CODE + ": 4 - int(4m) bits", integer=True, identity_at_zero=False
    ),
    "CutoutCode": OpSpec(
        _cutout_code, 0.0, 20.0, False, _CODE + ": fill (125,122,113)", integer=True, aux=("center",)
    ),
    # RandAugment: signed enhancement
    **{n + "Signed": OpSpec(_one_arg(f), 0.0, 0.9, True, _RA, center=1.0, **_DIFF) for n, f in _ENH.items()},
    # TrivialAugment wide
    "ShearXWide": OpSpec(_warp(geometry.shear_x), 0.0, 0.99, True, _TA),
    "ShearYWide": OpSpec(_warp(geometry.shear_y), 0.0, 0.99, True, _TA),
    "TranslateXWide": OpSpec(_warp(geometry.translate_x), 0.0, 32.0, True, _TA_PX, integer=True),
    "TranslateYWide": OpSpec(_warp(geometry.translate_y), 0.0, 32.0, True, _TA_PX, integer=True),
    "TranslateXWideRel": OpSpec(_warp(geometry.translate_x), 0.0, 1.0, True, _TA_REL, relative="x"),
    "TranslateYWideRel": OpSpec(_warp(geometry.translate_y), 0.0, 1.0, True, _TA_REL, relative="y"),
    "RotateWide": OpSpec(_warp(geometry.rotate), 0.0, 135.0, True, _TA),
    "PosterizeWide": OpSpec(_posterize, 8.0, 2.0, False, _TA, integer=True),
    **{n + "Wide": OpSpec(_one_arg(f), 0.0, 0.99, True, _TA, center=1.0, **_DIFF) for n, f in _ENH.items()},
}

_SIDE = {"x": lambda h, w: w, "y": lambda h, w: h, "min": lambda h, w: min(h, w)}


def _spec(name: str) -> OpSpec:
    if not isinstance(name, str) or name not in OPS:
        raise ValueError(f"op name {name!r} is unknown; valid names: {', '.join(sorted(OPS))}")
    return OPS[name]


def _side_scale(spec: OpSpec, h: int, w: int) -> float:
    return float(_SIDE[spec.relative](h, w)) if spec.relative else 1.0


def op_value(name: str, magnitude: Tensor, sign: Tensor | None, h: int, w: int) -> Tensor:
    """Map magnitudes in [0, 1] (and signs +-1) to native values for an ``h x w`` image."""
    spec = _spec(name)
    scale = _side_scale(spec, h, w)
    delta = magnitude.to(torch.float32) * ((spec.high - spec.low) * scale)
    if spec.integer:
        delta = delta.trunc()
    value = spec.low * scale + delta
    if spec.signed and sign is not None:
        value = value * sign.to(value.dtype)
    return value + spec.center


def value_bounds(name: str, h: int, w: int) -> tuple[float, float]:
    """The closed interval of native values ``apply_op`` accepts for ``name``."""
    spec = _spec(name)
    scale = _side_scale(spec, h, w)
    lo, hi = sorted((spec.low * scale, spec.high * scale))
    if spec.signed:
        lo = -hi
    return lo + spec.center, hi + spec.center


def _real(t: Tensor) -> bool:
    return t.dtype != torch.bool and not t.dtype.is_complex


def _check_op_kwargs(x: Tensor, kwargs: dict) -> None:
    """The keywords ``apply_op`` documents, each of the documented kind (kernels ignore others)."""
    b, c = x.shape[:2]
    unknown = sorted(set(kwargs) - {"fill", "interpolation", "center", "partner"})
    if unknown:
        raise TypeError(
            f"apply_op got unexpected keyword(s) {unknown}; accepted: fill, interpolation, center, partner"
        )
    fill = kwargs.get("fill", 128.0)
    is_num = lambda f: isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 255  # noqa: E731
    if not (is_num(fill) or (isinstance(fill, (tuple, list)) and len(fill) == c and all(map(is_num, fill)))):
        raise ValueError(
            f"fill must be a number or {c} per-channel numbers in [0, 255] (8-bit scale), got {fill!r}"
        )
    if kwargs.get("interpolation", "nearest") not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {kwargs['interpolation']!r}")
    center = kwargs.get("center")
    if center is not None and not (
        isinstance(center, Tensor)
        and center.shape == (b, 2)
        and not center.dtype.is_floating_point
        and _real(center)
    ):
        raise ValueError(f"center must be an integer tensor of shape ({b}, 2) (row, col), got {center!r}")
    partner = kwargs.get("partner")
    if partner is not None and not (isinstance(partner, Tensor) and partner.shape == x.shape):
        raise ValueError(f"partner must be a tensor of the images' shape {tuple(x.shape)}, got {partner!r}")


def apply_op(x: Tensor, name: str, value: float | Tensor = 0.0, **kwargs: object) -> Tensor:
    """Apply op ``name`` to every image of ``x`` with ``value`` in the op's native unit.

    ``value`` (degrees, pixels, enhancement factor, bits, 8-bit threshold, weight; sign
    included) is a scalar or a ``(B,)`` tensor.  Extra keywords: ``fill`` (8-bit scale,
    default 128), ``interpolation`` ("nearest" default, as Pillow), ``center`` ((B, 2) for
    Cutout, default the image centre), ``partner`` (images for SamplePairing, default the
    batch rolled by one).  Accepts a single ``(C, H, W)`` image too.  Any other keyword is a
    ``TypeError`` (the kernels would silently ignore a typo such as ``interpolaton=``); images
    need C, H, W >= 1 (an empty batch is fine).
    """
    spec = _spec(name)
    single = isinstance(x, Tensor) and x.ndim == 3
    xb = x.unsqueeze(0) if single else x
    check_image(xb)
    check_sides(xb)
    _check_op_kwargs(xb, kwargs)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number and not (isinstance(value, Tensor) and _real(value) and value.ndim <= 1):
        raise TypeError(f"value for op {name!r} must be a number or a (B,) real tensor, got {value!r}")
    v = per_image(value, xb)
    if spec.has_magnitude and v.numel():
        lo, hi = value_bounds(name, xb.shape[-2], xb.shape[-1])
        bad = (v < lo - 1e-6) | (v > hi + 1e-6) | torch.isnan(v)
        if bool(bad.any()):
            raise ValueError(f"value for op {name!r} must lie in [{lo:g}, {hi:g}], got {v[bad][0].item():g}")
    if xb.shape[0] == 0:
        return x.clone()
    out = spec.kernel(xb, v, **kwargs)
    return out[0] if single else out
