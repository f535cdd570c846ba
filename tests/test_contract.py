"""Contract tests enrolled automatically for every op in ``augkit.OPS`` (DESIGN §5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from augkit import OPS, apply_op
from augkit.space import op_value, value_bounds

from .conftest import photos

NAMES = sorted(OPS)


def _values(name: str, x: torch.Tensor, m: float = 0.7) -> torch.Tensor:
    """A different native value per image (magnitudes spread around ``m``, alternating sign)."""
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    mags = torch.linspace(0.2, 1.0, b) * m / 0.6
    signs = torch.where(torch.arange(b) % 2 == 0, 1.0, -1.0)
    return op_value(name, mags.clamp(0, 1), signs, h, w)


def _kw(name: str, x: torch.Tensor) -> dict:
    kw = {}
    if "center" in OPS[name].aux:
        kw["center"] = torch.stack(
            [torch.arange(x.shape[0]) * 3 % x.shape[-2], torch.arange(x.shape[0]) * 5 % x.shape[-1]], 1
        )
    if "partner" in OPS[name].aux:
        kw["partner"] = x.flip(0)
    return kw


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shape_dtype_device_kept_and_input_untouched(name, dtype):
    x = photos(24, 20, 3)
    x = x if dtype == torch.uint8 else x.float() / 255
    before = x.clone()
    out = apply_op(x, name, _values(name, x), **_kw(name, x))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_per_image(name):
    x = photos(24, 24, 3)
    v = _values(name, x)
    kw = _kw(name, x)
    full = apply_op(x, name, v, **kw)
    for i in range(x.shape[0]):
        kwi = {k: t[i : i + 1] for k, t in kw.items()}
        one = apply_op(x[i : i + 1], name, v[i : i + 1], **kwi)
        assert torch.equal(full[i : i + 1], one), f"{name}: image {i} differs when run alone"


@pytest.mark.parametrize("name", [n for n in NAMES if OPS[n].identity_at_zero])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_identity_at_magnitude_zero(name, dtype):
    x = photos(20, 28, 3)
    x = x if dtype == torch.uint8 else x.float() / 255
    v = op_value(name, torch.zeros(x.shape[0]), torch.ones(x.shape[0]), 20, 28)
    out = apply_op(x, name, v, **_kw(name, x))
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_and_float_agree(name):
    x = photos(32, 32, 3)
    v = _values(name, x)
    kw = _kw(name, x)
    out8 = apply_op(x, name, v, **kw).float()
    kwf = {k: (t.float() / 255 if t.dtype == torch.uint8 else t) for k, t in kw.items()}
    outf = apply_op(x.float() / 255, name, v, **kwf) * 255
    diff = (out8 - outf).abs()
    # rounding: uint8 rounds after the op, float does not; allow one level plus rare ties
    assert diff.max() <= 2.0 + 1e-3, f"{name}: max diff {diff.max():.3f}"
    assert (diff > 1.0 + 1e-3).float().mean() < 0.005, f"{name}: too many pixels differ by more than a level"


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_and_single_image(name):
    x = photos(16, 16, 3)
    empty = x[:0]
    assert apply_op(empty, name, torch.zeros(0)).shape == empty.shape
    single = apply_op(x[0], name, float(_values(name, x)[0]), **{k: v[:1] for k, v in _kw(name, x).items()})
    assert single.shape == x[0].shape


@pytest.mark.parametrize("name", [n for n in NAMES if OPS[n].has_magnitude])
def test_out_of_range_value_is_rejected(name):
    x = photos(16, 16, 3)
    lo, hi = value_bounds(name, 16, 16)
    with pytest.raises(ValueError, match=name):
        apply_op(x, name, hi + abs(hi - lo) + 1.0)


def test_unknown_op_and_bad_input():
    x = photos(16, 16, 3)
    with pytest.raises(ValueError, match="unknown"):
        apply_op(x, "Blurry", 1.0)
    with pytest.raises(ValueError, match="shape"):
        apply_op(x[0, 0], "Invert")
    with pytest.raises(TypeError, match="dtype"):
        apply_op(x.to(torch.int32), "Invert")


@pytest.mark.parametrize("name", [n for n in NAMES if OPS[n].differentiable])
def test_gradients_flow_for_differentiable_ops(name):
    x = (photos(8, 8, 3)[:2].double() / 255).requires_grad_(True)
    v = _values(name, x).double()
    kw = {k: (t.double() / 255 if t.dtype == torch.uint8 else t) for k, t in _kw(name, x.detach()).items()}
    fn = lambda inp: apply_op(inp, name, v, **kw)
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-4)


def test_float_nan_and_out_of_range_do_not_crash():
    x = photos(16, 16, 3).float() / 255
    x[0, 0, 0, 0] = float("nan")
    x[1] = x[1] * 3 - 1
    for name in NAMES:
        out = apply_op(x, name, _values(name, x), **_kw(name, x))
        assert out.shape == x.shape


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    b=st.integers(1, 3),
    c=st.sampled_from([1, 3]),
    h=st.integers(5, 19),
    w=st.integers(5, 19),
    m=st.floats(0.0, 1.0),
    uint8=st.booleans(),
)
def test_property_any_shape_and_magnitude(name, b, c, h, w, m, uint8):
    g = torch.Generator().manual_seed(b * 1000 + h * 31 + w)
    x = torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)
    x = x if uint8 else x.float() / 255
    v = op_value(name, torch.full((b,), m), torch.ones(b), h, w)
    out = apply_op(x, name, v, **_kw(name, x))
    assert out.shape == x.shape and out.dtype == x.dtype
    if not uint8:
        assert torch.isfinite(out).all()
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
