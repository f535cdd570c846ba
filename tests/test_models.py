"""Tests for augkit.models: shapes, staged entry/exit points, init reproducibility, RNG hygiene."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from augkit.models import MODELS, StagedNet, build_model, count_parameters, wrn_28_k
from augkit.models.base import finalize

FAST = ["small_cnn", "resnet20", "resnet56", "preact_resnet18", "wrn_28_2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _build(name: str, c: int, seed: int = 0, num_classes: int = 7, **kw) -> StagedNet:
    return build_model(name, c, num_classes, [0.5] * c, [0.25] * c, generator=seed, **kw)


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("c", [1, 3])
def test_output_shapes(name: str, c: int) -> None:
    m = _build(name, c).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for size in (28, 32, 8):
            out = m(torch.rand(1, c, size, size, generator=g))
            assert out.shape == (1, 7)
            assert torch.isfinite(out).all()


def test_registry_names_and_unknown_name() -> None:
    assert {"small_cnn", "resnet20", "resnet56", "preact_resnet18", "wrn"} <= set(MODELS)
    with pytest.raises(ValueError, match="resnet20") as info:
        _build("resnet21", 3)
    assert "small_cnn" in str(info.value) and "wrn" in str(info.value)


def test_argument_validation() -> None:
    with pytest.raises(TypeError, match="generator"):
        build_model("small_cnn", 1, 10, [0.5], [0.5])
    with pytest.raises(ValueError, match="mean"):
        build_model("small_cnn", 3, 10, [0.5], [0.5, 0.5, 0.5], generator=0)
    with pytest.raises(ValueError, match="std"):
        build_model("small_cnn", 1, 10, [0.5], [0.0], generator=0)
    with pytest.raises(ValueError, match="depth"):
        build_model("wrn", 3, 10, [0.5] * 3, [0.5] * 3, generator=0, depth=27)
    with pytest.raises(TypeError, match="generator"):
        build_model("small_cnn", 1, 10, [0.5], [0.5], generator="seed")
    m = _build("small_cnn", 1)
    with pytest.raises(ValueError, match="upto"):
        m.features(torch.rand(1, 1, 28, 28), upto=3)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        m(torch.rand(1, 3, 28, 28))


def test_parameter_counts() -> None:
    # small_cnn: convs 1*32*9 + 32*64*9 + 64*64*9 + 64*128*9 + 128*128*9 = 276_768, BN 2*(32+64+64+128+128)
    # = 832, linear 128*10 + 10 = 1_290; total 278_890, inside the brief's 0.1-0.5 M.
    n_small = count_parameters(build_model("small_cnn", 1, 10, [0.5], [0.5], generator=0))
    assert 100_000 <= n_small <= 500_000
    assert n_small == 288 + 18_432 + 36_864 + 73_728 + 147_456 + 2 * (32 + 64 + 64 + 128 + 128) + 1_290
    rgb = ([0.5] * 3, [0.5] * 3)
    # He et al. 2016 table 6: ResNet-20 0.27 M, ResNet-56 0.85 M (option A adds no parameters).
    assert count_parameters(build_model("resnet20", 3, 10, *rgb, generator=0)) == 269_722
    assert count_parameters(build_model("resnet56", 3, 10, *rgb, generator=0)) == 853_018
    # PreAct ResNet-18 CIFAR: 11_171_146 without the final BN, + 2*512 for He et al.'s final BN.
    assert count_parameters(build_model("preact_resnet18", 3, 10, *rgb, generator=0)) == 11_172_170
    # Zagoruyko & Komodakis 2016 table: WRN-28-10 has 36.5 M parameters.
    assert count_parameters(build_model("wrn_28_10", 3, 10, *rgb, generator=0)) == 36_479_194


@pytest.mark.parametrize("name", FAST)
def test_features_then_forward_from_equals_forward(name: str) -> None:
    m = _build(name, 3).eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = m(x)
        assert torch.equal(m.forward_from(m.features(x), m.num_stages - 1), ref)
        for k in range(-1, m.num_stages):
            h = m.features(x, upto=k)
            assert torch.equal(m.forward_from(h, k), ref), f"stage {k}"
        assert torch.equal(m.head.fc(m.embed(x)), ref)


def test_hidden_mixing_is_linear_in_the_hidden_state() -> None:
    # Manifold Mixup usage: mixing at stage k with lambda = 1 must give the first example's logits.
    m = _build("resnet20", 3).eval()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = m.features(x, upto=1)
        mixed = 1.0 * h + 0.0 * h.flip(0)
        assert torch.allclose(m.forward_from(mixed, 1), m(x), atol=1e-6)
        half = m.forward_from(0.5 * h + 0.5 * h.flip(0), 1)
        assert not torch.allclose(half, m(x), atol=1e-3)


def test_normalisation_inside_model() -> None:
    m = build_model("small_cnn", 3, 10, [0.1, 0.2, 0.3], [0.5, 0.25, 2.0], generator=0)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    expect = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 2.0]).view(
        1, 3, 1, 1
    )
    assert torch.allclose(m.features(x, upto=-1), expect)


@pytest.mark.parametrize("name", ["small_cnn", "resnet20", "preact_resnet18"])
def test_uint8_input_equals_float_over_255(name: str) -> None:
    m = _build(name, 3).eval()
    xu = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(m(xu), m(xu.float() / 255.0))


@pytest.mark.parametrize("name", FAST)
def test_same_seed_same_weights_different_seed_different(name: str) -> None:
    a, b, c = _build(name, 3, seed=11), _build(name, 3, seed=11), _build(name, 3, seed=12)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    random_keys = [k for k, v in sa.items() if k.endswith("weight") and v.ndim >= 2]  # conv / linear
    assert random_keys and all(not torch.equal(sa[k], sc[k]) for k in random_keys)
    # an explicit Generator is the same as its int seed
    d = build_model(name, 3, 7, [0.5] * 3, [0.25] * 3, generator=torch.Generator().manual_seed(11))
    assert all(torch.equal(sa[k], v) for k, v in d.state_dict().items())


@pytest.mark.parametrize("name", FAST)
def test_global_rng_untouched(name: str) -> None:
    state = torch.get_rng_state()
    m = _build(name, 1)
    m.train()(torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(state, torch.get_rng_state())


def test_kaiming_init_statistics() -> None:
    # He et al. 2015 fan_out normal: std = sqrt(2 / (C_out * 3 * 3)); the 64->64 convs of ResNet-56 have
    # 36_864 weights each, so the sample std is within ~0.4 % of it.
    m = _build("resnet56", 3)
    w = m.stages[3][-1].conv2.weight
    assert math.isclose(w.std().item(), math.sqrt(2.0 / (64 * 9)), rel_tol=0.03)
    assert abs(w.mean().item()) < 0.002
    bound = 1.0 / math.sqrt(64)
    assert m.head.fc.weight.abs().max().item() <= bound and torch.equal(m.head.fc.bias, torch.zeros(7))


def test_wrn_dropout_uses_own_generator_and_resumes() -> None:
    builder = wrn_28_k(1, dropout=0.3)
    state = torch.get_rng_state()
    a = builder(3, 5, [0.5] * 3, [0.5] * 3, generator=3).train()
    b = builder(3, 5, [0.5] * 3, [0.5] * 3, generator=3).train()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    ya1, yb1 = a(x), b(x)
    assert torch.equal(ya1, yb1)  # same seed, same masks
    assert not torch.equal(a(x), ya1)  # fresh masks at the next call
    assert torch.equal(state, torch.get_rng_state())
    # resume: the dropout generator state travels in the state_dict
    c = builder(3, 5, [0.5] * 3, [0.5] * 3, generator=99).train()
    c.load_state_dict(a.state_dict())
    assert torch.equal(c(x), a(x))
    with torch.no_grad():  # eval mode: dropout off, deterministic
        assert torch.equal(a.eval()(x), a(x))
    # dropout=0 nets draw no dropout seeds, so they init identically to the plain builder
    plain = build_model("wrn", 3, 5, [0.5] * 3, [0.5] * 3, generator=3, widen=1)
    zero = build_model("wrn", 3, 5, [0.5] * 3, [0.5] * 3, generator=3, widen=1, dropout=0.0)
    assert all(torch.equal(v, zero.state_dict()[k]) for k, v in plain.state_dict().items())


def test_finalize_refuses_uninitialisable_modules() -> None:
    with torch.device("meta"):
        net = nn.Sequential(nn.LayerNorm(4))
    with pytest.raises(TypeError, match="LayerNorm"):
        finalize(net, 0)
