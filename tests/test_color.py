"""Tests for augkit.ops.color: Pillow equivalence on real photos, identities, batching, dtypes, grads."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from skimage import data

from augkit.ops import color as C

SIZE = 64
FACTORS = (0.1, 0.5, 1.3, 1.9)
ENHANCERS = {
    "brightness": (C.brightness, ImageEnhance.Brightness),
    "contrast": (C.contrast, ImageEnhance.Contrast),
    "color": (C.color, ImageEnhance.Color),
    "sharpness": (C.sharpness, ImageEnhance.Sharpness),
}
# Per-image parameters for each op with one: (uint8 values, float values), three images.
PARAMS = {
    "brightness": ([0.1, 1.3, 1.9], [0.1, 1.3, 1.9]),
    "contrast": ([0.1, 1.3, 1.9], [0.1, 1.3, 1.9]),
    "color": ([0.1, 0.5, 1.9], [0.1, 0.5, 1.9]),
    "sharpness": ([0.1, 1.3, 1.9], [0.1, 1.3, 1.9]),
    "hue": ([-0.4, 0.1, 0.5], [-0.4, 0.1, 0.5]),
    "solarize": ([0, 128, 200], [0.0, 128 / 255, 200 / 255]),
    "posterize": ([1, 4, 8], [1, 4, 8]),
}
NO_PARAM = ("autocontrast", "equalize", "invert", "grayscale")
ALL_OPS = tuple(PARAMS) + NO_PARAM
# uint8 vs float (x / 255) agreement, in 8-bit levels: 0 = identical after rounding.
AGREE_LEVELS = {name: 1.0 for name in ALL_OPS} | {"equalize": 0, "invert": 0, "solarize": 0, "posterize": 0}


def _call(name: str, x: torch.Tensor, param=None) -> torch.Tensor:
    fn = getattr(C, name)
    return fn(x) if name in NO_PARAM else fn(x, param)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Three real photos, resized with Pillow to SIZE x SIZE RGB uint8."""
    names = ("astronaut", "chelsea", "coffee")
    return [
        np.asarray(Image.fromarray(getattr(data, n)()).resize((SIZE, SIZE), Image.BILINEAR)) for n in names
    ]


def _low_contrast(a: np.ndarray) -> np.ndarray:
    """Squeeze each channel into a different narrow range so autocontrast/equalize have work to do."""
    scale, offset = np.array([100, 150, 60]), np.array([30, 60, 120])
    if a.ndim == 2:
        scale, offset = scale[0], offset[0]
    return (a.astype(np.int64) * scale // 255 + offset).astype(np.uint8)


def _gray(arrs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(Image.fromarray(a).convert("L")) for a in arrs]


def _to_batch(arrs: list[np.ndarray]) -> torch.Tensor:
    t = torch.from_numpy(np.stack(arrs))
    return (t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)).contiguous()


def _to_arrays(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) uint8 tensor -> (B, H, W[, C]) int64 array, Pillow layout."""
    a = x.permute(0, 2, 3, 1).numpy().astype(np.int64)
    return a[..., 0] if a.shape[-1] == 1 else a


def _pillow(arrs: list[np.ndarray], fn) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(a))) for a in arrs]).astype(np.int64)


def _images(photos: list[np.ndarray], mode: str, low: bool = False) -> list[np.ndarray]:
    arrs = _gray(photos) if mode == "L" else photos
    return [_low_contrast(a) for a in arrs] if low else arrs


# ----------------------------------------------------------------------------- Pillow equivalence


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("name", list(ENHANCERS))
def test_blend_ops_match_pillow(photos, name, mode):
    """Pillow's Image.blend truncates, augkit rounds: every pixel is Pillow's value or one above."""
    kernel, enhancer = ENHANCERS[name]
    arrs = _images(photos, mode)
    x = _to_batch(arrs)
    for factor in FACTORS:
        diff = _to_arrays(kernel(x, factor)) - _pillow(arrs, lambda im, f=factor: enhancer(im).enhance(f))
        assert diff.min() >= 0 and diff.max() <= 1, (name, mode, factor, diff.min(), diff.max())
        assert (diff == 1).mean() <= 0.6, (name, mode, factor, (diff == 1).mean())
    # per-image factors in one call match Pillow with each image's own factor
    factors = FACTORS[: len(arrs)]
    out = _to_arrays(kernel(x, torch.tensor(factors)))
    pairs = zip(arrs, factors, strict=True)
    ref = np.stack([np.asarray(enhancer(Image.fromarray(a)).enhance(f)) for a, f in pairs])
    diff = out - ref
    assert diff.min() >= 0 and diff.max() <= 1


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("low", [False, True])
def test_lut_ops_match_pillow(photos, mode, low):
    arrs = _images(photos, mode, low)
    x = _to_batch(arrs)
    np.testing.assert_array_equal(_to_arrays(C.invert(x)), _pillow(arrs, ImageOps.invert))
    np.testing.assert_array_equal(_to_arrays(C.equalize(x)), _pillow(arrs, ImageOps.equalize))
    for threshold in (0, 1, 64, 128, 200, 255, 256):
        ref = _pillow(arrs, lambda im, t=threshold: ImageOps.solarize(im, t))
        np.testing.assert_array_equal(_to_arrays(C.solarize(x, threshold)), ref, err_msg=str(threshold))
    for bits in range(1, 9):
        ref = _pillow(arrs, lambda im, b=bits: ImageOps.posterize(im, b))
        np.testing.assert_array_equal(_to_arrays(C.posterize(x, bits)), ref, err_msg=str(bits))
    # autocontrast: Pillow truncates int(v * scale + offset), augkit rounds -> Pillow's value or one above
    diff = _to_arrays(C.autocontrast(x)) - _pillow(arrs, ImageOps.autocontrast)
    assert diff.min() >= 0 and diff.max() <= 1
    if low:  # the stretch really happened
        assert (_to_arrays(C.autocontrast(x)).reshape(len(arrs), -1).max(axis=1) == 255).all()


def test_equalize_and_autocontrast_edge_cases_match_pillow():
    """Constant image, step == 0 (identity), one constant channel, two-level image."""
    rng = np.random.default_rng(0)
    const = np.full((SIZE, SIZE, 3), 77, np.uint8)
    step0 = np.full((SIZE, SIZE, 3), 200, np.uint8)
    step0.reshape(-1, 3)[:200] = 10  # total - last bin count = 200 < 255 -> step 0
    onechan = rng.integers(40, 90, (SIZE, SIZE, 3), dtype=np.uint8)
    onechan[..., 1] = 123
    two = np.where(rng.random((SIZE, SIZE, 1)) < 0.3, 50, 180).repeat(3, axis=2).astype(np.uint8)
    arrs = [const, step0, onechan, two]
    x = _to_batch(arrs)
    eq = _to_arrays(C.equalize(x))
    np.testing.assert_array_equal(eq, _pillow(arrs, ImageOps.equalize))
    np.testing.assert_array_equal(eq[1], step0)
    ac = _to_arrays(C.autocontrast(x))
    diff = ac - _pillow(arrs, ImageOps.autocontrast)
    assert diff.min() >= 0 and diff.max() <= 1
    np.testing.assert_array_equal(ac[0], const)
    np.testing.assert_array_equal(ac[2][..., 1], onechan[..., 1])
    assert set(np.unique(ac[3])) == {0, 255}


def test_grayscale_matches_pillow(photos):
    x = _to_batch(photos)
    g = C.grayscale(x)
    assert g.shape == x.shape and g.dtype == torch.uint8
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 0], g[:, 2])
    np.testing.assert_array_equal(g[:, 0].numpy(), np.stack(_gray(photos)))
    gray = _to_batch(_gray(photos))
    assert torch.equal(C.grayscale(gray), gray)
    # float: same weights, unrounded -> within half a level
    gf = C.grayscale(x.double() / 255)
    assert (gf * 255 - g.double()).abs().max() <= 0.5 + 1e-9


@pytest.mark.parametrize("shift", [-0.5, -0.3, 0.25, 0.5, 0.9])
def test_hue_matches_colorsys(photos, shift):
    x = _to_batch(photos)[:, :, :8, :8]
    xf = x.double() / 255
    ref = torch.empty_like(xf)
    for b in range(x.shape[0]):
        for i in range(8):
            for j in range(8):
                h, s, v = colorsys.rgb_to_hsv(*xf[b, :, i, j].tolist())
                rgb = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
                ref[b, :, i, j] = torch.tensor(rgb, dtype=torch.float64)
    torch.testing.assert_close(C.hue(xf, shift), ref, atol=1e-9, rtol=0)
    assert (C.hue(x, shift).double() - ref * 255).abs().max() <= 0.5 + 1e-6


# ----------------------------------------------------------------------------- identities


@pytest.mark.parametrize("name", list(ENHANCERS))
def test_factor_one_is_identity(photos, name):
    x = _to_batch(photos)
    assert torch.equal(getattr(C, name)(x, 1.0), x)
    xf = x.float() / 255
    assert torch.equal(getattr(C, name)(xf, 1.0), xf)
    gray = _to_batch(_gray(photos))
    assert torch.equal(getattr(C, name)(gray, 1.0), gray)


def test_hue_zero_and_full_turn_are_identity(photos):
    x = _to_batch(photos)
    xf = x.float() / 255
    for shift in (0.0, 1.0, -1.0):
        assert torch.equal(C.hue(x, shift), x), shift
        torch.testing.assert_close(C.hue(xf, shift), xf, atol=1e-5, rtol=0)
    # two quarter turns make a half turn
    torch.testing.assert_close(C.hue(C.hue(xf, 0.25), 0.25), C.hue(xf, 0.5), atol=1e-5, rtol=0)
    assert not torch.equal(C.hue(x, 0.25), x)


def test_single_channel_color_and_hue_are_identity(photos):
    gray = _to_batch(_gray(photos))
    assert torch.equal(C.color(gray, torch.tensor([0.0, 0.5, 1.9])), gray)
    assert torch.equal(C.hue(gray, 0.3), gray)


def test_parameter_identities(photos):
    x = _to_batch(photos)
    assert torch.equal(C.solarize(x, 256), x)
    assert torch.equal(C.solarize(x, 0), 255 - x)
    assert torch.equal(C.posterize(x, 8), x)
    assert torch.equal(C.posterize(x, 0), torch.zeros_like(x))
    assert torch.equal(C.invert(C.invert(x)), x)
    assert torch.equal(C.brightness(x, 0.0), torch.zeros_like(x))


# ----------------------------------------------------------------------------- batching and dtypes


@pytest.mark.parametrize("name", ALL_OPS)
@pytest.mark.parametrize("kind", ["uint8", "float"])
def test_batch_equals_per_image_calls(photos, name, kind):
    x = _to_batch(photos)
    if kind == "float":
        x = x.float() / 255
    p = torch.tensor(PARAMS[name][kind == "float"]) if name in PARAMS else None
    batched = _call(name, x, p)
    singles = torch.cat([_call(name, x[i : i + 1], None if p is None else p[i]) for i in range(len(x))])
    assert torch.equal(batched, singles)


@pytest.mark.parametrize("name", ALL_OPS)
def test_uint8_and_float_agree(photos, name):
    x = _to_batch(photos)
    pu, pf = (torch.tensor(v) for v in PARAMS[name]) if name in PARAMS else (None, None)
    out_u = _call(name, x, pu).double()
    out_f = _call(name, x.float() / 255, pf).double() * 255
    levels = AGREE_LEVELS[name]
    if levels == 0:
        assert torch.equal(out_f.round(), out_u)
    else:
        assert (out_f - out_u).abs().max() <= levels + 1e-3


@pytest.mark.parametrize("name", ["equalize", "posterize"])
def test_float_quantisation_rounds_to_nearest_level(photos, name):
    """Float input within 0.4 level of u / 255 (or out of range) is treated as the level u."""
    x = _to_batch(photos)
    g = torch.Generator().manual_seed(1)
    jitter = (torch.rand(x.shape, generator=g, dtype=torch.float64) - 0.5) * 0.8
    xf = (x.double() + jitter) / 255
    xf[x == 0] = -0.3  # out of range below and above clamps to the end levels
    xf[x == 255] = 1.2
    p = torch.tensor(PARAMS[name][0]) if name in PARAMS else None
    assert torch.equal((_call(name, xf, p) * 255).round(), _call(name, x, p).double())


@pytest.mark.parametrize("name", ALL_OPS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_empty_batch_not_mutated_and_dtype_kept(photos, name, dtype):
    x = _to_batch(photos)
    if dtype != torch.uint8:
        x = x.to(dtype) / 255
    p = torch.tensor(PARAMS[name][dtype != torch.uint8]) if name in PARAMS else None
    before = x.clone()
    out = _call(name, x, p)
    assert torch.equal(x, before)
    assert out.dtype == dtype and out.shape == x.shape and out.data_ptr() != x.data_ptr()
    empty = x[:0]
    out = _call(name, empty, None if p is None else p[:0])
    assert out.shape == empty.shape and out.dtype == dtype
    scalar = None if p is None else p[0].item()
    assert _call(name, empty, scalar).shape == empty.shape


def test_tiny_images_sharpness_is_identity():
    x = torch.randint(0, 256, (2, 3, 2, 5), dtype=torch.uint8)
    assert torch.equal(C.sharpness(x, 1.9), x)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", ["brightness", "contrast", "color", "sharpness", "hue"])
def test_gradcheck_image_and_parameter(name):
    g = torch.Generator().manual_seed(0)
    x = (0.05 + 0.9 * torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    p = torch.tensor([0.1, -0.3] if name == "hue" else [0.6, 1.4], dtype=torch.float64, requires_grad=True)
    fn = getattr(C, name)
    assert torch.autograd.gradcheck(fn, (x, p))
    assert torch.autograd.gradcheck(lambda img: fn(img, 0.7), (x,))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ALL_OPS)
def test_bad_images_raise(name):
    p = PARAMS[name][0][0] if name in PARAMS else None
    with pytest.raises(ValueError, match="x must have shape"):
        _call(name, torch.zeros(3, 8, 8, dtype=torch.uint8), p)
    with pytest.raises(TypeError, match="uint8 or floating"):
        _call(name, torch.zeros(1, 3, 8, 8, dtype=torch.int32), p)
    with pytest.raises(TypeError, match="torch.Tensor"):
        _call(name, np.zeros((1, 3, 8, 8), np.uint8), p)


@pytest.mark.parametrize("name", ["contrast", "color", "hue", "grayscale"])
def test_luminance_ops_need_one_or_three_channels(name):
    p = PARAMS[name][0][0] if name in PARAMS else None
    with pytest.raises(ValueError, match="1 or 3 channels"):
        _call(name, torch.zeros(1, 2, 8, 8), p)


@pytest.mark.parametrize("name", list(PARAMS))
def test_bad_parameter_shape_raises(name):
    x = torch.zeros(3, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="shape"):
        _call(name, x, torch.ones(2))
    with pytest.raises(ValueError, match="shape"):
        _call(name, x, torch.ones(3, 2))


@pytest.mark.parametrize("bits", [9, -1, 2.5, [1, 4, 8.5]])
def test_posterize_rejects_bad_bits(bits):
    bits = torch.tensor(bits) if isinstance(bits, list) else bits
    with pytest.raises(ValueError, match="bits"):
        C.posterize(torch.zeros(3, 3, 8, 8, dtype=torch.uint8), bits)


# ----------------------------------------------------------------------------- device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ALL_OPS)
def test_cuda_matches_cpu(photos, name):
    x = _to_batch(photos)
    p = torch.tensor(PARAMS[name][0]) if name in PARAMS else None
    out = _call(name, x.cuda(), p)  # parameter left on the CPU on purpose: the kernel moves it
    assert out.device.type == "cuda"
    assert (out.cpu().int() - _call(name, x, p).int()).abs().max() <= (0 if name in NO_PARAM else 1)
    xf = x.float() / 255
    pf = torch.tensor(PARAMS[name][1]) if name in PARAMS else None
    torch.testing.assert_close(_call(name, xf.cuda(), pf).cpu(), _call(name, xf, pf), atol=1e-5, rtol=0)
