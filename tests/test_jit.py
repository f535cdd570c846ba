"""The compiled uint8 kernels (augkit/ops/_jit.py) equal the torch reference path bit for bit."""

from __future__ import annotations

import pytest
import torch

from augkit import policies
from augkit.ops import _jit
from augkit.ops import color as C
from augkit.ops import geometry as G


@pytest.fixture(autouse=True)
def _every_size(monkeypatch):
    """Compile-path every tensor here, however small (the size cut-off is tested on its own)."""
    monkeypatch.setattr(_jit, "MIN_BYTES", 1)


SHAPES = [(6, 3, 31, 29), (3, 1, 28, 28), (4, 3, 3, 3), (2, 3, 2, 5), (1, 3, 1, 1), (2, 3, 64, 64)]


def _both(fn, *args, **kwargs):
    with _jit.disabled():
        ref = fn(*args, **kwargs)
    return ref, fn(*args, **kwargs)


def _img(shape, seed):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _factors(b, seed):
    """Factors with exact ties (0.5), the identities (0, 1), negatives and large values."""
    g = torch.Generator().manual_seed(seed)
    fixed = torch.tensor([0.5, 0.0, 1.0, -0.3, 2.7, 1.9, 0.1, 0.25])
    pick = torch.rand(b, generator=g) < 0.5
    return torch.where(pick, fixed[torch.arange(b) % 8], torch.rand(b, generator=g) * 3 - 0.5)


def test_compiled_kernels_are_in_use():
    """numba is a declared dependency: the suite must exercise the compiled path, not skip it."""
    assert _jit.available()
    assert _jit.usable(_img((1, 3, 4, 4), 0))
    assert not _jit.usable(_img((0, 3, 4, 4), 0))
    assert not _jit.usable(_img((1, 3, 4, 4), 0).float())
    with _jit.disabled():
        assert not _jit.available()
    assert _jit.available()


def test_small_batches_keep_the_torch_path(monkeypatch):
    """Dispatch overhead: below MIN_BYTES the torch path runs (same bits either way)."""
    monkeypatch.setattr(_jit, "MIN_BYTES", 1 << 16)
    assert not _jit.usable(_img((4, 3, 32, 32), 0))  # 12 KB
    assert _jit.usable(_img((1, 3, 224, 224), 0))  # 147 KB


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", ["brightness", "contrast", "color", "sharpness"])
def test_blend_ops_match_reference(op, shape):
    x = _img(shape, 1)
    f = _factors(shape[0], 2)
    ref, got = _both(getattr(C, op), x, f)
    assert got.dtype == torch.uint8 and torch.equal(ref, got)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", ["equalize", "autocontrast"])
def test_histogram_ops_match_reference(op, shape):
    x = _img(shape, 3)
    x[0] = x[0] // 64  # a low-contrast image: few levels, Pillow's step rule and flat channels
    if shape[0] > 1:
        x[1] = 7  # constant image: identity branches
    ref, got = _both(getattr(C, op), x)
    assert torch.equal(ref, got)


def test_equalize_float_input_uses_the_same_levels():
    x = _img((3, 3, 17, 19), 4).float() / 255
    ref, got = _both(C.equalize, x)
    assert torch.equal(ref, got)


@pytest.mark.parametrize("shape", SHAPES)
def test_solarize_matches_reference(shape):
    x = _img(shape, 5)
    t = torch.tensor([0.0, 256.0, 128.0, 127.5, 300.0, float("nan")])[: shape[0]]
    ref, got = _both(C.solarize, x, t)
    assert torch.equal(ref, got)


def test_every_level_and_tie():
    """Brightness and colour on images that hold every level, with factors that make exact .5 ties."""
    levels = torch.arange(256, dtype=torch.uint8)
    x = torch.stack([levels.view(16, 16), levels.flip(0).view(16, 16), levels.roll(85).view(16, 16)])
    x = x.unsqueeze(0).expand(9, 3, 16, 16).contiguous()
    f = torch.tensor([0.5, 1.5, 0.25, 0.75, 1.25, 0.0, 1.0, 2.0, -1.0])
    for op in (C.brightness, C.color, C.contrast, C.sharpness):
        ref, got = _both(op, x, f)
        assert torch.equal(ref, got), op.__name__


def test_sharpness_every_box_sum():
    """Pillow's SMOOTH sum takes every value 0..3315 somewhere in a large random batch."""
    x = _img((8, 1, 96, 96), 6)
    x[:4] = (x[:4] > 127).to(torch.uint8) * 255  # extremes: sums near 0 and 3315
    ref, got = _both(C.sharpness, x, torch.full((8,), 0.5))
    assert torch.equal(ref, got)


@pytest.mark.parametrize("fill", [0.0, 128.0, (10.0, 200.0, 37.0)])
@pytest.mark.parametrize("shape", [(6, 3, 31, 29), (2, 3, 1, 1), (3, 3, 64, 48)])
def test_nearest_warps_match_reference(shape, fill):
    x = _img(shape, 7)
    g = torch.Generator().manual_seed(8)
    b = shape[0]
    ref, got = _both(G.rotate, x, torch.rand(b, generator=g) * 360 - 180, fill=fill)
    assert torch.equal(ref, got)
    ref, got = _both(G.shear_y, x, torch.rand(b, generator=g) * 1.2 - 0.6, fill=fill)
    assert torch.equal(ref, got)
    m = torch.randn(b, 2, 3, generator=g, dtype=torch.float64) * 0.4
    m[:, 0, 0] += 1
    m[:, 1, 1] += 1
    m[:, :, 2] *= 10
    ref, got = _both(G.warp_affine, x, m, "nearest", fill)
    assert torch.equal(ref, got)


def test_per_image_fill_matches_reference():
    x = _img((4, 3, 20, 20), 9)
    fill = torch.randint(0, 256, (4, 3), generator=torch.Generator().manual_seed(10)).float()
    m = torch.tensor([[0.7, -0.7, 20.0], [0.7, 0.7, -7.0]], dtype=torch.float64)
    ref, got = _both(G.warp_affine, x, m, "nearest", fill)
    assert torch.equal(ref, got)


def test_non_contiguous_input():
    x = _img((4, 3, 40, 40), 11)[:, :, ::2, 1::2]
    f = _factors(4, 12)
    for op in (C.color, C.sharpness, C.brightness):
        ref, got = _both(op, x, f)
        assert torch.equal(ref, got)
    ref, got = _both(G.rotate, x, torch.tensor([10.0, -30.0, 45.0, 170.0]))
    assert torch.equal(ref, got)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: policies.RandAugment(2, 9),
        lambda c: policies.TrivialAugment(),
        lambda c: policies.AutoAugment("imagenet"),
        lambda c: policies.AutoAugment("cifar10", fill=(10.0, 200.0, 37.0)[:c]),
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "grey"])
def test_policies_match_reference(make, layout):
    """Whole policies (op groups computed into the batch, in-place later stages) draw the same images."""
    c = 1 if layout == "grey" else 3
    pol = make(c)
    x = _img((48, c, 40, 40), 13)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    with _jit.disabled():
        ref = pol(x, generator=torch.Generator().manual_seed(14))
    got = pol(x, generator=torch.Generator().manual_seed(14))
    assert torch.equal(ref, got)


def test_indexed_forms_write_only_their_images():
    """An op group's indexed form leaves every other image of the output untouched."""
    from augkit.ops import indexed

    x = _img((6, 3, 24, 24), 17)
    idx = torch.tensor([1, 4])
    for fn, value in ((C.color, torch.tensor([0.3, 1.7])), (G.rotate, torch.tensor([20.0, -50.0]))):
        out = torch.zeros_like(x)
        assert indexed.INTO[fn](x, idx, value, out, fill=0.0)
        with _jit.disabled():
            ref = fn(x[idx], value)
        assert torch.equal(out[idx], ref)
        rest = torch.tensor([0, 2, 3, 5])
        assert not out[rest].any()


def _into_ops():
    from augkit.space import OPS

    return [n for n, s in OPS.items() if s.into is not None and not s.aux]


@pytest.mark.parametrize("in_place", [False, True], ids=["into-other", "in-place"])
@pytest.mark.parametrize("shape", [(7, 3, 29, 31), (5, 1, 28, 28), (3, 3, 2, 3)])
@pytest.mark.parametrize("name", _into_ops())
def test_every_indexed_form_matches_the_op(name, shape, in_place):
    """Every op table row with an indexed form (incl. TranslateX/Y and ShearX as row copies,
    Posterize, Invert, Identity) writes exactly the op's result for its images, also when the
    output is the input (a policy's later stages), over the whole magnitude range and both signs;
    the other images are left as they were."""
    from augkit.space import OPS, op_value

    spec = OPS[name]
    b, c, h, w = shape
    x = _img(shape, 23)
    idx = torch.tensor([k for k in range(b) if k % 2 == 0])
    mags = torch.linspace(0, 1, idx.numel())
    signs = torch.where(torch.arange(idx.numel()) % 2 == 0, 1.0, -1.0)
    value = op_value(name, mags, signs, h, w)
    fill = (10.0, 200.0, 37.0)[:c] if c > 1 else 90.0
    with _jit.disabled():
        ref = spec.kernel(x[idx], value, fill=fill, interpolation="nearest")
    out = x.clone() if in_place else torch.zeros_like(x)
    before = out.clone()
    src = out if in_place else x
    if not spec.into(src, idx, value, out, fill=fill, interpolation="nearest"):
        assert name in ("Color", "ColorSigned", "ColorWide") and c == 1 or min(h, w) < 3 and "Sharp" in name
        return
    assert torch.equal(out[idx], ref), name
    rest = torch.tensor([k for k in range(b) if k % 2])
    assert torch.equal(out[rest], before[rest])


def test_row_shift_kernel_handles_shifts_past_the_image():
    """A translation of W pixels or more shows only fill, as the torch row windows do."""
    from augkit.ops import indexed

    x = _img((4, 3, 40, 40), 29)
    for px in (39.0, 40.0, 41.0, 1000.0, -40.0, -1000.0):
        v = torch.full((4,), px)
        ref, got = _both(G.translate_x, x, v, fill=77.0)
        out = x.clone()
        assert indexed.INTO[G.translate_x](out, torch.arange(4), v, out, fill=77.0)
        assert torch.equal(out, ref) and torch.equal(got, ref), px
