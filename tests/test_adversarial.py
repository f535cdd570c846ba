"""Adversarial AutoAugment (Zhang et al., ICLR 2020): controller, decoding, M*N batches, replay."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from augkit.adversarial import (
    NUM_TOKENS,
    PAPER_OPS,
    TOKEN_SIZES,
    Controller,
    apply_policies,
    decode,
    normalise,
    random_tokens,
    split_tokens,
)
from augkit.models import build_model
from augkit.policies import Policy
from augkit.space import OPS
from augkit.strategies import Context, build_strategy
from augkit.strategies.adversarial import HISTORY_FILE, SCHEDULE_FILE, PolicyTables, schedule_strategy
from tests.conftest import photos

CUDA = torch.cuda.is_available()
OP_POSITIONS = list(range(0, NUM_TOKENS, 2))


def _ctx(model=None, seed=0, out_dir=None, epochs=3, device="cpu", classes=10) -> Context:
    return Context(
        model or nn.Identity(),
        torch.device(device),
        classes,
        torch.Generator().manual_seed(seed),
        epochs=epochs,
        config={"seed": seed},
        out_dir=out_dir,
    )


def _op_share(c: Controller, tokens: torch.Tensor, op: int) -> float:
    probs = c.probabilities(tokens)
    return torch.stack([probs[t][:, op] for t in OP_POSITIONS]).mean().item()


# --- controller -----------------------------------------------------------------------------


@pytest.mark.parametrize("lr,steps", [(0.00035, 25), (0.01, 40)])
def test_reinforce_raises_probability_of_the_op_with_higher_loss(lr, steps):
    """Toy target: policies with more Rotate tokens have a higher loss -> Rotate's probability rises;
    with the reward negated it falls (the update ascends the loss, Eq. 9)."""
    rotate = PAPER_OPS.index("Rotate")
    probe = random_tokens(64, torch.Generator().manual_seed(9))
    shares = {}
    for sign in (1.0, -1.0):
        g = torch.Generator().manual_seed(0)
        c = Controller(torch.Generator().manual_seed(1), lr=lr)
        before = _op_share(c, probe, rotate)
        for _ in range(steps):
            tokens = c.sample(16, g)
            loss = (tokens[:, OP_POSITIONS] == rotate).float().sum(1)  # L_m of the toy target
            c.reinforce(tokens, sign * normalise(loss))
        shares[sign] = (before, _op_share(c, probe, rotate))
    assert shares[1.0][1] > shares[1.0][0] > shares[-1.0][1]
    if lr >= 0.01:
        assert shares[1.0][1] > 3 * shares[1.0][0]  # 1/16 -> clearly dominant


def test_controller_shapes_log_probs_and_entropy():
    c = Controller(torch.Generator().manual_seed(0))
    assert sum(p.numel() for p in c.cell.parameters()) == 4 * 100 * (32 + 100 + 2)
    assert c.start.shape == (1, 32) and c.optimizer.param_groups[0]["lr"] == 0.00035
    tokens = c.sample(8, torch.Generator().manual_seed(1))
    assert tokens.shape == (8, NUM_TOKENS) and tokens.dtype == torch.int64
    lp, ent = c.log_prob_entropy(tokens)
    probs = c.probabilities(tokens)
    manual = sum(probs[t].gather(1, tokens[:, t : t + 1])[:, 0].log() for t in range(NUM_TOKENS))
    torch.testing.assert_close(lp.detach(), manual, rtol=1e-5, atol=1e-4)
    uniform_entropy = sum(torch.log(torch.tensor(float(s))) for s in TOKEN_SIZES)
    assert (ent <= uniform_entropy + 1e-4).all() and (ent > 0.95 * uniform_entropy).all()  # near-uniform init
    before = c.probabilities(tokens)
    stats = c.reinforce(tokens, normalise(torch.arange(8.0)))
    assert all(torch.allclose(p, q) for p, q in zip(before, stats["probs"], strict=True))
    assert not torch.allclose(before[0], c.probabilities(tokens)[0])  # the step moved the controller
    assert normalise(torch.tensor([1.0, 1.0])).abs().max() == 0
    r = normalise(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert abs(r.mean().item()) < 1e-6 and abs(r.std(unbiased=False).item() - 1) < 1e-5


def test_controller_leaves_global_rng_alone_and_is_seeded():
    state = torch.random.get_rng_state()
    a = Controller(torch.Generator().manual_seed(3)).sample(4, torch.Generator().manual_seed(4))
    b = Controller(torch.Generator().manual_seed(3)).sample(4, torch.Generator().manual_seed(4))
    c = Controller(torch.Generator().manual_seed(5)).sample(4, torch.Generator().manual_seed(4))
    assert torch.equal(state, torch.random.get_rng_state())
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_controller_state_round_trip_gives_identical_samples_and_updates():
    g = torch.Generator().manual_seed(0)
    c1 = Controller(torch.Generator().manual_seed(1))
    t = c1.sample(8, g)
    c1.reinforce(t, normalise(torch.arange(8.0)))
    c2 = Controller(torch.Generator().manual_seed(99))
    c2.load_full_state(c1.full_state())
    ga, gb = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ta, tb = c1.sample(8, ga), c2.sample(8, gb)
    assert torch.equal(ta, tb)
    r = normalise(torch.linspace(0, 1, 8))
    sa, sb = c1.reinforce(ta, r), c2.reinforce(tb, r)
    assert all(sa[k] == sb[k] for k in ("controller_loss", "entropy", "log_prob"))
    assert all(torch.equal(p, q) for p, q in zip(sa["probs"], sb["probs"], strict=True))
    for p, q in zip(c1.parameters(), c2.parameters(), strict=True):
        assert torch.equal(p, q)


# --- decoding -------------------------------------------------------------------------------


def _valid(tables) -> None:
    for table in tables:
        assert len(table) == 5 and all(len(sp) == 2 for sp in table)
        for sp in table:
            for op, p, m in sp:
                assert op in PAPER_OPS and p == 1.0 and 0.0 <= m <= 0.9
        Policy(table)  # the library's own validation accepts it


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.integers(0, s - 1) for s in TOKEN_SIZES]))
def test_every_token_string_decodes_to_a_valid_policy(tokens):
    _valid(decode(torch.tensor(tokens)))


def test_random_and_sampled_tokens_decode_and_bad_tokens_raise():
    g = torch.Generator().manual_seed(0)
    tokens = torch.cat([random_tokens(500, g), Controller(g).sample(100, g)])
    sizes = torch.tensor(TOKEN_SIZES)
    assert ((tokens >= 0) & (tokens < sizes)).all()
    _valid(decode(tokens))
    assert set(split_tokens(tokens)[0].flatten().tolist()) == set(range(16))  # every op reachable
    assert decode(tokens[:1], scale="full")[0][0][0][2] == int(tokens[0, 1]) / 9
    bad = tokens[0].clone()
    bad[1] = 10  # magnitude position: 0..9
    with pytest.raises(ValueError, match="position 1"):
        decode(bad)
    with pytest.raises(ValueError, match="shape"):
        decode(tokens[:, :19])
    with pytest.raises(ValueError, match="ops"):
        decode(tokens, ops="bogus")


# --- batches ----------------------------------------------------------------------------------


class MeanModel(nn.Module):
    """Logits [0, mean brightness * 8, 0, ...]: the per-sample loss is a known function of the image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.float().mean((1, 2, 3)) / 255.0 * 8
        return torch.stack([torch.zeros_like(v), v, *[torch.zeros_like(v)] * 8], 1)


def _brightness_tokens(levels: list[int]) -> torch.Tensor:
    """Policy m: every sub-policy is (Brightness level l_m, Brightness level 5 = factor 1)."""
    b = PAPER_OPS.index("Brightness")
    return torch.tensor([[b, lv, b, 5] * 5 for lv in levels])


def test_mn_batch_keeps_each_policy_contiguous_and_losses_per_policy_are_right():
    s = build_strategy("adversarial-autoaugment:m=4,base=none,cutout=0")
    ctx = _ctx(MeanModel())
    s.setup(ctx)
    s.on_epoch_start(ctx)
    levels = [9, 1, 5, 3]
    s._set_tokens(_brightness_tokens(levels))
    n = 6
    x = torch.full((n, 1, 8, 8), 100, dtype=torch.uint8)
    y = torch.zeros(n, dtype=torch.long)  # class 0: loss grows with brightness
    batch = s.make_batch(x, y, ctx)
    assert batch.x.shape == (4 * n, 1, 8, 8) and batch.y.shape == (4 * n, 10)
    expected = [round(100 * (0.1 + 1.8 * lv / 10)) for lv in levels]
    for m, v in enumerate(expected):
        block = batch.x[m * n : (m + 1) * n].float()
        assert (block - v).abs().max() <= 1, (m, block.unique(), v)
    loss = s.loss(ctx.model, batch, ctx)
    per = nn.functional.cross_entropy(MeanModel()(batch.x), batch.y.argmax(1), reduction="none")
    torch.testing.assert_close(loss, per.mean())
    torch.testing.assert_close(s.policy_losses(), per.view(4, n).mean(1))
    # the brightest policy has the highest loss -> the highest normalised reward
    assert normalise(s.policy_losses()).argmax().item() == 0
    rec = s.on_epoch_end(ctx)
    assert {"controller_loss", "controller_entropy", "policy_loss_mean"} <= set(rec)


def test_apply_policies_is_one_kernel_call_per_op_and_stage(monkeypatch):
    import augkit.policies as pol

    calls = []
    real = dict(OPS)
    for name in ("Invert", "Rotate"):
        spec = real[name]
        wrapped = lambda x, v, _k=spec.kernel, _n=name, **kw: (
            calls.append((_n, x.shape[0])),
            _k(x, v, **kw),
        )[1]
        monkeypatch.setitem(pol.OPS, name, type(spec)(**{**spec.__dict__, "kernel": wrapped}))
    # 8 policies, all sub-policies (Invert, Rotate): 8*16 images -> exactly one call per op and stage
    tables = PolicyTables.from_tokens(
        torch.tensor([[6, 0, 4, 3] * 5] * 8), "paper", "code"
    )  # Invert = 6, Rotate = 4
    x = photos(16, 16).repeat(64, 1, 1, 1)[:128]
    owner = torch.arange(8).repeat_interleave(16)
    apply_policies(x, tables.names, tables.ops, tables.mags, owner, torch.Generator().manual_seed(0))
    assert calls == [("Invert", 128), ("Rotate", 128)]


MODES = {
    "adversarial": (4, True, True),
    "random": (4, True, False),
    "fixed": (4, False, False),
    "baseline": (1, False, False),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_modes_behave_as_the_ablation(mode):
    copies, has_policy, learns = MODES[mode]
    s = build_strategy(f"adversarial-autoaugment:m=4,mode={mode}")
    ctx = _ctx(MeanModel())
    s.setup(ctx)
    s.on_epoch_start(ctx)
    x = photos(28, 28, 1)
    batch = s.make_batch(x, torch.arange(x.shape[0]) % 10, ctx)
    assert batch.x.shape[0] == copies * x.shape[0] and batch.x.dtype == torch.uint8
    assert (s.tables is not None) == has_policy and (s.controller is not None) == learns
    if copies > 1:  # independent base/cutout draws per copy
        assert not torch.equal(batch.x[: x.shape[0]], batch.x[x.shape[0] : 2 * x.shape[0]])
    s.loss(ctx.model, batch, ctx)
    rec = s.on_epoch_end(ctx)
    assert ("controller_loss" in rec) == learns
    assert ("policy_loss_spread" in rec) == (copies > 1)


def test_random_mode_draws_new_uniform_policies_every_epoch():
    s = build_strategy("adversarial-autoaugment:m=8,mode=random")
    ctx = _ctx()
    s.setup(ctx)
    s.on_epoch_start(ctx)
    first = s.tokens.clone()
    s.on_epoch_start(ctx)
    assert not torch.equal(first, s.tokens)


def test_invalid_options_raise():
    for text in (
        "adversarial-autoaugment:mode=bogus",
        "adversarial-autoaugment:m=0",
        "adversarial-autoaugment:scale=x",
        "adversarial-autoaugment:ops=x",
    ):
        with pytest.raises(ValueError):
            build_strategy(text)
    with pytest.raises(ValueError, match="file=PATH"):
        build_strategy("policy-schedule").setup(_ctx())
    with pytest.raises(ValueError, match="not a readable"):
        build_strategy("policy-schedule:file=/nonexistent/schedule.json")


# --- training, resume, replay -----------------------------------------------------------------


def _small_cnn(channels: int = 1) -> nn.Module:
    return build_model("small_cnn", channels, 10, (0.3,) * channels, (0.3,) * channels, generator=0)


def test_one_real_training_step_on_small_cnn_is_finite_and_records_losses():
    model = _small_cnn()
    ctx = _ctx(model)
    s = build_strategy("adversarial-autoaugment:m=2")
    s.setup(ctx)
    s.on_epoch_start(ctx)
    x = photos(28, 28, 1)
    batch = s.make_batch(x, torch.arange(x.shape[0]) % 10, ctx)
    loss = s.loss(model, batch, ctx)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert s.policy_losses().shape == (2,)


def _run_epochs(s, ctx, epochs, x):
    return [item for e in range(epochs) for item in _run_epochs_from(s, ctx, e, x)]


def test_strategy_resume_continues_exactly(tmp_path):
    x = photos(28, 28, 1)
    full = build_strategy("adversarial-autoaugment:m=3")
    ctx = _ctx(MeanModel(), out_dir=tmp_path / "a")
    (tmp_path / "a").mkdir()
    full.setup(ctx)
    ref = _run_epochs(full, ctx, 3, x)

    part = build_strategy("adversarial-autoaugment:m=3")
    ctx2 = _ctx(MeanModel(), out_dir=tmp_path / "b")
    (tmp_path / "b").mkdir()
    part.setup(ctx2)
    first = _run_epochs(part, ctx2, 1, x)
    state, gstate = part.state_dict(), ctx2.aug_generator.get_state()
    resumed = build_strategy("adversarial-autoaugment:m=3")
    ctx3 = _ctx(MeanModel(), seed=0, out_dir=tmp_path / "b")
    resumed.setup(ctx3)
    resumed.load_state_dict(state)
    ctx3.aug_generator.set_state(gstate)
    ctx3.epoch = 1
    rest = []
    for e in (1, 2):
        ctx3.epoch = e
        rest += _run_epochs_from(resumed, ctx3, e, x)
    got = first + rest
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
    ha = json.loads((tmp_path / "a" / HISTORY_FILE).read_text())
    hb = json.loads((tmp_path / "b" / HISTORY_FILE).read_text())
    assert ha == hb and len(ha["epochs"]) == 3


def _run_epochs_from(s, ctx, e, x):
    ctx.epoch = e
    out = []
    s.on_epoch_start(ctx)
    for k in range(2):
        batch = s.make_batch(x, (torch.arange(x.shape[0]) + k) % 10, ctx)
        s.loss(ctx.model, batch, ctx)
        out.append(batch.x)
    out.append(s.on_epoch_end(ctx))
    return out


def test_same_seed_same_bits():
    x = photos(28, 28, 1)
    runs = []
    for _ in range(2):
        s = build_strategy("adversarial-autoaugment:m=4")
        ctx = _ctx(MeanModel(), seed=3)
        s.setup(ctx)
        runs.append(_run_epochs(s, ctx, 2, x))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


def test_policy_schedule_json_round_trip_and_replay(tmp_path):
    x = photos(28, 28, 1)
    s = build_strategy("adversarial-autoaugment:m=3")
    ctx = _ctx(MeanModel(), out_dir=tmp_path, epochs=2)
    s.setup(ctx)
    _run_epochs(s, ctx, 2, x)
    path = tmp_path / SCHEDULE_FILE
    data = json.loads(path.read_text())
    assert data["type"] == "policy-schedule" and len(data["epochs"]) == 2
    assert data["epochs"][1]["policies"] == json.loads(json.dumps(decode(s.tokens)))
    hist = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert sum(hist["epochs"][0]["op_hist"]) == 3 * 10 and len(hist["epochs"][0]["mag_hist"]) == 10

    replay = build_strategy(f"policy-schedule:file={path},copies=3")
    rctx = _ctx(MeanModel(), epochs=2)
    rctx.epoch = 1
    replay.on_epoch_start(rctx)
    # same generator state -> the replayed M*N batch is bit-identical to the adversarial one
    ctx.aug_generator.manual_seed(11)
    rctx.aug_generator.manual_seed(11)
    y = torch.arange(x.shape[0]) % 10
    assert torch.equal(replay.make_batch(x, y, rctx).x, s.make_batch(x, y, ctx).x)
    # default: ordinary training, one image per input, policies drawn per image
    one = schedule_strategy(path)
    one.on_epoch_start(rctx)
    assert one.make_batch(x, y, rctx).x.shape == x.shape
    assert [one.entry_for(e, 6) for e in range(6)] == [0, 0, 0, 1, 1, 1]
    # the spelling, policy:file=..., replays the same schedule (bit-identical batch)
    alias = build_strategy(f"policy:file={path}")
    alias.on_epoch_start(rctx)
    rctx.aug_generator.manual_seed(5)
    a = alias.make_batch(x, y, rctx).x
    rctx.aug_generator.manual_seed(5)
    assert torch.equal(a, one.make_batch(x, y, rctx).x)
    with pytest.raises(ValueError, match="policy-schedule"):
        (tmp_path / "bad.json").write_text('{"type": "policy"}')
        schedule_strategy(tmp_path / "bad.json")


def test_report_figures_from_run_dir(tmp_path):
    from augkit.report.fig_adversarial import figures

    s = build_strategy("adversarial-autoaugment:m=2")
    ctx = _ctx(MeanModel(), out_dir=tmp_path, epochs=2)
    s.setup(ctx)
    x = photos(28, 28, 1)
    _run_epochs(s, ctx, 2, x)
    (tmp_path / "policy_gallery.png").write_bytes(s.gallery_png(x, torch.arange(x.shape[0])))
    figs = figures([{"strategy": "a", "seed": 0, "run_dir": str(tmp_path)}], "a", {}, tmp_path)
    assert [f.name for f in figs] == ["aaa_dynamics_a.png", "aaa_gallery_a.png"]
    assert all(f.png.startswith(b"\x89PNG") for f in figs)
    assert figures([{"strategy": "b", "seed": 0, "run_dir": str(tmp_path)}], "a", {}, tmp_path) == []
    logged = [{"epoch": e, "controller_entropy": 50.0 - e} for e in (1, 2)]
    run = {"strategy": "a", "seed": 0, "run_dir": str(tmp_path), "metrics": logged}
    names = [f.name for f in figures([run], "a", {}, tmp_path)]
    assert names == ["aaa_dynamics_a.png", "aaa_entropy_a.png", "aaa_gallery_a.png"]


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_batch_matches_cpu_and_records_losses():
    x = photos(28, 28, 1)
    y = torch.arange(x.shape[0]) % 10
    out = {}
    for dev in ("cpu", "cuda"):
        s = build_strategy("adversarial-autoaugment:m=4")
        ctx = _ctx(MeanModel(), seed=1, device=dev)
        s.setup(ctx)
        s.on_epoch_start(ctx)
        b = s.make_batch(x.to(dev), y.to(dev), ctx)
        s.loss(ctx.model, b, ctx)
        assert b.x.device.type == dev and s.policy_losses().shape == (4,)
        out[dev] = b.x.cpu().float()
    assert (out["cpu"] - out["cuda"]).abs().gt(1).float().mean() < 0.01
