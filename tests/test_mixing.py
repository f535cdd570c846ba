"""Mixing methods (issue 5): kernels, mixers, AugMix/JSD, strategies."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from augkit.mix import RICAP, BCMix, CutMix, Mixup, Mosaic, SamplePairingMix
from augkit.mix.augmix import AugMix, jsd_loss
from augkit.models import build_model
from augkit.ops import mix as K
from augkit.strategies import Context, build_strategy
from augkit.strategies.mixing import kl_loss, samplepairing_schedule
from tests.conftest import photos

NAMES = [
    "mixup:alpha=1",
    "mixup:mode=pair",
    "mixup:mode=elem",
    "cutmix:alpha=1",
    "manifold-mixup",
    "augmix",
    "augmix:jsd=0",
    "samplepairing",
    "ricap",
    "mosaic",
    "bc",
    "bc:plus=0",
    "label-smoothing:eps=0.1",
    "cutmix:smoothing=0.1",
]
MIXERS = [
    lambda: Mixup(1.0, "batch"),
    lambda: Mixup(0.4, "pair"),
    lambda: Mixup(2.0, "elem"),
    lambda: CutMix(1.0, 1.0),
    lambda: RICAP(0.3),
    lambda: Mosaic(0.25),
    lambda: BCMix(True),
    lambda: SamplePairingMix(),
]


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(b: int = 6):
    x = photos(32, 32)
    x = torch.cat([x] * math.ceil(b / x.shape[0]))[:b]
    return x, torch.arange(b) % 10


@pytest.mark.parametrize("make", MIXERS)
@pytest.mark.parametrize("b", [5, 6])
def test_rows_sum_to_one_replay_and_seed(make, b):
    x, y = batch(b)
    m = make()
    xm, t, p = m(x, y, g(3), 10, 0.1)
    assert t.shape == (b, 10) and torch.allclose(t.sum(1), torch.ones(b), atol=1e-6)
    assert (t >= 0).all()
    x2, t2 = m.apply(x, F.one_hot(y, 10) * 0.9 + 0.01, p)
    assert torch.equal(x2, xm)  # per-image params replay bit for bit
    x3, t3, _ = m(x, y, g(3), 10, 0.1)
    assert torch.equal(x3, xm) and torch.equal(t3, t)  # same seed, same bits
    assert torch.allclose(t2, t, atol=1e-6)
    x4, _, _ = m(x, y, g(4), 10, 0.1)
    assert not torch.equal(x4, xm)


def test_mixup_lam_one_identity_and_formula():
    x, _ = batch(6)
    xf = x.float() / 255
    idx = torch.tensor([5, 4, 3, 2, 1, 0])
    assert torch.equal(K.mix_blend(xf, idx, 1.0), xf)
    assert torch.equal(K.mix_blend(x, idx, 1.0), x)
    lam = torch.rand(6, generator=g())
    ref = lam.view(-1, 1, 1, 1) * xf + (1 - lam.view(-1, 1, 1, 1)) * xf[idx]
    assert torch.allclose(K.mix_blend(xf, idx, lam), ref, atol=1e-6)
    q = K.quantize_lambda(lam).view(-1, 1, 1, 1)
    ref8 = torch.floor(q * x.float() + (1 - q) * x[idx].float() + 0.5)
    assert torch.equal(K.mix_blend(x, idx, lam).float(), ref8)  # exact fixed point, half up


def test_mixup_targets_and_modes():
    x, y = batch(7)
    xm, t, p = Mixup(1.0, "pair")(x.float() / 255, y, g(1), 10)
    assert torch.equal(p.index[:, 1], torch.arange(6, -1, -1))
    assert torch.equal(p.lam, p.lam.flip(0))  # pairs share lam
    lam = p.lam.view(-1, 1)
    assert torch.allclose(t, lam * F.one_hot(y, 10) + (1 - lam) * F.one_hot(y.flip(0), 10))
    _, _, pb = Mixup(1.0, "batch")(x, y, g(1), 10)
    assert (pb.lam == pb.lam[0]).all()


def test_cutmix_lambda_is_pasted_fraction_and_zero_box_identity():
    x, y = batch(8)
    xm, t, p = CutMix(1.0, 1.0)(x, y, g(2), 10)
    mask = K.box_mask(p.boxes, 32, 32)
    frac = mask.float().mean(dim=(1, 2, 3))
    assert torch.equal(p.lam, 1 - frac)  # exactly the pasted area fraction
    partner = x[p.index[:, 1]]
    assert torch.equal(xm, torch.where(mask, partner, x))
    zero = torch.zeros(8, 4, dtype=torch.long)
    assert torch.equal(K.paste_boxes(x, p.index[:, 1], zero), x)
    xf = x.float() / 255
    assert torch.equal(K.paste_boxes(xf, p.index[:, 1], p.boxes), torch.where(mask, xf[p.index[:, 1]], xf))
    _, _, p0 = CutMix(1.0, 0.0)(x, y, g(2), 10)
    assert (p0.lam == 1).all()


@pytest.mark.parametrize("make", [lambda: RICAP(0.3), lambda: Mosaic(0.25)])
def test_quad_area_weights_equal_tile_areas(make):
    x, y = batch(6)
    xm, t, p = make()(x, y, g(5), 10)
    sh, sw = p.split[:, 0], p.split[:, 1]
    ii, jj = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    for b in range(6):
        q = (ii >= sh[b]).long() * 2 + (jj >= sw[b]).long()
        for k in range(4):
            assert abs(p.weights[b, k].item() - (q == k).float().mean().item()) < 1e-6
            src = x[p.index[b, k]]
            sel = q == k
            si, sj = ii[sel] + p.offset[b, k, 0], jj[sel] + p.offset[b, k, 1]
            assert torch.equal(xm[b][:, sel], src[:, si, sj])  # tile = shifted source crop
    expect = sum(p.weights[:, k : k + 1] * F.one_hot(y[p.index[:, k]], 10) for k in range(4))
    assert torch.allclose(t, expect, atol=1e-6)


def test_mosaic_top_left_is_bottom_right_corner_of_self():
    x, y = batch(4)
    xm, _, p = Mosaic(0.25)(x, y, g(0), 10)
    b, cy, cx = 0, int(p.split[0, 0]), int(p.split[0, 1])
    assert torch.equal(xm[b, :, :cy, :cx], x[b, :, 32 - cy :, 32 - cx :])


def test_bc_plus_formula_identity_and_kl():
    x, y = batch(6)
    idx = torch.tensor([1, 2, 3, 4, 5, 0])
    xf = x.float() / 255
    assert torch.allclose(K.bc_plus(x, idx, 1.0), xf, atol=1e-6)
    r = torch.full((6,), 0.3)
    mu, sd = xf.mean((1, 2, 3)), xf.std((1, 2, 3), correction=0)
    p = 1 / (1 + sd / sd[idx] * (1 - r) / r)
    z = xf - mu.view(-1, 1, 1, 1)
    ref = (p.view(-1, 1, 1, 1) * z + (1 - p.view(-1, 1, 1, 1)) * z[idx]) / torch.sqrt(
        p**2 + (1 - p) ** 2
    ).view(-1, 1, 1, 1)
    ref = ref + (r * mu + (1 - r) * mu[idx]).view(-1, 1, 1, 1)
    assert torch.allclose(K.bc_plus(x, idx, r), ref, atol=1e-5)
    _, _, pb = BCMix()(x, y, g(0), 10)
    assert (y[pb.index[:, 1]] != y).all()  # partners of another class
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    t = torch.tensor([[0.7, 0.3, 0.0]])
    q = torch.softmax(logits, 1)
    hand = 0.7 * math.log(0.7 / q[0, 0].item()) + 0.3 * math.log(0.3 / q[0, 1].item())
    assert abs(kl_loss(logits, t).item() - hand) < 1e-6


def test_jsd_zero_for_identical_and_matches_direct_formula():
    z = torch.randn(4, 5, generator=g())
    assert jsd_loss(z, z.clone(), z.clone()).abs().item() < 1e-6
    z2, z3 = torch.randn(4, 5, generator=g(1)), torch.randn(4, 5, generator=g(2))
    ps = [torch.softmax(a, 1) for a in (z, z2, z3)]
    m = sum(ps) / 3
    direct = sum((p * (p.log() - m.log())).sum(1).mean() for p in ps) / 3
    j = jsd_loss(z, z2, z3)
    assert j.item() > 0 and abs(j.item() - direct.item()) < 1e-5


def test_augmix_replay_range_and_identity_when_m_zero():
    x, _ = batch(6)
    am = AugMix()
    p = am.sample(x, g(0))
    out = am.apply(x, p)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1
    assert torch.equal(am.apply(x, p), out)
    assert torch.equal(am(x, g(0)), out)
    assert torch.allclose(p.weights.sum(1), torch.ones(6))
    p0 = type(p)(p.chains, p.weights, torch.zeros(6))
    assert torch.equal(am.apply(x, p0), x.float() / 255)
    assert not torch.allclose(out, x.float() / 255)


def test_manifold_mixup_mixes_at_chosen_stage():
    model = build_model("small_cnn", 3, 10, [0.5] * 3, [0.25] * 3, generator=0)
    strat = build_strategy("manifold-mixup:layers=0,base=none")
    ctx = Context(model, torch.device("cpu"), 10, g(0))
    x, y = batch(6)
    seen = {}
    h1 = model.stages[0].register_forward_hook(lambda m, i, o: seen.__setitem__("out0", o.detach().clone()))
    h2 = model.stages[1].register_forward_pre_hook(
        lambda m, i: seen.__setitem__("in1", i[0].detach().clone())
    )
    b = strat.make_batch(x, y, ctx)
    strat.loss(model, b, ctx)
    h1.remove()
    h2.remove()
    k, p = strat.last
    assert k == 0
    lam = p.lam.view(-1, 1, 1, 1)
    expect = lam * seen["out0"] + (1 - lam) * seen["out0"][p.index[:, 1]]
    assert torch.allclose(seen["in1"], expect, atol=1e-5)
    assert not torch.allclose(seen["in1"], seen["out0"])
    strat2 = build_strategy("manifold-mixup")
    ks = set()
    for _ in range(30):
        strat2.loss(model, strat2.make_batch(x, y, ctx), ctx)
        ks.add(strat2.last[0])
    assert ks == {-1, 0, 1}


def test_samplepairing_schedule():
    s = samplepairing_schedule(30)
    on = [e for e, v in enumerate(s) if v]
    assert on == [3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22]
    s100 = samplepairing_schedule(100)
    assert not any(s100[:10]) and not any(s100[80:])
    assert s100[10:20] == [True] * 8 + [False] * 2  # Inoue's 8 on / 2 off
    strat = build_strategy("samplepairing")
    model = build_model("small_cnn", 3, 10, [0.5] * 3, [0.25] * 3, generator=0)
    ctx = Context(model, torch.device("cpu"), 10, g(0), epochs=30, epoch=0)
    x, y = batch(6)
    strat.on_epoch_start(ctx)
    assert strat.on_epoch_end(ctx)["samplepairing_on"] == 0.0
    ctx.epoch = 3
    strat.on_epoch_start(ctx)
    assert strat.on and strat.on_epoch_end(ctx)["samplepairing_on"] == 1.0
    b = strat.make_batch(x, y, ctx)
    assert torch.equal(b.y, F.one_hot(y, 10).float())  # first image's label kept


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: Mixup(0.0),
        lambda x, y: Mixup(-1.0),
        lambda x, y: CutMix(float("nan")),
        lambda x, y: Mixup()(x[:1], y[:1], g(), 10),
        lambda x, y: CutMix()(x, y + 10, g(), 10),
        lambda x, y: RICAP()(x, y[:-1], g(), 10),
        lambda x, y: Mixup(mode="foo"),
        lambda x, y: build_strategy("mixup:alpha=0"),
    ],
)
def test_bad_input_raises(call):
    x, y = batch(6)
    with pytest.raises(ValueError, match=r"alpha|at least 2|\[0, 10\)|same number|mode"):
        call(x, y)


@pytest.mark.parametrize("name", NAMES)
def test_strategy_trains_one_step(name):
    model = build_model("small_cnn", 3, 10, [0.5] * 3, [0.25] * 3, generator=0)
    strat = build_strategy(name)
    ctx = Context(model, torch.device("cpu"), 10, g(0), epochs=10, epoch=1)
    strat.setup(ctx)
    strat.on_epoch_start(ctx)
    x, y = batch(5)
    bt = strat.make_batch(x, y, ctx)
    assert torch.allclose(bt.y.sum(1), torch.ones(5), atol=1e-5)
    loss = strat.loss(model, bt, ctx)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)
    assert strat.preview(x, y, ctx).shape[0] == 5
    b2 = build_strategy(name).make_batch(
        x, y, Context(model, torch.device("cpu"), 10, g(0), epochs=10, epoch=1)
    )
    assert torch.equal(
        b2.x,
        build_strategy(name)
        .make_batch(x, y, Context(model, torch.device("cpu"), 10, g(0), epochs=10, epoch=1))
        .x,
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("make", MIXERS)
def test_cuda_matches_cpu(make):
    x, y = batch(6)
    m = make()
    xc, tc, _ = m(x, y, g(0), 10)
    xg, tg, _ = m(x.cuda(), y.cuda(), g(0), 10)
    assert torch.allclose(xg.cpu().float(), xc.float(), atol=1e-4)
    assert torch.allclose(tg.cpu(), tc, atol=1e-6)
