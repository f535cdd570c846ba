"""Saliency-guided mixing: maps, boxes, PuzzleMix labelling/transport, Co-Mixup, strategies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from augkit.models import build_model
from augkit.saliency import (
    binary_cut,
    comixup,
    comixup_objective,
    exposed_saliency,
    grid_energy,
    icm_potts,
    paste,
    peak,
    peak_box_mask,
    puzzle_mask,
    spectral_residual,
    swap_labelling,
    topk_grid_mask,
    transport_plan,
)
from augkit.strategies import Context, build_strategy

NAMES = ["saliencymix", "attentive-cutmix", "puzzlemix", "comixup-simplified"]


def _disc_image(h=32, cy=20, cx=9, r=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(h), indexing="ij")
    bg = 0.15 + 0.05 * torch.sin(xx * 1.7) * torch.cos(yy * 1.3) + 0.02 * torch.rand(h, h, generator=g)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
    return torch.where(disc, torch.tensor(0.95), bg).expand(3, h, h).clone(), disc


def test_saliency_box_lands_on_bright_disc():
    img, disc = _disc_image()
    other = torch.full_like(img, 0.3)
    x = torch.stack([img, other])
    sal = spectral_residual(x)
    cy, cx = peak(sal)
    assert disc[cy[0], cx[0]], "saliency peak must lie in the disc"
    index = torch.tensor([1, 0])
    lam = torch.tensor([0.9, 0.9])
    mask = peak_box_mask(sal[index], lam)  # image 1 gets a box from image 0, around image 0's peak
    ys, xs = torch.nonzero(mask[1, 0], as_tuple=True)
    centre = (ys.float().mean().round().long(), xs.float().mean().round().long())
    assert disc[centre], f"box centre {centre} is not inside the disc"
    mixed, kept = paste(x, index, mask)
    assert torch.equal(mixed[1][:, mask[1, 0]], img[:, mask[1, 0]])
    assert kept[1] == pytest.approx(1 - mask[1].float().mean().item())


def test_peak_box_area_matches_lambda_and_clips():
    sal = torch.zeros(3, 20, 20)
    sal[0, 10, 10] = sal[1, 0, 0] = sal[2, 19, 5] = 1
    lam = torch.tensor([0.75, 0.75, 0.0])
    mask = peak_box_mask(sal, lam)
    assert mask[0].sum() == 100  # side sqrt(0.25)*20 = 10, inside the image
    assert mask[1].sum() == 25  # clipped at the corner: 5 x 5
    assert mask[1, 0, 0, 0] and not mask[1, 0, 5, 5]
    assert not peak_box_mask(sal, torch.ones(3)).any()  # lam = 1: empty box


def test_topk_grid_mask_pastes_exactly_topk_cells():
    g = torch.Generator().manual_seed(0)
    att = torch.rand(2, 7, 7, generator=g)
    mask = topk_grid_mask(att, 6, 28, 28)
    cells = mask[:, 0].reshape(2, 7, 4, 7, 4).all(-1).all(2)  # every cell fully in or out
    assert torch.equal(cells, mask[:, 0].reshape(2, 7, 4, 7, 4).any(-1).any(2))
    for b in range(2):
        top = set(att[b].flatten().topk(6).indices.tolist())
        assert set(torch.nonzero(cells[b].flatten()).flatten().tolist()) == top


class _FakeNet(nn.Module):
    """features(x) = a fixed 7x7 map per image (given by the image's mean value)."""

    def __init__(self, maps: torch.Tensor) -> None:
        super().__init__()
        self.maps = maps
        self.lin = nn.Linear(1, 3)

    def features(self, x):
        return self.maps[x.float().mean((1, 2, 3)).round().long()].unsqueeze(1)


def test_attentive_cutmix_pastes_topk_cells_of_partner_and_labels_by_area():
    g = torch.Generator().manual_seed(3)
    maps = torch.rand(4, 7, 7, generator=g)
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 28, 28).contiguous()
    y = torch.arange(4)
    s = build_strategy("attentive-cutmix:base=none,k=6")
    ctx = Context(_FakeNet(maps), torch.device("cpu"), 4, torch.Generator().manual_seed(0))
    batch = s.make_batch(x, y, ctx)
    for i in range(4):
        src = batch.x[i, 0] != i
        if not src.any():
            continue  # own partner
        j = int(batch.x[i, 0][src][0])
        cells = src.reshape(7, 4, 7, 4).all(-1).all(1)
        assert set(torch.nonzero(cells.flatten()).flatten().tolist()) == set(
            maps[j].flatten().topk(6).indices.tolist()
        )
        assert batch.y[i, j].item() == pytest.approx(6 / 49, abs=1e-6)
        assert batch.y[i, i].item() == pytest.approx(43 / 49, abs=1e-6)


def test_binary_cut_is_exact_and_swap_never_worse():
    rng = np.random.default_rng(0)
    b, n = 6, 3
    unary = rng.normal(size=(b, n, n, 3))
    wh, wv = rng.uniform(0, 1, (b, n, n - 1)), rng.uniform(0, 1, (b, n - 1, n))
    lab = swap_labelling(unary[..., :2], wh, wv, [0.0, 1.0])
    e = grid_energy(lab, unary[..., :2], wh, wv, [0.0, 1.0])
    allc = np.array(list(itertools.product(range(2), repeat=n * n))).reshape(-1, n, n)
    for i in range(b):
        rep = lambda a, i=i: np.repeat(a[i : i + 1], len(allc), 0)  # noqa: E731
        best = grid_energy(allc, rep(unary[..., :2]), rep(wh), rep(wv), [0.0, 1.0]).min()
        assert e[i] == pytest.approx(best, abs=1e-6)
    vals = [0.0, 0.5, 1.0]
    lab3 = swap_labelling(unary, wh, wv, vals)
    init = unary.argmin(-1)
    assert (grid_energy(lab3, unary, wh, wv, vals) <= grid_energy(init, unary, wh, wv, vals) + 1e-9).all()
    assert not binary_cut(
        np.zeros((1, 2, 2)), np.ones((1, 2, 2)), np.zeros((1, 2, 1)), np.zeros((1, 1, 2))
    ).any()


def _blob_saliency(b, h, seed):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(h).float(), indexing="ij")
    c = torch.rand(b, 2, generator=g) * h
    d2 = (yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * (h / 5) ** 2)) + 0.05 * torch.rand(b, h, h, generator=g)


def test_puzzlemix_mask_follows_lambda():
    """The label prior is a per-block Binomial(L-1, lam) log-prior: it biases, it does not pin.

    So we test (a) for one pair of images the mask mean never decreases as lam grows and spans
    (almost) partner-only to self-only; (b) over random pairs, the mean |mask mean - lam| stays
    below 1/3 -- the largest distance between lam and the prior's own optimum (the binomial mode
    of Binom(2, lam)), which is where the prior alone would put the mask.
    """
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    sal = _blob_saliency(2, 28, 0)
    lams = torch.linspace(0.02, 0.98, 9)
    k = len(lams)
    xs, ss = x[:1].expand(k, -1, -1, -1), sal[:1].expand(k, -1, -1)
    xb, sb = torch.cat([xs, x[1:].expand(k, -1, -1, -1)]), torch.cat([ss, sal[1:].expand(k, -1, -1)])
    index = torch.cat([torch.arange(k) + k, torch.arange(k)])
    lam = torch.cat([lams, 1 - lams])
    mean = puzzle_mask(xb, sb, index, lam, 7).flatten(1).mean(1)[:k]
    assert (mean[1:] >= mean[:-1] - 1e-6).all(), mean
    assert mean[-1] - mean[0] >= 0.5  # the prior moves at least half the image across lam
    b = 64
    x = torch.rand(b, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    lam = torch.rand(b, generator=torch.Generator().manual_seed(3))
    index = torch.roll(torch.arange(b), 1)
    mean = puzzle_mask(x, _blob_saliency(b, 28, 4), index, lam, 4).flatten(1).mean(1)
    assert (mean - lam).abs().mean() < 1 / 3


def test_puzzlemix_smoothness_reduces_label_boundaries():
    b = 32
    x = torch.rand(b, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    sal = torch.rand(b, 28, 28, generator=torch.Generator().manual_seed(6)) ** 3
    index, lam = torch.roll(torch.arange(b), 1), torch.full((b,), 0.5)

    def boundaries(beta):
        m = puzzle_mask(x, sal, index, lam, 14, beta=beta, gamma=0.0, n_labels=2)
        return ((m[:, 1:] != m[:, :-1]).sum() + (m[:, :, 1:] != m[:, :, :-1]).sum()).item()

    assert boundaries(20.0) < 0.5 * boundaries(0.0)


def test_transport_never_decreases_exposed_saliency_and_moves_blocks():
    g = torch.Generator().manual_seed(7)
    for n in (2, 4, 7, 14):
        z = torch.rand(16, n, n, generator=g) > 0.5
        s = torch.rand(16, n, n, generator=g) ** 4
        s = s / s.flatten(1).sum(1).view(-1, 1, 1)
        src = transport_plan(z, s, eps=0.1)
        sf, zf, ident = s.flatten(1), z.flatten(1).float(), torch.arange(n * n).expand(16, -1)
        assert (exposed_saliency(src, sf, zf) >= exposed_saliency(ident, sf, zf) - 1e-7).all()
        if n >= 4:
            assert (exposed_saliency(src, sf, zf) > exposed_saliency(ident, sf, zf) + 1e-6).any()


def test_comixup_targets_are_area_fractions_and_icm_descends():
    b, k = 10, 10
    g = torch.Generator().manual_seed(8)
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 1, 28, 28) / 10
    t = torch.eye(k)[torch.arange(b)]
    sal = _blob_saliency(b, 28, 9) ** 4
    mixed, target, src = comixup(x, t, sal, 7, g, m_part=4)
    assert torch.allclose(target.sum(1), torch.ones(b))
    frac = torch.stack([(mixed[:, 0] * 10).round().long().eq(i).float().mean((1, 2)) for i in range(b)], 1)
    assert torch.allclose(target, frac, atol=1e-6)
    assert (target.max(1).values < 1).any(), "some outputs must mix several inputs"
    unary = torch.randn(4, 5, 6, 6, generator=g)
    lab0 = torch.randint(5, (4, 6, 6), generator=g)
    lab1 = icm_potts(unary, lab0, 0.7, 3)

    def energy(lab):
        e = torch.gather(unary, 1, lab.unsqueeze(1)).sum((1, 2, 3))
        return e + 0.7 * (
            (lab[:, 1:] != lab[:, :-1]).sum((1, 2)) + (lab[:, :, 1:] != lab[:, :, :-1]).sum((1, 2))
        )

    assert (energy(lab1) <= energy(lab0) + 1e-5).all()
    cost = torch.randn(2, 3, 4, 4, generator=g)
    assert comixup_objective(cost, torch.zeros(2, 3, 4, 4, dtype=torch.long), 0.1, 1.0).shape == (2,)


def _setup(name, device="cpu", seed=0, b=12):
    model = build_model("small_cnn", 1, 10, [0.3], [0.3], generator=0).to(device)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, 1, 28, 28, generator=g) * 255).to(torch.uint8).to(device)
    x[:, :, 8:20, 8:20] = 250  # an object to be salient
    y = torch.randint(10, (b,), generator=g).to(device)
    ctx = Context(model, torch.device(device), 10, torch.Generator().manual_seed(seed + 1), 0.1)
    s = build_strategy(name)
    s.setup(ctx)
    return model, x, y, ctx, s


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_rows_sum_to_one_no_leftover_grad(name):
    model, x, y, ctx, s = _setup(name)
    model.train()
    batch = s.make_batch(x, y, ctx)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters()), "saliency pass left gradients"
    assert batch.x.shape == x.shape and batch.x.dtype == x.dtype
    assert batch.y.shape == (12, 10) and torch.allclose(batch.y.sum(1), torch.ones(12), atol=1e-5)
    assert batch.y.min() >= 0.01 * 0.999  # label smoothing 0.1 folded in: every class >= eps/K
    loss = s.loss(model, batch, ctx)
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bits(name):
    a = _setup(name)
    b = _setup(name)
    ba, bb = a[4].make_batch(*a[1:4]), b[4].make_batch(*b[1:4])
    assert torch.equal(ba.x, bb.x) and torch.equal(ba.y, bb.y)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(name):
    if name != "attentive-cutmix":
        with pytest.raises(ValueError, match="alpha"):
            build_strategy(f"{name}:alpha=0")
        with pytest.raises(ValueError, match="alpha"):
            build_strategy(f"{name}:alpha=-1")
    model, x, y, ctx, s = _setup(name)
    with pytest.raises(ValueError, match="at least 2"):
        s.make_batch(x[:1], y[:1], ctx)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        s.make_batch(x, torch.full_like(y, 10), ctx)
    with pytest.raises(ValueError, match="same number"):
        s.make_batch(x, y[:5], ctx)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    cpu, gpu = _setup(name), _setup(name, device="cuda")
    bc, bg = cpu[4].make_batch(*cpu[1:4]), gpu[4].make_batch(*gpu[1:4])
    assert bg.x.device.type == "cuda"
    assert torch.allclose(bc.y, bg.y.cpu(), atol=1e-4) or name in ("puzzlemix", "comixup-simplified")
    assert torch.isfinite(gpu[4].loss(gpu[0], bg, gpu[3]))
