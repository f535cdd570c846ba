"""Sample-selective augmentation (issue 8): SPA and uncertainty-based sampling."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from augkit.models import build_model
from augkit.selective import loss_pass, select_copies
from augkit.strategies import Batch, Context, Strategy, build_strategy
from augkit.strategies.selective import SelfPacedAugmentation, UncertaintySampling

from .conftest import photos

K = 10


class IndexLogits(nn.Module):
    """Logits looked up by the sample index written into pixel (0, 0): losses we control."""

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table.clone())

    def forward(self, x: Tensor) -> Tensor:
        idx = (
            x[:, 0, 0, 0].round().long()
            if not x.is_floating_point()
            else (x[:, 0, 0, 0] * 255).round().long()
        )
        return self.table[idx]


class Mark(Strategy):
    """Inner 'augmentation' that sets pixel (1, 1) to 255 and counts its calls."""

    name = "mark"

    def __init__(self) -> None:
        self.calls = 0

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        self.calls += 1
        out = x.clone()
        out[:, :, 1, 1] = 255
        return out


class FloatMix(Strategy):
    """A mixing-like inner strategy: float images, soft targets, per-sample weights."""

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xf = x.float() / 255.0
        mixed = 0.5 * (xf + xf.flip(0))
        t = torch.full((x.shape[0], ctx.num_classes), 1.0 / ctx.num_classes)
        return Batch(mixed, t, torch.full((x.shape[0],), 2.0))


def indexed_batch(n: int) -> tuple[Tensor, Tensor]:
    x = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return x, torch.zeros(n, dtype=torch.long)


def controlled_model(n: int) -> tuple[IndexLogits, Tensor]:
    """Sample i has loss (label 0) spread from ~0.01 to ~4.6; returns the model and losses.

    Logit 0 of sample i is ``a_i`` and the other K - 1 are 0, so its cross-entropy against
    label 0 is ``log(1 + (K - 1) exp(-a_i))``, computed here by hand in float64 (not with the
    cross-entropy the strategy's loss pass uses).
    """
    a = torch.linspace(7.0, -2.0, n)
    table = torch.zeros(n, K)
    table[:, 0] = a
    model = IndexLogits(table)
    losses = torch.log1p((K - 1) * torch.exp(-a.double()))
    return model, losses


def hand_ce_label0(logits: Tensor) -> Tensor:
    """Cross-entropy against label 0 written out: log sum_j exp(z_j) - z_0, float64."""
    z = logits.detach().double()
    return z.exp().sum(1).log() - z[:, 0]


def ctx_for(model: nn.Module, seed: int = 0, device: str = "cpu") -> Context:
    return Context(model, torch.device(device), K, torch.Generator().manual_seed(seed))


def marked(batch: Batch) -> Tensor:
    return batch.x[:, 0, 1, 1] == (255 if not batch.x.is_floating_point() else 1.0)


# --- SPA ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lam,expect", [(0.0, True), (math.inf, False)])
def test_spa_lambda_zero_augments_all_and_inf_none(lam: float, expect: bool) -> None:
    model, _ = controlled_model(16)
    x, y = indexed_batch(16)
    spa = SelfPacedAugmentation(lam, Mark())
    ctx = ctx_for(model)
    spa.on_epoch_start(ctx)
    batch = spa.make_batch(x, y, ctx)
    assert marked(batch).tolist() == [expect] * 16
    assert spa.on_epoch_end(ctx)["spa_fraction_augmented"] == float(expect)
    assert spa.inner.calls == int(expect)  # no sample selected: the inner strategy is not called


def test_spa_lambda_zero_is_the_inner_augmentation_bit_for_bit() -> None:
    model = build_model("small_cnn", 1, K, [0.3], [0.3], generator=0)
    x = photos(28, 28, 1)
    y = torch.arange(x.shape[0]) % K
    a = build_strategy("spa:lambda=0,aug=flip+crop").make_batch(x, y, ctx_for(model, 3))
    b = build_strategy("standard").make_batch(x, y, ctx_for(model, 3))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_spa_selects_by_losses_before_the_update() -> None:
    n, lam = 32, 1.0
    model, losses = controlled_model(n)
    expected = losses >= lam
    assert 0 < int(expected.sum()) < n
    x, y = indexed_batch(n)
    spa = SelfPacedAugmentation(lam, Mark())
    ctx = ctx_for(model)
    batch = spa.make_batch(x, y, ctx)
    assert marked(batch).tolist() == expected.tolist()
    # the selection pass did not touch the weights; the update that follows does
    assert torch.equal(model.table.detach()[:, 0], torch.linspace(7.0, -2.0, n))
    opt = torch.optim.SGD(model.parameters(), lr=50.0)
    loss = spa.loss(model, batch, ctx)
    loss.backward()
    opt.step()
    after = hand_ce_label0(model.table) >= lam
    assert not torch.equal(after, expected)  # the test could tell pre- from post-update losses
    assert marked(spa.make_batch(x, y, ctx)).tolist() == after.tolist()  # next step: new weights


def test_spa_merge_with_a_mixing_inner_strategy() -> None:
    n = 12
    model, losses = controlled_model(n)
    x, y = indexed_batch(n)
    spa = SelfPacedAugmentation(1.0, FloatMix())
    batch = spa.make_batch(x, y, ctx_for(model))
    sel = losses >= 1.0
    assert batch.x.dtype == torch.float32
    assert torch.equal(batch.x[~sel], x[~sel].float() / 255.0)  # unselected rows untouched
    assert torch.equal(batch.y[~sel], F.one_hot(y[~sel], K).float())
    assert torch.allclose(batch.y[sel], torch.full((int(sel.sum()), K), 0.1))
    assert batch.weight is not None
    assert batch.weight[~sel].eq(1).all() and batch.weight[sel].eq(2).all()
    # the selected samples mix among themselves only
    xs = x[sel].float() / 255.0
    assert torch.equal(batch.x[sel], 0.5 * (xs + xs.flip(0)))


def test_spa_logs_fraction_and_loss_variance() -> None:
    n = 32
    model, losses = controlled_model(n)
    x, y = indexed_batch(n)
    spa = SelfPacedAugmentation(1.0, Mark())
    ctx = ctx_for(model)
    spa.on_epoch_start(ctx)
    t0 = time.perf_counter()
    for v in (1.0, 2.0, 3.0):
        spa.make_batch(x, y, ctx)
        spa.on_step_end(ctx, {"loss": v})
    wall = time.perf_counter() - t0
    out = spa.on_epoch_end(ctx)
    assert out["spa_fraction_augmented"] == pytest.approx((losses >= 1.0).float().mean().item())
    assert out["spa_loss_variance"] == pytest.approx(1.0)  # sample variance of 1, 2, 3
    assert out["spa_mean_sample_loss"] == pytest.approx(losses.mean().item(), rel=1e-5)
    # the mean per-step time of the selection pass: it ran (> 0), in seconds, per step (so at
    # most a third of the wall time of the three steps that contain it)
    assert 0 < out["spa_select_seconds"] <= wall / 3, (out["spa_select_seconds"], wall)
    state = spa.state_dict()
    other = SelfPacedAugmentation(1.0, Mark())
    other.load_state_dict(state)
    assert other.on_epoch_end(ctx) == out


# --- the loss pass --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_loss_pass_leaves_parameters_and_bn_statistics_alone(mode: str) -> None:
    model = build_model("small_cnn", 1, K, [0.3], [0.3], generator=0)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = photos(28, 28, 1)
    y = torch.arange(x.shape[0]) % K
    losses = loss_pass(model, x, y, mode)
    assert losses.shape == (x.shape[0],) and torch.isfinite(losses).all() and not losses.requires_grad
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the mode matters (batch statistics vs running statistics): the option is not a no-op
    other = loss_pass(model, x, y, "train" if mode == "eval" else "eval")
    assert not torch.allclose(losses, other)
    # and a plain train-mode forward does move BN running stats (what train mode must undo)
    model(x.float() / 255.0)
    assert not all(torch.equal(before[k], model.state_dict()[k]) for k in before)


# --- uncertainty-based sampling -------------------------------------------------------------


def test_select_copies_topc_picks_the_highest_losses() -> None:
    losses = torch.tensor([[0.1, 3.0, 2.0, 0.5], [5.0, 0.2, 0.3, 4.0]])
    idx = select_copies(losses, 2, "topc", torch.Generator().manual_seed(0))
    assert [sorted(r) for r in idx.tolist()] == [[1, 2], [0, 3]]
    assert select_copies(losses, 1, "topc", torch.Generator()).squeeze(1).tolist() == [1, 0]


def test_select_copies_proportional_follows_the_loss_distribution() -> None:
    from scipy.stats import chisquare

    p = torch.tensor([1.0, 2.0, 3.0, 4.0])
    n = 20000
    idx = select_copies(p.expand(n, 4), 1, "proportional", torch.Generator().manual_seed(1)).squeeze(1)
    counts = torch.bincount(idx, minlength=4).double()
    assert chisquare(counts.numpy(), (n * p / p.sum()).double().numpy()).pvalue > 1e-3
    assert chisquare(counts.numpy(), [n / 4] * 4).pvalue < 1e-6  # clearly not uniform
    two = select_copies(p.expand(500, 4), 2, "proportional", torch.Generator().manual_seed(2))
    assert (two[:, 0] != two[:, 1]).all()  # without replacement


class MeanLogits(nn.Module):
    """Logit 0 is 20 x the image's mean intensity (in [0, 1]), the others 0; records its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.detach().clone())
        scale = 255.0 if x.dtype == torch.uint8 else 1.0
        z = torch.zeros(x.shape[0], K)
        z[:, 0] = 20.0 * x.float().mean(dim=(1, 2, 3)) / scale
        return z


def mean_logits_loss(x: Tensor, y: Tensor) -> Tensor:
    """MeanLogits' cross-entropy by hand, float64: log(e^a + K - 1) - [y = 0] a, a = 20 mean(x)."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    a = 20.0 * x.double().mean(dim=(1, 2, 3)) / scale
    return torch.log(torch.exp(a) + (K - 1)) - torch.where(y == 0, a, torch.zeros_like(a))


def test_uncertainty_trains_on_the_top_c_copies_of_one_batched_pass() -> None:
    """Expected selection from losses computed by hand on the copies the model was shown.

    Label 0's loss falls with brightness, every other label's rises, so the chosen copies of
    example 0 are its darkest and of the others their brightest: a selection by the wrong sign,
    by index, or from another example's copies fails.
    """
    model = MeanLogits()
    x = photos(28, 28, 1)
    b, l_, c = x.shape[0], 6, 2
    y = torch.arange(b) % K
    strat = build_strategy(f"uncertainty:l={l_},c={c}")
    assert isinstance(strat, UncertaintySampling)
    batch = strat.make_batch(x, y, Context(model, torch.device("cpu"), K, torch.Generator().manual_seed(5)))
    assert len(model.seen) == 1 and model.seen[0].shape == (b * l_, 1, 28, 28)  # one batched pass
    copies = model.seen[0].view(b, l_, 1, 28, 28)
    assert batch.x.shape == (b * c, 1, 28, 28)
    chosen = batch.x.view(b, c, 1, 28, 28)
    not_first = 0
    for i in range(b):
        for p, q in itertools.combinations(range(l_), 2):
            assert not torch.equal(copies[i, p], copies[i, q]), (i, p, q)  # copies differ
        loss = mean_logits_loss(copies[i], y[i].expand(l_))
        picks = []
        for row in chosen[i]:  # example-major: rows i*c .. i*c + c - 1 are copies of example i
            match = [j for j in range(l_) if torch.equal(copies[i, j], row)]
            assert len(match) == 1, f"example {i}: a training row is not one of its copies"
            picks += match
        assert len(set(picks)) == c
        top = loss.sort(descending=True).values[:c]
        assert torch.allclose(loss[picks].sort(descending=True).values, top, atol=1e-6, rtol=0), (i, loss)
        not_first += sorted(picks) != list(range(c))
    assert not_first > 0  # the selection is not simply the first c copies
    assert torch.equal(batch.y.argmax(1), y.repeat_interleave(c))


@pytest.mark.parametrize("spec", ["spa:lambda=1.5,aug=flip+crop", "uncertainty:l=4,c=2,select=proportional"])
def test_same_seed_same_bits(spec: str) -> None:
    x = photos(28, 28, 1)
    y = torch.arange(x.shape[0]) % K
    outs = []
    for _ in range(2):
        model = build_model("small_cnn", 1, K, [0.3], [0.3], generator=0)
        s = build_strategy(spec)
        ctx = ctx_for(model, 11)
        outs.append([s.make_batch(x, y, ctx).x for _ in range(2)])
    assert all(torch.equal(a, b) for a, b in zip(outs[0], outs[1], strict=True))


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("spa:lambda=-1", "lambda"),
        ("spa:lambda=abc", "lambda"),
        ("spa:aug=nosuch", "aug='nosuch'"),
        ("spa:mode=test", "mode"),
        ("spa:aug=spa", "spa"),
        ("uncertainty:l=0", "l must"),
        ("uncertainty:l=2,c=3", "c must"),
        ("uncertainty:c=0", "c must"),
        ("uncertainty:select=best", "select"),
        ("uncertainty:mode=x", "mode"),
        ("uncertainty:base=odd", "base"),
    ],
)
def test_bad_options_raise_clear_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        build_strategy(spec)


def test_spa_refuses_strategies_that_train_through_their_loss() -> None:
    class OwnLoss(Strategy):
        def loss(self, model, batch, ctx):  # noqa: ANN001, ANN201
            return super().loss(model, batch, ctx)

    with pytest.raises(ValueError, match="own loss"):
        SelfPacedAugmentation(0.1, OwnLoss())
    with pytest.raises(ValueError, match="select"):
        select_copies(torch.ones(2, 3), 1, "max", torch.Generator())


@pytest.mark.parametrize(
    "spec", ["spa:lambda=0.1,aug=translation", "uncertainty:l=4,c=1", "uncertainty:l=3,c=2"]
)
def test_one_real_training_step_gives_a_finite_loss(spec: str) -> None:
    model = build_model("small_cnn", 1, K, [0.3], [0.3], generator=0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.randint(0, K, (32,), generator=g)
    s = build_strategy(spec)
    ctx = ctx_for(model)
    s.setup(ctx)
    s.on_epoch_start(ctx)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    batch = s.make_batch(x, y, ctx)
    loss = s.loss(model, batch, ctx)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    s.on_step_end(ctx, {"loss": loss.item()})
    logged = s.on_epoch_end(ctx)
    assert logged and all(math.isfinite(v) for v in logged.values())
    assert s.preview(x, y, ctx).shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_selection_matches_cpu() -> None:
    n = 32
    model, losses = controlled_model(n)
    x, y = indexed_batch(n)
    spa = SelfPacedAugmentation(1.0, Mark())
    cpu = spa.make_batch(x, y, ctx_for(model))
    gpu = spa.make_batch(x.cuda(), y.cuda(), ctx_for(model.cuda(), device="cuda"))
    assert torch.equal(marked(cpu), marked(gpu).cpu())
    net = build_model("small_cnn", 1, K, [0.3], [0.3], generator=0).cuda()
    xs = photos(28, 28, 1).cuda()
    ys = torch.arange(xs.shape[0], device="cuda") % K
    for spec in ("uncertainty:l=4,c=2", "uncertainty:l=4,c=1,select=proportional"):
        b = build_strategy(spec).make_batch(xs, ys, ctx_for(net, device="cuda"))
        assert b.x.is_cuda and torch.isfinite(build_strategy(spec).loss(net, b, ctx_for(net)))


def test_spa_report_figure_only_for_spa_runs(tmp_path) -> None:  # noqa: ANN001
    from augkit.report.fig_selective import figures

    def run(spec: str, frac: float) -> dict:
        keys = ("spa_fraction_augmented", "spa_loss_variance")
        rows = [{"epoch": e + 1, keys[0]: frac, keys[1]: 0.1 * e} for e in range(3)]
        return {"strategy": spec, "seed": 0, "complete": True, "run_dir": str(tmp_path), "metrics": rows}

    from augkit.experiment import method_specs

    names = ["spa:lambda=0.1,aug=flip", "spa:lambda=0,aug=flip", "spa:lambda=0,aug=translation", "none"]
    runs = [run(names[0], 0.5), run(names[1], 1.0), run(names[2], 0.7), run("none", 0.0)]
    specs = method_specs(names)
    assert specs["spa:lambda=0.1,aug=flip"].figures is figures and specs["none"].figures is None
    figs = figures(runs, names[0], specs, tmp_path)  # SPA and CA with aug=flip share one figure
    assert len(figs) == 1 and figs[0].png.startswith(b"\x89PNG") and "flip" in figs[0].name
    other = figures(runs, names[2], specs, tmp_path)  # aug=translation: a figure of its own
    assert len(other) == 1 and other[0].name != figs[0].name
