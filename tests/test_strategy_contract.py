"""The Strategy protocol's contract (DESIGN §3), enrolled automatically from ``STRATEGIES``.

Every registered strategy -- including one registered after this file was written -- is run
through four checks on a real Fashion-MNIST batch (scikit-learn's digits as a fallback):

(a) ``make_batch`` returns soft targets that are probability rows ``(B', K)`` and images that
    are uint8 or float in [0, 1] of the input's (C, H, W); the input is not mutated and the
    loss is a finite scalar;
(b) the same generator seed gives the same bits from two freshly built strategies;
(c) ``state_dict`` round trip at an epoch boundary (what the train loop checkpoints): run
    strategy A for two epochs with real SGD steps, save its state through ``torch.save``,
    build B, ``setup``, ``load_state_dict``, give it A's generator state and model, and both
    must produce the same batches, losses and logs afterwards;
(d) a bad value of the first option raises ``ValueError`` naming the option key; an unknown
    key is refused with a message naming the valid keys.

Only expensive strategies get option overrides (:data:`OVERRIDES`).  Two cannot train from
their defaults and are given what a run gives them, with their bare forms checked to refuse
``setup`` explicitly: ``policy-schedule`` needs ``file=`` (a real schedule file is written
here), and a strategy that declares a search (``if-da``) needs the search's artefact before
``setup`` (:data:`ARTEFACTS` makes a real one -- an E/G network of the spec's sizes,
untrained: what the strategy does with an artefact is the contract; whether the search learns
a good one is tests/test_ifda.py's business).
"""

from __future__ import annotations

import io
import json
import math
import re
import types
from collections.abc import Callable

import pytest
import torch

from augkit import data as data_mod
from augkit.adversarial.decode import PAPER_OPS
from augkit.data import ImageDataset
from augkit.models import build_model
from augkit.patching import GroupedDataset
from augkit.strategies import STRATEGIES, Batch, Context, Strategy, build_strategy, parse_strategy

NAMES = sorted(STRATEGIES)
B = 8  # images per batch: small, but every mixer has partners
LABEL_SMOOTHING = 0.1  # folded into every target; rows must still sum to 1

# per-strategy option overrides, only to keep expensive ones fast (every name is still enrolled)
OVERRIDES: dict[str, str] = {
    "adversarial-autoaugment": "m=2",
    "if-da": "width=8,tau=8",  # the E/G network's size (its search is not run here)
}


def _ifda_artefact(spec: str, ds: ImageDataset) -> object:
    """What IF-DA's search hands the strategy (``load_artefact``): the E/G network and stage costs."""
    from augkit.ifda.stages import IFDAOptions
    from augkit.ifda.transforms import AugNet

    o = IFDAOptions.from_dict(parse_strategy(spec)[1])
    _, c, h, w = ds.train_x.shape
    aug = AugNet(
        c, (h, w), generator=torch.Generator().manual_seed(0), tau_dim=o.tau, mode=o.mode,
        combine=o.combine, width=o.width, dropout=o.dropout,
    )  # fmt: skip
    costs = {"3_train_eg": {"cpu_minutes": 0.25, "wall_seconds": 15.0, "cached": False}}
    return types.SimpleNamespace(aug=aug, costs=costs)


def _style_artefact(spec: str, ds: ImageDataset) -> object:
    """What style augmentation's search hands the strategy: an untrained AdaIN net and a style normal."""
    from augkit.generative.adain import StyleNet

    net = StyleNet(ds.train_x.shape[1])
    return types.SimpleNamespace(net=net, mean=torch.zeros(128), chol=torch.eye(128))


def _distill_artefact(spec: str, ds: ImageDataset) -> object:
    """What data distillation's search hands the strategy: pseudo-labeled pool images."""
    return types.SimpleNamespace(x=ds.train_x[:6], y=torch.arange(6) % ds.num_classes, summary={})


def _gan_artefact(spec: str, ds: ImageDataset) -> object:
    """What GAN augmentation's search hands the strategy: an untrained conditional DCGAN."""
    from augkit.generative.gan import ConditionalGAN

    _, c, h, _ = ds.train_x.shape
    return types.SimpleNamespace(gan=ConditionalGAN(c, h, ds.num_classes), summary={})


def _clamp_artefact(spec: str, ds: ImageDataset) -> object:
    """What CLAMP's search hands the strategy: one translated image per training image (here flips)."""
    return types.SimpleNamespace(translations=ds.train_x.flip(-1).contiguous(), summary={})


# strategies that declare a search get its artefact before setup, as the experiment layer does
ARTEFACTS: dict[str, Callable[[str, ImageDataset], object]] = {
    "if-da": _ifda_artefact,
    "style": _style_artefact,
    "distill": _distill_artefact,
    "gan": _gan_artefact,
    "clamp": _clamp_artefact,
}
# strategies that cannot run from their defaults and are given a real input instead
NEEDS_SCHEDULE_FILE = {"policy-schedule"}

# Declared departures from "one target row per image, images in [0, 1]", each with its reason.
# Multi-view batches: x holds VIEWS x the rows of y and the strategy's own loss() reads them.
MULTI_VIEW: dict[str, int] = {
    "augmix": 3,  # clean + two AugMix views; CE on the clean third + JSD
    "clamp": 2,  # originals + their CycleGAN translations; CE (GDRO) on the originals + consistency
}
# Float images allowed outside [0, 1] (still finite):
UNBOUNDED_FLOAT: dict[str, str] = {
    "bc": "BC+ mixes images as waveforms, (p z1 + (1 - p) z2) / sqrt(p^2 + (1 - p)^2) (Tokozume et al. 2018)",
}

# out-of-range values of each strategy's first option (checked in addition to an unparsable
# value, which every strategy gets); a newly registered strategy without an entry is still
# checked with the unparsable value
OUT_OF_RANGE: dict[str, str] = {
    "adversarial-autoaugment": "0",
    "attentive-cutmix": "0",
    "augmix": "0",
    "autoaugment": "nosuch",
    "bc": "maybe",
    "comixup": "0",
    "comixup-simplified": "-1",
    "cutmix": "0",
    "cutout": "-1",
    "distill": "0",
    "elastic": "-1",
    "erasing": "1.5",
    "gan": "0",
    "gdro": "-1",
    "clamp": "-1",
    "gridmask": "1.5",
    "hideandseek": "0",
    "if-da": "0",
    "label-smoothing": "1.5",
    "manifold-mixup": "0",
    "mixup": "-1",
    "mosaic": "0.9",
    "pba": "/nonexistent/schedule.json",
    "policy": "nosuch-op",
    "policy-schedule": "/nonexistent/policy_schedule.json",
    "puzzlemix": "0",
    "randaugment": "-1",
    "ricap": "0",
    "saliencymix": "0",
    "samplepairing": "1.5",
    "spa": "-1",
    "standard": "-1",
    "style": "1.5",
    "tanda": "/nonexistent/tanda.pt",
    "trivialaugment": "0",
    "uncertainty": "0",
}
# known defects (strict: the test fails once they are fixed, so the entry must then go)
OUT_OF_RANGE_XFAIL: dict[str, str] = {}  # none left: randaugment n / trivialaugment levels now named


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> ImageDataset:
    """A small real subset: B-image batches for the checks, and ``ctx.data`` as a run has it.

    It carries two subgroups per class (alternating within each class) so that the strategies
    that need subgroup labels (gdro, clamp) run on it like every other strategy."""
    name = "fashion-mnist" if data_mod.available("fashion-mnist") else "digits"
    ds = data_mod.load_dataset(name)
    idx = torch.randperm(ds.train_x.shape[0], generator=torch.Generator().manual_seed(0))[:48]
    y = ds.train_y[idx].clone()
    rank = torch.stack([(y[:i] == y[i]).sum() for i in range(y.numel())])
    return GroupedDataset(
        f"{name}-contract",
        ds.train_x[idx].clone(),
        y,
        ds.test_x[:16].clone(),
        ds.test_y[:16].clone(),
        ds.classes,
        train_groups=2 * y + rank % 2,
        test_groups=2 * ds.test_y[:16].clone(),
        group_names=tuple(f"{c}/{z}" for c in ds.classes for z in ("a", "b")),
    )


@pytest.fixture(scope="module")
def schedule_file(tmp_path_factory) -> str:  # noqa: ANN001
    """A real three-epoch policy schedule (two policies of two 2-op sub-policies per epoch)."""
    g = torch.Generator().manual_seed(0)

    def policy() -> list:
        return [
            [
                [
                    PAPER_OPS[int(torch.randint(len(PAPER_OPS), (1,), generator=g))],
                    round(float(torch.rand(1, generator=g)), 3),
                    round(float(torch.rand(1, generator=g)), 3),
                ]
                for _ in range(2)
            ]
            for _ in range(2)
        ]

    sched = {
        "type": "policy-schedule",
        "version": 1,
        "source": "tests/test_strategy_contract.py",
        "ops": list(PAPER_OPS),
        "copies": 1,
        "epochs": [{"epoch": e + 1, "policies": [policy(), policy()]} for e in range(3)],
    }
    path = tmp_path_factory.mktemp("schedule") / "policy_schedule.json"
    path.write_text(json.dumps(sched), encoding="utf-8")
    return str(path)


def spec_for(name: str, schedule: str) -> str:
    opts = [OVERRIDES[name]] if name in OVERRIDES else []
    if name in NEEDS_SCHEDULE_FILE:
        opts.append(f"file={schedule}")
    return f"{name}:{','.join(opts)}" if opts else name


def build_ready(name: str, spec: str, ds: ImageDataset) -> Strategy:
    """Build ``spec`` and hand it what a run hands it before ``setup`` (a search artefact)."""
    s = build_strategy(spec)
    if name in ARTEFACTS:
        s.load_artefact(ARTEFACTS[name](spec, ds))
    return s


def make_model(ds: ImageDataset) -> torch.nn.Module:
    c = ds.train_x.shape[1]
    return build_model(
        "small_cnn", c, ds.num_classes, ds.mean(), ds.std(), generator=torch.Generator().manual_seed(0)
    )


def make_ctx(model: torch.nn.Module, ds: ImageDataset, seed: int, out_dir, epochs: int = 4) -> Context:  # noqa: ANN001
    return Context(
        model,
        torch.device("cpu"),
        ds.num_classes,
        torch.Generator().manual_seed(seed),
        label_smoothing=LABEL_SMOOTHING,
        epochs=epochs,
        config={"seed": 0, "batch_size": 16, "epochs": 1},
        data=ds,
        out_dir=out_dir,
    )


def batch_of(ds: ImageDataset, k: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.train_x[k * B : (k + 1) * B].clone(), ds.train_y[k * B : (k + 1) * B].clone()


def assert_valid_batch(name: str, batch: Batch, x: torch.Tensor, k: int) -> None:
    assert isinstance(batch, Batch)
    n = batch.y.shape[0]
    assert n >= 1 and batch.y.shape == (n, k), (batch.y.shape, k)
    assert batch.x.shape == (MULTI_VIEW.get(name, 1) * n, *x.shape[1:]), (batch.x.shape, n, x.shape)
    assert batch.y.dtype.is_floating_point and torch.isfinite(batch.y).all()
    assert (batch.y >= 0).all(), batch.y.min()
    assert torch.allclose(batch.y.sum(1).double(), torch.ones(n, dtype=torch.float64), atol=1e-5, rtol=0)
    assert batch.x.dtype in (torch.uint8, torch.float32), batch.x.dtype
    if batch.x.dtype == torch.float32:
        assert torch.isfinite(batch.x).all()
        if name not in UNBOUNDED_FLOAT:
            assert batch.x.min() >= 0 and batch.x.max() <= 1, (batch.x.min(), batch.x.max())
    if batch.weight is not None:
        assert batch.weight.shape == (n,) and (batch.weight >= 0).all() and batch.weight.sum() > 0


def assert_same_batch(a: Batch, b: Batch) -> None:
    assert a.x.dtype == b.x.dtype and torch.equal(a.x, b.x)
    assert torch.equal(a.y, b.y)
    assert (a.weight is None) == (b.weight is None)
    if a.weight is not None:
        assert torch.equal(a.weight, b.weight)


def same_log(a: dict, b: dict) -> bool:
    """Logged numbers equal (NaN == NaN); wall-clock timings are exempt."""
    if set(a) != set(b):
        return False
    for key in a:
        if "seconds" in key:
            continue
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def step(s: Strategy, model: torch.nn.Module, opt: torch.optim.Optimizer, x, y, ctx: Context):  # noqa: ANN001
    """One training step as the loop does it; returns (batch, loss value, step log)."""
    model.train()
    batch = s.make_batch(x, y, ctx)
    loss = s.loss(model, batch, ctx)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ctx.step += 1
    value = loss.item()
    return batch, value, s.on_step_end(ctx, {"loss": value})


# --- enrolment ----------------------------------------------------------------------------


def _enrolled(fn) -> set[str]:  # noqa: ANN001
    marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
    assert len(marks) == 1 and marks[0].args[0].split(",")[0] == "name", fn.__name__
    params = marks[0].args[1]
    skipped = [p.id for p in params if not isinstance(p, str) and any(m.name == "skip" for m in p.marks)]
    assert not skipped, skipped  # enrolled means run
    return {p if isinstance(p, str) else p.values[0] for p in params}


def test_every_registered_strategy_is_enrolled_in_every_check() -> None:
    for fn in (
        test_make_batch_gives_probability_rows,
        test_same_seed_same_bits,
        test_state_dict_round_trip_resumes_exactly,
        test_bad_first_option_names_the_key,
        test_unknown_option_key_names_valid_keys,
    ):
        assert _enrolled(fn) == set(STRATEGIES), fn.__name__
    # the tables name only registered strategies and options that exist
    for table in (OVERRIDES, OUT_OF_RANGE, OUT_OF_RANGE_XFAIL, MULTI_VIEW, UNBOUNDED_FLOAT):
        assert set(table) <= set(STRATEGIES), set(table) - set(STRATEGIES)
    assert NEEDS_SCHEDULE_FILE <= set(STRATEGIES)
    # every strategy that declares a search is given its artefact here, and only those
    searching = {n for n, d in STRATEGIES.items() if getattr(d, "search", None)}
    assert set(ARTEFACTS) == searching, (set(ARTEFACTS), searching)
    for name in OVERRIDES:
        assert parse_strategy(f"{name}:{OVERRIDES[name]}")[0] == name
    for name in OUT_OF_RANGE:
        assert STRATEGIES[name].options, name


def test_policy_schedule_without_a_file_fails_at_setup(real, tmp_path) -> None:  # noqa: ANN001
    s = build_strategy("policy-schedule")  # builds, as every strategy must ...
    with pytest.raises(ValueError, match="file="):  # ... and refuses to train without a schedule
        s.setup(make_ctx(make_model(real), real, 0, tmp_path))


@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_search_strategy_without_its_artefact_fails_at_setup(name, real, tmp_path) -> None:  # noqa: ANN001
    s = build_strategy(spec_for(name, ""))  # builds ...
    with pytest.raises(ValueError, match="search"):  # ... and refuses to train on no artefact
        s.setup(make_ctx(make_model(real), real, 0, tmp_path))


# --- (a) batches are soft-target probability rows ------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_make_batch_gives_probability_rows(name, real, schedule_file, tmp_path, one_thread) -> None:  # noqa: ANN001
    model = make_model(real)
    ctx = make_ctx(model, real, 0, tmp_path)
    s = build_ready(name, spec_for(name, schedule_file), real)
    s.setup(ctx)
    s.on_epoch_start(ctx)
    x, y = batch_of(real)
    x0, y0 = x.clone(), y.clone()
    model.train()
    batch = s.make_batch(x, y, ctx)
    assert torch.equal(x, x0) and torch.equal(y, y0), "make_batch mutated its input"
    assert_valid_batch(name, batch, x, real.num_classes)
    loss = s.loss(model, batch, ctx)
    assert loss.ndim == 0 and torch.isfinite(loss)


# --- (b) same seed, same bits ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bits(name, real, schedule_file, tmp_path, one_thread) -> None:  # noqa: ANN001
    x, y = batch_of(real)
    outs = []
    for run in range(2):
        model = make_model(real)
        ctx = make_ctx(model, real, 5, tmp_path / f"run{run}")  # separate dirs: no shared caches
        s = build_ready(name, spec_for(name, schedule_file), real)
        s.setup(ctx)
        s.on_epoch_start(ctx)
        model.train()
        outs.append([s.make_batch(x, y, ctx) for _ in range(2)] + [ctx.aug_generator.get_state()])
    for a, b in zip(outs[0][:2], outs[1][:2], strict=True):
        assert_same_batch(a, b)
    assert torch.equal(outs[0][2], outs[1][2])  # and the same number of draws


# --- (c) resume from a state dict --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_exactly(name, real, schedule_file, tmp_path, one_thread) -> None:  # noqa: ANN001
    spec = spec_for(name, schedule_file)
    model_a = make_model(real)
    ctx_a = make_ctx(model_a, real, 3, tmp_path)
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.05)  # no momentum: the optimizer holds no state
    a = build_ready(name, spec, real)
    a.setup(ctx_a)
    for epoch, steps in enumerate((2, 1)):  # two epochs before the checkpoint
        ctx_a.epoch = epoch
        a.on_epoch_start(ctx_a)
        for k in range(steps):
            step(a, model_a, opt_a, *batch_of(real, k), ctx_a)
        a.on_epoch_end(ctx_a)

    # checkpoint as the loop does: after on_epoch_end, through torch.save
    buf = io.BytesIO()
    torch.save({"strategy": a.state_dict(), "model": model_a.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)

    model_b = make_model(real)
    ctx_b = make_ctx(model_b, real, 999, tmp_path)  # the run directory is the same on resume
    b = build_ready(name, spec, real)  # a resumed run gets the (cached) search's artefact again
    b.setup(ctx_b)
    model_b.load_state_dict(ckpt["model"])
    ctx_b.aug_generator.set_state(ctx_a.aug_generator.get_state())
    b.load_state_dict(ckpt["strategy"])
    ctx_b.step = ctx_a.step
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.05)

    # both continue: a whole epoch (its start, two steps, its end), then the next epoch's start
    for epoch, steps, end in ((2, 2, True), (3, 1, False)):
        for ctx in (ctx_a, ctx_b):
            ctx.epoch = epoch
        a.on_epoch_start(ctx_a)
        b.on_epoch_start(ctx_b)
        for k in range(steps):
            ba, la, sa = step(a, model_a, opt_a, *batch_of(real, k), ctx_a)
            bb, lb, sb = step(b, model_b, opt_b, *batch_of(real, k), ctx_b)
            assert_same_batch(ba, bb)
            assert la == lb, (epoch, k, la, lb)  # also covers randomness drawn inside loss()
            assert same_log(sa, sb), (sa, sb)
        if end:
            ea, eb = a.on_epoch_end(ctx_a), b.on_epoch_end(ctx_b)
            assert same_log(ea, eb), (ea, eb)
    assert torch.equal(ctx_a.aug_generator.get_state(), ctx_b.aug_generator.get_state())


# --- (d) option errors name the option -----------------------------------------------------------


def _names_key(message: str, key: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", message) is not None


def _bad_values(name: str) -> list:
    if not STRATEGIES[name].options:
        return [pytest.param(name, None, id=f"{name}-no-options")]
    out = [pytest.param(name, "@@", id=f"{name}-unparsable")]
    if name in OUT_OF_RANGE:
        marks = (
            [pytest.mark.xfail(reason=OUT_OF_RANGE_XFAIL[name], strict=True, raises=AssertionError)]
            if name in OUT_OF_RANGE_XFAIL
            else []
        )
        out.append(pytest.param(name, OUT_OF_RANGE[name], id=f"{name}-out-of-range", marks=marks))
    return out


@pytest.mark.parametrize("name,value", [p for n in NAMES for p in _bad_values(n)])
def test_bad_first_option_names_the_key(name, value, schedule_file) -> None:  # noqa: ANN001
    options = list(STRATEGIES[name].options)
    if not options:  # nothing to get wrong but the key itself
        with pytest.raises(ValueError, match="valid keys") as err:
            build_strategy(f"{name}:bogus=1")
        assert "bogus" in str(err.value)
        return
    key = options[0]
    extra = [f"file={schedule_file}"] if name in NEEDS_SCHEDULE_FILE and key != "file" else []
    with pytest.raises(ValueError) as err:
        build_strategy(f"{name}:" + ",".join([f"{key}={value}", *extra]))
    assert _names_key(str(err.value), key), f"{name}: error does not name {key!r}: {err.value}"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_key_names_valid_keys(name) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="valid keys") as err:
        build_strategy(f"{name}:zz_no_such_key=1")
    msg = str(err.value)
    assert "zz_no_such_key" in msg
    assert all(_names_key(msg, k) for k in STRATEGIES[name].options), msg
