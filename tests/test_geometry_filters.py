"""Tests for augkit.ops.geometry and augkit.ops.filters.

Reference tolerances (real photos from scikit-image, resized to 64x64 with Pillow):
* nearest shear / translate / rotate vs Pillow ``transform(AFFINE, NEAREST)`` / ``rotate``:
  bit-identical (the kernel reproduces Pillow's 16.16 fixed-point index rule), incl. fill colour.
* bilinear vs Pillow BILINEAR: mean |diff| <= 2 levels over the whole image (the outer half
  pixel is blended towards the fill by design, Pillow cuts hard), and <= 1 level (Pillow
  truncates, we round) wherever the sample footprint lies inside the image.
* Pillow ``resize(NEAREST, box)``: identical when no sample falls exactly on a pixel border
  (odd box sizes); Pillow breaks such ties by accumulated float error, we by the exact floor.
* BLUR / SMOOTH vs Pillow: <= 1 level (Pillow rounds ties up, we round half to even).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from augkit.ops import filters as flt
from augkit.ops import geometry as geo


@functools.cache
def _photo(name: str, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """(H, W, 3) uint8; size is Pillow's (width, height)."""
    return np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize(size, Image.BILINEAR)).copy()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].contiguous()


def _np(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).numpy().astype(np.int64)


def _batch(n: int = 3, size: tuple[int, int] = (32, 32)) -> torch.Tensor:
    names = ["astronaut", "chelsea", "coffee"]
    return torch.cat([_t(_photo(names[i % 3], size)) for i in range(n)])


PHOTOS = ["astronaut", "chelsea"]
AFFINE_CASES = [
    (geo.shear_x, 0.3, (1, 0.3, 0, 0, 1, 0)),
    (geo.shear_x, -0.17, (1, -0.17, 0, 0, 1, 0)),
    (geo.shear_y, 0.3, (1, 0, 0, 0.3, 1, 0)),
    (geo.shear_y, -0.1, (1, 0, 0, -0.1, 1, 0)),
    (geo.translate_x, 7, (1, 0, 7, 0, 1, 0)),
    (geo.translate_x, -4.5, (1, 0, -4.5, 0, 1, 0)),
    (geo.translate_y, 6, (1, 0, 0, 0, 1, 6)),
    (geo.translate_y, -2.3, (1, 0, 0, 0, 1, -2.3)),
]


# ----------------------------------------------------------------------------- Pillow equivalence


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize(("op", "value", "data"), AFFINE_CASES)
def test_affine_ops_match_pillow_nearest(photo, op, value, data):
    a = _photo(photo)
    ref = np.asarray(Image.fromarray(a).transform((64, 64), Image.AFFINE, data, resample=Image.NEAREST))
    np.testing.assert_array_equal(_np(op(_t(a), value)), ref)


@pytest.mark.parametrize("size", [(64, 64), (64, 48)])
@pytest.mark.parametrize("degrees", [30.0, -17.5, 45.0, 90.0, 180.0, 270.0, 12.3])
def test_rotate_matches_pillow_nearest(size, degrees):
    a = _photo("chelsea", size)
    ref = np.asarray(Image.fromarray(a).rotate(degrees))
    np.testing.assert_array_equal(_np(geo.rotate(_t(a), degrees)), ref)


def test_fill_colour_matches_pillow_nearest():
    a = _photo("astronaut")
    fill = (10, 200, 30)
    ref = np.asarray(Image.fromarray(a).rotate(33, fillcolor=fill))
    out = _np(geo.rotate(_t(a), 33, fill=fill))
    np.testing.assert_array_equal(out, ref)
    assert (out == fill).all(-1).mean() > 0.1  # the fill is really exercised


def _interior(matrix: tuple[float, ...], h: int, w: int) -> np.ndarray:
    """Output pixels whose bilinear footprint lies inside the image (no clamping, no fill)."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    a, b, c, d, e, f = matrix
    u, v = a * xs + b * ys + c, d * xs + e * ys + f
    return (u >= 0.5) & (u <= w - 0.5) & (v >= 0.5) & (v <= h - 0.5)


def _pillow_rotate_matrix(degrees: float, w: int, h: int) -> tuple[float, ...]:
    t = -np.deg2rad(degrees)
    cos, sin = np.cos(t), np.sin(t)
    return (cos, sin, w / 2 - cos * w / 2 - sin * h / 2, -sin, cos, h / 2 + sin * w / 2 - cos * h / 2)


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("case", ["rotate", "shear_x", "translate_y"])
def test_bilinear_close_to_pillow(photo, case):
    a = _photo(photo)
    pil, x = Image.fromarray(a), _t(a)
    if case == "rotate":
        matrix = _pillow_rotate_matrix(23.0, 64, 64)
        out, ref = geo.rotate(x, 23.0, "bilinear"), pil.rotate(23.0, resample=Image.BILINEAR)
    elif case == "shear_x":
        matrix = (1, 0.3, 0, 0, 1, 0)
        out = geo.shear_x(x, 0.3, "bilinear")
        ref = pil.transform((64, 64), Image.AFFINE, matrix, resample=Image.BILINEAR)
    else:
        matrix = (1, 0, 0, 0, 1, -3.4)
        out = geo.translate_y(x, -3.4, "bilinear")
        ref = pil.transform((64, 64), Image.AFFINE, matrix, resample=Image.BILINEAR)
    diff = np.abs(_np(out) - np.asarray(ref).astype(np.int64))
    assert diff.mean() <= 2.0
    inside = _interior(matrix, 64, 64)
    assert inside.mean() > 0.6
    assert diff[inside].max() <= 1


def test_resized_crop_matches_pillow_resize():
    a = _photo("coffee")
    x, pil = _t(a), Image.fromarray(a)
    # odd box sizes: no sample lies exactly on a pixel border (see module docstring)
    box = torch.tensor([[7.0, 5.0, 31.0, 41.0]])  # top, left, height, width
    pil_box = (5, 7, 46, 38)  # left, top, right, bottom
    ref = np.asarray(pil.resize((50, 30), Image.NEAREST, box=pil_box))
    np.testing.assert_array_equal(_np(geo.resized_crop(x, box, (30, 50), "nearest")), ref)
    # upscaling: Pillow's BILINEAR resize is plain bilinear with edge clamping there
    ref = np.asarray(pil.resize((50, 40), Image.BILINEAR, box=pil_box)).astype(np.int64)
    assert np.abs(_np(geo.resized_crop(x, box, (40, 50))) - ref).max() <= 1


@pytest.mark.parametrize(("op", "name"), [(flt.box_blur, "BLUR"), (flt.smooth, "SMOOTH")])
def test_pillow_filters(op, name):
    a = _photo("astronaut")
    ref = np.asarray(Image.fromarray(a).filter(getattr(ImageFilter, name))).astype(np.int64)
    diff = np.abs(_np(op(_t(a))) - ref)
    assert diff.max() <= 1
    assert (diff == 0).mean() >= 0.95


# ----------------------------------------------------------------------------- exact references


def test_flips_exact():
    x = _batch(2)
    np.testing.assert_array_equal(geo.hflip(x).numpy(), x.numpy()[..., ::-1])
    np.testing.assert_array_equal(geo.vflip(x).numpy(), x.numpy()[..., ::-1, :])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize(
    ("mode", "torch_mode"), [("constant", "constant"), ("reflect", "reflect"), ("edge", "replicate")]
)
def test_pad_crop_matches_pad_and_slice(mode, torch_mode, dtype):
    x = _batch(6)
    x = x if dtype == torch.uint8 else x.float() / 255
    p = 4
    g = torch.Generator().manual_seed(0)
    offsets = torch.randint(0, 2 * p + 1, (6, 2), generator=g)
    offsets[0] = torch.tensor([0, 2 * p])  # both extremes are exercised
    offsets[1] = torch.tensor([2 * p, 0])
    fill = 7 if dtype == torch.uint8 else 0.25
    out = geo.pad_crop(x, offsets, p, fill=fill, mode=mode)
    kwargs = {"value": fill} if mode == "constant" else {}
    padded = F.pad(x, (p, p, p, p), mode=torch_mode, **kwargs)
    ref = torch.stack([padded[b, :, t : t + 32, s : s + 32] for b, (t, s) in enumerate(offsets.tolist())])
    assert out.dtype == x.dtype
    assert torch.equal(out, ref)


def test_pad_crop_per_channel_fill_and_large_reflect():
    x = _batch(3, (12, 10))  # H=10, W=12
    offsets = torch.tensor([[0, 0], [13, 5], [26, 26]])
    out = geo.pad_crop(x, offsets, 13, mode="reflect")  # padding > image size: repeated mirroring
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (13, 13), (13, 13)), mode="reflect")
    for b, (t, s) in enumerate(offsets.tolist()):
        np.testing.assert_array_equal(out[b].numpy(), padded[b, :, t : t + 10, s : s + 12])
    out = geo.pad_crop(x, offsets, 13, fill=5)  # constant mode, padding > image size
    padded = F.pad(x, (13, 13, 13, 13), value=5)
    ref = torch.stack([padded[b, :, t : t + 10, s : s + 12] for b, (t, s) in enumerate(offsets.tolist())])
    assert torch.equal(out, ref)
    fill = torch.tensor([1.0, 2.0, 3.0])
    out = geo.pad_crop(x, offsets.clamp(max=8), 4, fill=fill)
    assert out[2, :, -1, -1].tolist() == [1, 2, 3]  # offset (8, 8): bottom-right pixel is padding
    assert torch.equal(out[0, :, 4:, 4:], x[0, :, :6, :8])


def test_resized_crop_identity_and_interpolate():
    x = _batch(2)
    full = torch.tensor([[0.0, 0.0, 32.0, 32.0]] * 2)
    assert torch.equal(geo.resized_crop(x, full, 32), x)
    assert torch.equal(geo.resized_crop(x, full, 32, "nearest"), x)
    xf = x.double() / 255
    torch.testing.assert_close(geo.resized_crop(xf, full, (32, 32)), xf, atol=1e-9, rtol=0)
    # integer box vs crop + F.interpolate (bilinear, align_corners=False, no antialias), up and down.
    # Like Pillow's resize(box=...), samples within half a pixel of the box edge also see the pixels
    # just outside the box, where crop-then-resize clamps to the crop: compare the other samples.
    top, left, h, w = 3, 5, 20, 24
    box = torch.tensor([[top, left, h, w]] * 2, dtype=torch.float64)
    crop = xf[:, :, top : top + h, left : left + w]
    for size in [(40, 36), (9, 13)]:
        ref = F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=False)
        out = geo.resized_crop(xf, box, size)
        ys = (torch.arange(size[0]) + 0.5) * h / size[0]
        xs = (torch.arange(size[1]) + 0.5) * w / size[1]
        inside = ((ys >= 0.5) & (ys <= h - 0.5))[:, None] & ((xs >= 0.5) & (xs <= w - 0.5))[None, :]
        assert inside.float().mean() > 0.8
        torch.testing.assert_close(out[..., inside], ref[..., inside], atol=1e-9, rtol=0)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_warp_identity_and_elastic_zero_noise(interpolation):
    x = _batch(2)
    eye = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    noise = torch.zeros(2, 2, 32, 32)
    for img in (x, x.float() / 255):
        assert torch.equal(geo.warp_affine(img, eye, interpolation), img)
        out = geo.elastic(img, noise, 30.0, 4.0, interpolation)
        torch.testing.assert_close(out, img, atol=1e-6, rtol=0)
        if img.dtype == torch.uint8:
            assert torch.equal(out, img)


def test_elastic_matches_scipy_smoothing_and_translation():
    x = _batch(2).double() / 255
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(2, 2, 32, 32, generator=g, dtype=torch.float64) * 2 - 1
    alpha, sigma = torch.tensor([8.0, 20.0], dtype=torch.float64), 3.0
    smoothed = ndi.gaussian_filter(noise.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=4.0)
    flow = alpha.view(2, 1, 1, 1) * torch.from_numpy(smoothed)
    torch.testing.assert_close(geo.elastic(x, noise, alpha, sigma), geo.warp_flow(x, flow), atol=1e-9, rtol=0)
    # a constant field survives smoothing: the warp is a translation by alpha * c pixels
    const = torch.zeros(2, 2, 32, 32, dtype=torch.float64)
    const[:, 0] = 0.5
    torch.testing.assert_close(
        geo.elastic(x, const, 5.0, 2.0), geo.translate_x(x, 2.5, "bilinear"), atol=1e-9, rtol=0
    )


def test_fill_is_exact_and_blends_consistently():
    x = _batch(2).float() / 255
    away = torch.tensor([[1.0, 0, 100], [0, 1, 0]])  # samples far outside the image
    out = geo.warp_affine(x, away, "nearest", fill=0.3)
    assert (out == torch.tensor(0.3)).all()
    out = geo.warp_affine(x, away, "nearest", fill=torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    assert (out[1, 2] == torch.tensor(0.6)).all()
    # bilinear blends towards fill: a constant image filled with its own colour stays constant
    flat = torch.full((1, 3, 16, 16), 0.4)
    torch.testing.assert_close(geo.rotate(flat, 37.0, "bilinear", fill=0.4), flat, atol=1e-6, rtol=0)
    u8 = torch.full((1, 3, 16, 16), 90, dtype=torch.uint8)
    assert torch.equal(geo.shear_x(u8, 0.4, "bilinear", fill=(90, 90, 90)), u8)


def test_shear_pivots_on_top_left_corner_as_documented():
    """Shear pivots on the top-left corner (AutoAugment code; torchvision passes ``center=[0, 0]``).

    A centred shear would move the top and bottom rows by the same amount in opposite directions;
    this one leaves the top row in place and moves row ``y`` by about ``v * y`` pixels.
    """
    x = _batch(1, (48, 48))
    v = 0.25
    out = geo.shear_x(x, v)
    assert torch.equal(out[..., 0, :], x[..., 0, :])  # top row: shift 0.5 v < half a pixel
    shift = int(0.5 + (47 + 0.5) * v)  # bottom row: pixel i samples floor(i + 0.5 + v (y + 0.5))
    assert shift == 12 and torch.equal(out[..., -1, : 48 - shift], x[..., -1, shift:])
    outy = geo.shear_y(x, v)
    assert torch.equal(outy[..., :, 0], x[..., :, 0])  # left column stays


def test_scale_zooms_about_centre():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 3:5, 3:5] = 1.0  # centred 2x2 square
    out = geo.scale(x, 2.0)
    assert torch.equal(out[0, 0, 2:6, 2:6], torch.ones(4, 4))
    assert out.sum() == 16
    assert geo.scale(x, 0.5).sum() == 1


def test_gaussian_blur_references():
    x = _batch(2).float() / 255
    assert torch.equal(flt.gaussian_blur(x, 0.0), x)
    u8 = _batch(2)
    assert torch.equal(flt.gaussian_blur(u8, torch.tensor([0.0, 0.0])), u8)
    flat = torch.full((2, 3, 9, 7), 0.37)
    torch.testing.assert_close(flt.gaussian_blur(flat, torch.tensor([1.0, 6.0])), flat, atol=1e-6, rtol=0)
    # scipy 'mirror' == torch 'reflect'; truncate chosen so both use radius 5
    xd = x.double()
    out = flt.gaussian_blur(xd, 1.5, kernel_size=11)
    ref = ndi.gaussian_filter(xd.numpy(), sigma=(0, 0, 1.5, 1.5), mode="mirror", truncate=5 / 1.5)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)
    # radius 9 > image height 7: repeated mirroring, as scipy does
    small = torch.rand(2, 3, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    ref = ndi.gaussian_filter(small.numpy(), sigma=(0, 0, 3, 3), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(flt.gaussian_blur(small, 3.0).numpy(), ref, atol=1e-12)
    # default kernel covers 3 * max sigma: radius ceil(3 * 1.5) = 5
    torch.testing.assert_close(flt.gaussian_blur(xd, 1.5), flt.gaussian_blur(xd, 1.5, kernel_size=11))


def test_gaussian_noise_references():
    x = _batch(2)
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(flt.gaussian_noise(x, noise, 0.0), x)
    sigma = torch.tensor([0.05, 0.2])
    out = flt.gaussian_noise(x, noise, sigma)
    ref = (x.float() + 255 * sigma.view(2, 1, 1, 1) * noise).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(out, ref)
    xf = x.float() / 255
    ref = (xf + sigma.view(2, 1, 1, 1) * noise).clamp(0, 1)
    torch.testing.assert_close(flt.gaussian_noise(xf, noise, sigma), ref)


# ----------------------------------------------------------------------------- batch, dtypes, contract

_B = 3
_G = torch.Generator().manual_seed(3)
_NOISE2 = torch.rand(_B, 2, 32, 32, generator=_G) * 2 - 1
_NOISE3 = torch.randn(_B, 3, 32, 32, generator=_G)
_BOXES = torch.tensor([[0.0, 0.0, 32.0, 32.0], [4.5, 2.0, 20.0, 25.5], [10.0, 11.0, 7.0, 9.0]])
_OFFSETS = torch.tensor([[0, 8], [3, 5], [8, 1]])


def _native(x: torch.Tensor, *levels: int) -> tuple[float, ...]:
    """Fill colour given in 0..255 levels, in the image's native range."""
    return tuple(v / 255 for v in levels) if x.dtype.is_floating_point else levels


# name -> (kernel(x, params), params): every params tensor has a leading batch dimension
BATCHED = {
    "shear_x": (lambda x, v: geo.shear_x(x, v), torch.tensor([0.3, -0.2, 0.05])),
    "translate_y": (
        lambda x, v: geo.translate_y(x, v, fill=_native(x, 3, 90, 200)),
        torch.tensor([4.0, -7.5, 0.0]),
    ),
    "rotate_bilinear": (lambda x, v: geo.rotate(x, v, "bilinear"), torch.tensor([10.0, -33.0, 95.0])),
    "scale": (lambda x, v: geo.scale(x, v, "bilinear"), torch.tensor([1.3, 0.7, 1.0])),
    "resized_crop": (lambda x, v: geo.resized_crop(x, v, (20, 24)), _BOXES),
    "pad_crop": (lambda x, v: geo.pad_crop(x, v, 4, mode="reflect"), _OFFSETS),
    "elastic": (lambda x, v: geo.elastic(x, v[1], v[0], 3.0), (torch.tensor([12.0, 0.0, 30.0]), _NOISE2)),
    "gaussian_blur": (lambda x, v: flt.gaussian_blur(x, v, kernel_size=7), torch.tensor([0.0, 0.8, 2.0])),
    "gaussian_noise": (
        lambda x, v: flt.gaussian_noise(x, v[1], v[0]),
        (torch.tensor([0.02, 0.1, 0.0]), _NOISE3),
    ),
}


def _take(params, b: int):
    if isinstance(params, tuple):
        return tuple(p[b : b + 1] for p in params)
    return params[b : b + 1]


@pytest.mark.parametrize("name", list(BATCHED))
def test_batch_equals_per_image_and_contract(name):
    kernel, params = BATCHED[name]
    x = _batch(_B)
    before = x.clone()
    out = kernel(x, params)
    assert torch.equal(x, before)  # input not mutated
    assert out.dtype == x.dtype and out.device == x.device and out.shape[0] == _B
    singles = torch.cat([kernel(x[b : b + 1], _take(params, b)) for b in range(_B)])
    assert torch.equal(out, singles)
    # uint8 and float agree within one level; float64 is supported too
    for dtype in (torch.float32, torch.float64):
        xf = x.to(dtype) / 255
        outf = kernel(xf, params)
        assert outf.dtype == dtype
        assert ((outf * 255).round() - out.to(dtype)).abs().max() <= 1


ALL_KERNELS = {
    "hflip": geo.hflip,
    "vflip": geo.vflip,
    "warp_affine": lambda x: geo.warp_affine(x, torch.zeros(0, 2, 3), "bilinear"),
    "warp_flow": lambda x: geo.warp_flow(x, torch.zeros(0, 2, 8, 8), "nearest"),
    "shear_y": lambda x: geo.shear_y(x, torch.zeros(0)),
    "translate_x": lambda x: geo.translate_x(x, 3.0),
    "rotate": lambda x: geo.rotate(x, 30.0),
    "scale": lambda x: geo.scale(x, 1.2),
    "pad_crop": lambda x: geo.pad_crop(x, torch.zeros(0, 2, dtype=torch.long), 2),
    "resized_crop": lambda x: geo.resized_crop(x, torch.zeros(0, 4), (5, 6)),
    "elastic": lambda x: geo.elastic(x, torch.zeros(0, 2, 8, 8), 3.0, 2.0),
    "gaussian_blur": lambda x: flt.gaussian_blur(x, torch.zeros(0)),
    "gaussian_noise": lambda x: flt.gaussian_noise(x, torch.zeros(0, 3, 8, 8), 0.1),
    "box_blur": flt.box_blur,
    "smooth": flt.smooth,
}


@pytest.mark.parametrize("name", list(ALL_KERNELS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_empty_batch(name, dtype):
    out = ALL_KERNELS[name](torch.zeros(0, 3, 8, 8, dtype=dtype))
    assert out.shape[:2] == (0, 3) and out.dtype == dtype


# ----------------------------------------------------------------------------- gradients


def _img(*shape: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    return (torch.rand(*shape, generator=g, dtype=torch.float64) * 0.6 + 0.2).requires_grad_()


def test_gradcheck_warps():
    x = _img(2, 2, 5, 6)
    m = torch.tensor([[[0.9, 0.2, 0.3], [-0.15, 1.1, -0.4]], [[1.05, -0.1, 0.2], [0.12, 0.95, 0.35]]])
    m = m.double().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: geo.warp_affine(a, b, "bilinear", fill=0.5), (x, m))
    assert torch.autograd.gradcheck(lambda a: geo.rotate(a, torch.tensor([17.0, -41.0]), "bilinear"), (x,))
    flow = torch.rand(2, 2, 5, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64) - 0.5
    flow.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, f: geo.warp_flow(a, f), (x, flow))


def test_gradcheck_crops_elastic_filters():
    x = _img(2, 1, 6, 5)
    boxes = torch.tensor([[0.5, 0.3, 4.2, 3.9], [1.0, 0.0, 5.0, 5.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: geo.resized_crop(a, boxes, (4, 7)), (x,))
    noise = torch.rand(2, 2, 6, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 2 - 1
    # elastic = warp_flow (fully checked above) of a field that does not depend on x: fast mode
    elastic = lambda a: geo.elastic(a, noise, torch.tensor([2.0, 3.0]), 1.0)  # noqa: E731
    assert torch.autograd.gradcheck(elastic, (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda a: flt.gaussian_blur(a, torch.tensor([0.7, 1.6])), (x,))
    n = torch.randn(2, 1, 6, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: flt.gaussian_noise(a, n, torch.tensor([0.01, 0.02])), (x,))


# ----------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    x = _batch(2)
    with pytest.raises(ValueError, match="interpolation"):
        geo.rotate(x, 10.0, "bicubic")
    with pytest.raises(ValueError, match="offsets"):
        geo.pad_crop(x, torch.tensor([[0, 9], [0, 0]]), 4)
    with pytest.raises(TypeError, match="offsets"):
        geo.pad_crop(x, torch.zeros(2, 2), 4)
    with pytest.raises(ValueError, match="mode"):
        geo.pad_crop(x, torch.zeros(2, 2, dtype=torch.long), 4, mode="wrap")
    with pytest.raises(ValueError, match="fill"):
        geo.rotate(x, 10.0, fill=(1, 2))
    with pytest.raises(ValueError, match="matrix"):
        geo.warp_affine(x, torch.zeros(3, 2, 3))
    with pytest.raises(ValueError, match="value"):
        geo.shear_x(x, torch.zeros(3))
    with pytest.raises(ValueError, match="kernel_size"):
        flt.gaussian_blur(x, 1.0, kernel_size=4)
    with pytest.raises(ValueError, match="sigma"):
        flt.gaussian_blur(x, -1.0)
    with pytest.raises(ValueError, match="noise"):
        flt.gaussian_noise(x, torch.zeros(2, 3, 5, 5), 0.1)
    with pytest.raises(ValueError, match="size"):
        geo.resized_crop(x, torch.zeros(2, 4), (0, 3))
    with pytest.raises(TypeError, match="x"):
        geo.hflip(torch.zeros(2, 3, 4, 4, dtype=torch.int32))
