"""Fuzzing the public entry points: every call succeeds with the documented output contract or
raises a one-line ValueError/TypeError -- never IndexError, RuntimeError, KeyError,
ZeroDivisionError, RecursionError, MemoryError, never a hang (hypothesis ``deadline``).

Inputs: random dtypes (uint8, float32, float64, int64, bool), shapes from 0-d to 5-d with
zero-sized, 1x1 and odd dimensions, values with NaN/inf/huge/negative entries, random op values,
random spec strings, random JSON documents, random mixer batches and labels, and random
constructor arguments.  Sizes are small so the whole file runs in well under a minute on one core.
"""

from __future__ import annotations

import inspect
import json
import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augkit as ak
from augkit import transforms as T
from augkit.mix import RICAP, CutMix, Mixup, Mosaic
from augkit.policies import policy_from_json

# AUGKIT_FUZZ_EXAMPLES=2000 AUGKIT_FUZZ_RANDOM=1 explores further (off by default: CI stays fast
# and deterministic).
FUZZ = settings(
    max_examples=int(os.environ.get("AUGKIT_FUZZ_EXAMPLES", "200")),
    deadline=2000,  # ms per example: a hang or a huge allocation fails here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not os.environ.get("AUGKIT_FUZZ_RANDOM"),  # same examples every run: reproducible
    database=None,
)
ALLOWED = (ValueError, TypeError)

# float16 is here because CPU float16 convolutions once hung GaussianBlur / ElasticDistortion.
DTYPES = (torch.uint8, torch.float32, torch.float64, torch.int64, torch.bool, torch.float16, torch.bfloat16)
DIMS = (0, 1, 2, 3, 5, 7, 8)
SIDES = (0, 1, 2, 3, 5, 8, 17, 33)  # image height / width: zero, 1x1, odd, and a few larger
SPECIALS = (float("nan"), float("inf"), -float("inf"), -1.0, 1e30, -1e30, 2.0, 0.5)


def _check_error(err: BaseException) -> None:
    """An accepted failure: ValueError/TypeError with a non-empty one-line message."""
    assert isinstance(err, ALLOWED), f"{type(err).__name__}: {err}"
    msg = str(err)
    assert msg and "\n" not in msg, f"{type(err).__name__} message is not one line: {msg!r}"


def attempt(fn, *args, **kwargs):
    """``fn(...)``, or None after checking that the exception is an accepted one."""
    try:
        return fn(*args, **kwargs)
    except ALLOWED as err:
        _check_error(err)
        return None


@st.composite
def tensors(draw, ndims=st.integers(0, 5), dtypes=st.sampled_from(DTYPES)) -> torch.Tensor:
    """A random tensor: any rank, tiny/zero/odd sides, and for floats NaN/inf/huge/negatives."""
    ndim = draw(ndims)
    lead = max(ndim - 2, 0)  # leading dims small, the last two (the image sides) up to 33
    shape = tuple(draw(st.lists(st.sampled_from(DIMS[:5]), min_size=lead, max_size=lead)))
    shape += tuple(draw(st.lists(st.sampled_from(SIDES), min_size=ndim - lead, max_size=ndim - lead)))
    dtype = draw(dtypes)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    base = torch.rand(shape, generator=g, dtype=torch.float64)
    if dtype == torch.bool:
        return base < 0.5
    if dtype == torch.uint8:
        return (base * 255).round().to(torch.uint8)
    if dtype == torch.int64:
        return (base * 600 - 300).round().to(torch.int64)
    x = base.to(dtype)
    if x.numel() and draw(st.booleans()):  # some special values somewhere
        k = draw(st.integers(1, min(4, x.numel())))
        idx = torch.randperm(x.numel(), generator=g)[:k]
        x.view(-1)[idx] = torch.tensor([draw(st.sampled_from(SPECIALS)) for _ in range(k)], dtype=dtype)
    return x


# Mostly image-shaped (3-d and 4-d) inputs, some of every other rank.
images = st.one_of(
    tensors(
        ndims=st.sampled_from((3, 4)), dtypes=st.sampled_from((torch.uint8, torch.float32, torch.float16))
    ),
    tensors(),
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-(2**40), 2**40),
    st.sampled_from(SPECIALS),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.floats(-10, 10), max_size=4).map(torch.tensor),
)


def _is_image(x: torch.Tensor) -> bool:
    return x.ndim in (3, 4) and (x.dtype == torch.uint8 or x.dtype.is_floating_point)


# --- transforms -----------------------------------------------------------------------------

TRANSFORMS = {
    name: getattr(T, name)
    for name in T.__all__
    if inspect.isclass(getattr(T, name)) and issubclass(getattr(T, name), ak.Augment)
}
# Required constructor arguments of the classes that have any; everything else default.
_REQUIRED = {
    "RandomResizedCrop": {"size": 8},
    "Compose": {"transforms": [T.RandomFlip(), T.Cutout(4)]},
    "OneOf": {"transforms": [T.RandomFlip(), T.Cutout(4)]},
    "RandomApply": {"transform": T.RandomFlip()},
}


def _build(name: str, **kw) -> ak.Augment:
    return TRANSFORMS[name](**{**_REQUIRED.get(name, {}), **kw})


def _expected_shape(name: str, x: torch.Tensor, t: ak.Augment) -> tuple[int, ...]:
    if name == "RandomResizedCrop":
        return (*x.shape[:-2], *t.size)
    return tuple(x.shape)


def test_every_transform_is_fuzzed():
    assert len(TRANSFORMS) == 17 and set(_REQUIRED) <= set(TRANSFORMS)


@FUZZ
@given(name=st.sampled_from(sorted(TRANSFORMS)), x=images, seed=st.integers(0, 2**31))
def test_transforms_on_random_images(name, x, seed):
    t = _build(name)
    out = attempt(t, x, generator=torch.Generator().manual_seed(seed))
    if out is not None:
        assert _is_image(x)
        assert out.dtype == x.dtype and tuple(out.shape) == _expected_shape(name, x, t)


def _params_of(name: str) -> list[str]:
    sig = inspect.signature(TRANSFORMS[name])
    return [p for p in sig.parameters if p not in ("transforms", "transform")]


@st.composite
def transform_args(draw):
    name = draw(st.sampled_from(sorted(n for n in TRANSFORMS if _params_of(n))))
    arg = draw(st.sampled_from(_params_of(name)))
    value = draw(st.one_of(values, st.tuples(values, values), st.tuples(values, values, values)))
    return name, arg, value


@FUZZ
@given(case=transform_args(), dtype=st.sampled_from((torch.uint8, torch.float32)))
def test_transform_constructors_with_random_arguments(case, dtype):
    name, arg, value = case
    t = attempt(_build, name, **{arg: value})
    if t is None:
        return
    x = (torch.arange(2 * 3 * 9 * 7).reshape(2, 3, 9, 7) % 256).to(torch.uint8)
    x = x if dtype == torch.uint8 else x.float() / 255
    out = attempt(t, x, generator=torch.Generator().manual_seed(0))
    if out is not None:
        assert out.dtype == x.dtype and tuple(out.shape) == _expected_shape(name, x, t)


# --- ops through apply_op ---------------------------------------------------------------------


@FUZZ
@given(
    name=st.sampled_from(sorted(ak.OPS)),
    x=images,
    value=values,
    kw=st.dictionaries(
        st.sampled_from(("fill", "interpolation", "center", "partner")),
        st.one_of(values, st.sampled_from(("nearest", "bilinear", (0, 0, 0)))),
        max_size=2,
    ),
)
def test_apply_op_on_random_images_and_values(name, x, value, kw):
    out = attempt(ak.apply_op, x, name, value, **kw)
    if out is not None:
        assert _is_image(x)
        assert out.dtype == x.dtype and out.shape == x.shape


@FUZZ
@given(name=values)
def test_apply_op_unknown_names(name):
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    if isinstance(name, str) and name in ak.OPS:
        return
    with pytest.raises(ValueError, match="valid names"):
        ak.apply_op(x, name, 0.0)


# --- policies: spec strings and JSON documents ------------------------------------------------

_SPEC_PIECES = ("aa-", "cifar10", "svhn", "-code", "rand-n", "-m", "-mstd", "trivial", "-l", "-rel",
                "policy:", "inf", "nan", "9", "1e9", "0", "99999999999999999999", ".", "-", "[", "]",
                '"Rotate"', ",", "{", "}", " ", "\x00", "é")  # fmt: skip
specs = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(_SPEC_PIECES), max_size=10).map("".join),
    st.builds(lambda n, m: f"rand-n{n}-m{m}", st.integers(0, 10**12), st.integers(0, 10**6)),
)


def _policy_check(p) -> None:
    """A built policy runs on a small valid batch and keeps its shape and dtype."""
    assert isinstance(p, ak.Augment)
    x = (torch.arange(2 * 3 * 6 * 5).reshape(2, 3, 6, 5) % 256).to(torch.uint8)
    out = p(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype


@FUZZ
@given(spec=specs)
def test_from_spec_random_strings(spec):
    p = attempt(ak.from_spec, spec)
    if p is not None:
        _policy_check(p)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),  # what json.loads can produce
    st.text(max_size=8),
    st.sampled_from(sorted(ak.OPS)[:6] + ["cifar10", "paper", "code", "relative"]),
)
json_docs = st.recursive(
    json_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = ("type", "num_ops", "magnitude", "magnitude_std", "num_levels", "translate", "policy",
         "ops", "sub_policies", "name", "fill", "interpolation")  # fmt: skip
_TYPES = ("randaugment", "autoaugment", "trivialaugment", "policy", "other")
policy_docs = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(_TYPES),
    st.dictionaries(st.sampled_from(_KEYS[1:]), json_docs, max_size=5),
)
stages = st.lists(
    st.tuples(st.sampled_from(sorted(ak.OPS)), json_scalars, json_scalars).map(list), max_size=3
)


@FUZZ
@given(
    doc=st.one_of(
        json_docs,
        policy_docs,
        st.builds(lambda t: {"type": "policy", "sub_policies": t}, st.lists(stages, max_size=3)),
    )
)
def test_policy_from_json_random_documents(doc):
    doc = json.loads(json.dumps(doc))  # exactly what a file could hold
    p = attempt(policy_from_json, doc)
    if p is not None:
        _policy_check(p)
    p = attempt(ak.from_spec, "policy:" + json.dumps(doc))
    if p is not None:
        _policy_check(p)


@FUZZ
@given(
    kind=st.sampled_from(("RandAugment", "TrivialAugment", "AutoAugment")),
    x=images,
    seed=st.integers(0, 2**31),
)
def test_policies_on_random_images(kind, x, seed):
    p = getattr(ak, kind)()
    out = attempt(p, x, generator=torch.Generator().manual_seed(seed))
    if out is not None:
        assert _is_image(x) and out.dtype == x.dtype and out.shape == x.shape


# --- mixers ----------------------------------------------------------------------------------

MIXERS = {"Mixup": Mixup, "CutMix": CutMix, "RICAP": RICAP, "Mosaic": Mosaic}


@st.composite
def labels(draw, b: int):
    kind = draw(st.sampled_from(("hard", "soft", "random")))
    if kind == "hard":
        return torch.tensor(draw(st.lists(st.integers(-2, 12), min_size=b, max_size=b)), dtype=torch.int64)
    if kind == "soft":
        k = draw(st.integers(0, 5))
        return torch.rand(b, k).softmax(1) if k else torch.zeros(b, 0)
    return draw(tensors(ndims=st.integers(0, 3)))


@FUZZ
@given(
    name=st.sampled_from(sorted(MIXERS)),
    x=images,
    data=st.data(),
    num_classes=st.one_of(st.none(), st.integers(-1, 12), st.sampled_from((0.5, True, "3"))),
    smoothing=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from((0.0, 0.1))),
    seed=st.integers(0, 2**31),
)
def test_mixers_with_random_batches_and_labels(name, x, data, num_classes, smoothing, seed):
    b = x.shape[0] if x.ndim else 1
    y = data.draw(labels(b))
    res = attempt(MIXERS[name](), x, y, torch.Generator().manual_seed(seed), num_classes, smoothing)
    if res is None:
        return
    xm, tm, _ = res
    assert _is_image(x) and x.ndim == 4
    assert xm.shape == x.shape and xm.dtype == x.dtype
    k = y.shape[1] if y.ndim == 2 else num_classes
    assert tm.shape == (x.shape[0], k) and tm.dtype.is_floating_point
    if torch.isfinite(tm).all() and tm.numel():
        assert torch.allclose(tm.sum(1), torch.ones(x.shape[0]), atol=1e-4) or y.ndim == 2


@FUZZ
@given(name=st.sampled_from(sorted(MIXERS)), value=values)
def test_mixer_constructors_with_random_arguments(name, value):
    m = attempt(MIXERS[name], value)
    if m is None:
        return
    x = (torch.arange(4 * 3 * 6 * 5).reshape(4, 3, 6, 5) % 256).to(torch.uint8)
    res = attempt(m, x, torch.tensor([0, 1, 2, 1]), torch.Generator().manual_seed(0), 3)
    if res is not None:
        assert res[0].shape == x.shape and res[1].shape == (4, 3) and math.isfinite(float(res[1].sum()))


# --- every bug the fuzzer (and the probes around it) found, pinned as a plain test ---------------


def _u8(*shape: int) -> torch.Tensor:
    return (torch.arange(math.prod(shape)).reshape(shape) % 256).to(torch.uint8)


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(0)


_LAB = torch.tensor([0, 1, 2, 1])
# (what, call, exception, message pattern, what happened before the fix)
FOUND = [
    (
        "Cutout on zero-width images",
        lambda: T.Cutout()(_u8(2, 3, 0, 5), generator=_g()),
        ValueError,
        "C, H, W >= 1",
        "RuntimeError random_",
    ),
    (
        "Elastic on zero-height images",
        lambda: T.ElasticDistortion()(_u8(1, 3, 0, 4), generator=_g()),
        ValueError,
        "C, H, W >= 1",
        "RuntimeError index_select",
    ),
    (
        "apply_op on zero-width images",
        lambda: ak.apply_op(_u8(1, 3, 4, 0), "Rotate", 10.0),
        ValueError,
        "C, H, W >= 1",
        "returned empty silently",
    ),
    (
        "CutMix on zero-width images",
        lambda: CutMix()(_u8(2, 2, 5, 0).float(), _LAB[:2], _g(), 3),
        ValueError,
        "C, H, W >= 1",
        "RuntimeError random_",
    ),
    (
        "Mosaic on zero-width images",
        lambda: Mosaic()(_u8(8, 3, 8, 0), _LAB.repeat(2), _g(), 3),
        ValueError,
        "C, H, W >= 1",
        "RuntimeError stride view",
    ),
    (
        "ElasticDistortion(sigma=2**40)",
        lambda: T.ElasticDistortion(sigma=2**40),
        ValueError,
        r"sigma .*\[0, 64\]",
        "tried to allocate 35 TB",
    ),
    (
        "ElasticDistortion(alpha=tensor)",
        lambda: T.ElasticDistortion(alpha=torch.tensor([1.0, 2.0])),
        TypeError,
        "alpha",
        "RuntimeError bool of Tensor",
    ),
    (
        "ElasticDistortion(alpha='x')",
        lambda: T.ElasticDistortion(alpha="x"),
        TypeError,
        "alpha",
        "TypeError '<' str/int",
    ),
    ("Cutout(size=inf)", lambda: T.Cutout(size=float("inf")), ValueError, "size", "OverflowError at call"),
    (
        "Cutout(size=nan)",
        lambda: T.Cutout(size=float("nan")),
        ValueError,
        "size",
        "'cannot convert float NaN'",
    ),
    ("Cutout(size=1e30)", lambda: T.Cutout(size=1e30), ValueError, "size", "OverflowError at call"),
    (
        "Cutout(fill='x')",
        lambda: T.Cutout(fill="x"),
        ValueError,
        "fill",
        "'could not convert string' at call",
    ),
    (
        "PadCrop(padding=100000)",
        lambda: T.PadCrop(100_000),
        ValueError,
        r"padding .*\[0, 256\]",
        "tried to allocate 240 GB",
    ),
    ("PadCrop(padding=True)", lambda: T.PadCrop(True), TypeError, "padding", "accepted as 1"),
    ("PadCrop(fill=None)", lambda: T.PadCrop(fill=None), ValueError, "fill", "TypeError float() at call"),
    (
        "HideAndSeek(grid=10**6)",
        lambda: T.HideAndSeek(grid=10**6),
        ValueError,
        "grid",
        "tried to allocate 8 TB",
    ),
    (
        "RandomResizedCrop(10**6)",
        lambda: T.RandomResizedCrop(10**6),
        ValueError,
        "size",
        "tried to allocate 4 TB",
    ),
    (
        "RandomResizedCrop ratio inf",
        lambda: T.RandomResizedCrop(8, ratio=(1, math.inf)),
        ValueError,
        "ratio",
        "accepted",
    ),
    (
        "RandomResizedCrop(scale=None)",
        lambda: T.RandomResizedCrop(8, scale=None),
        ValueError,
        "scale",
        "'NoneType' not iterable",
    ),
    (
        "RandomAffine(translate=())",
        lambda: T.RandomAffine(translate=()),
        ValueError,
        "translate",
        "IndexError",
    ),
    (
        "RandomAffine(translate=5)",
        lambda: T.RandomAffine(translate=5),
        ValueError,
        "translate",
        "'int' not subscriptable",
    ),
    (
        "RandomAffine(scale=(1, 1e30))",
        lambda: T.RandomAffine(scale=(1, 1e30)),
        ValueError,
        "scale",
        "accepted",
    ),
    (
        "RandomAffine(interpolation='cubic')",
        lambda: T.RandomAffine(interpolation="cubic"),
        ValueError,
        "interpolation",
        "failed at call only",
    ),
    (
        "RandomFlip(direction=['x'])",
        lambda: T.RandomFlip(direction=["x"]),
        ValueError,
        "direction",
        "unhashable type: 'list'",
    ),
    (
        "RandomFlip(p=True)",
        lambda: T.RandomFlip(p=True),
        TypeError,
        "p must be a probability",
        "was ValueError; bool is not a number",
    ),
    (
        "ColorJitter(brightness=pair)",
        lambda: T.ColorJitter(brightness=(0.1, 0.2)),
        TypeError,
        "brightness",
        "unsupported operand at call",
    ),
    (
        "GridMask(rotate='x')",
        lambda: T.GridMask(rotate="x"),
        TypeError,
        "rotate",
        "'could not convert string'",
    ),
    (
        "GridMask(rotate=nan)",
        lambda: T.GridMask(rotate=math.nan),
        ValueError,
        "rotate",
        "'angle must be finite' at call",
    ),
    ("GridMask(ratio=pair)", lambda: T.GridMask(ratio=(0.2, 0.9)), TypeError, "ratio", "silently used 0.2"),
    (
        "SamplePairing(weight=pair)",
        lambda: T.SamplePairing(weight=(0.1, 0.9)),
        TypeError,
        "weight",
        "silently used 0.1",
    ),
    ("RandomErasing(value=1e9)", lambda: T.RandomErasing(value=1e9), ValueError, "value", "accepted"),
    (
        "RandomErasing(value=None)",
        lambda: T.RandomErasing(value=None),
        ValueError,
        "value",
        "TypeError float() at call",
    ),
    ("RandomApply('x')", lambda: T.RandomApply("x"), TypeError, "transform", "AttributeError at call"),
    ("Compose(5)", lambda: T.Compose(5), TypeError, "transforms", "'int' not iterable"),
    (
        "OneOf(weights=[nan, 1])",
        lambda: T.OneOf([T.RandomFlip(), T.Cutout()], weights=[math.nan, 1.0]),
        ValueError,
        "weights",
        "accepted",
    ),
    (
        "seed=2**64",
        lambda: T.RandomFlip(seed=2**64),
        ValueError,
        "seed",
        "'Overflow when unpacking long long' at call",
    ),
    ("seed=True", lambda: T.RandomFlip(seed=True), TypeError, "seed", "accepted as 1"),
    (
        "apply_op typo keyword",
        lambda: ak.apply_op(_u8(1, 3, 9, 7), "Rotate", 10.0, interpolaton="bilinear"),
        TypeError,
        "interpolaton",
        "silently ignored",
    ),
    (
        "apply_op value=None",
        lambda: ak.apply_op(_u8(1, 3, 9, 7), "Rotate", None),
        TypeError,
        "value for op 'Rotate'",
        "'must be real number'",
    ),
    (
        "apply_op value='5'",
        lambda: ak.apply_op(_u8(1, 3, 9, 7), "Rotate", "5"),
        TypeError,
        "value for op 'Rotate'",
        "'new(): invalid data type'",
    ),
    (
        "apply_op fill='x'",
        lambda: ak.apply_op(_u8(1, 3, 9, 7), "Rotate", 10.0, fill="x"),
        ValueError,
        "fill",
        "'could not convert string'",
    ),
    (
        "Mosaic(cmin=tensor)",
        lambda: Mosaic(torch.tensor([])),
        ValueError,
        "cmin",
        "RuntimeError bool of Tensor",
    ),
    ("CutMix(p='x')", lambda: CutMix(p="x"), ValueError, "p must", "TypeError '<=' int/str"),
    (
        "Mixup num_classes=0.5",
        lambda: Mixup()(_u8(4, 3, 6, 5), _LAB, _g(), 0.5),
        ValueError,
        "num_classes",
        "'labels in [0, 0.5)'",
    ),
    (
        "Mixup smoothing='x'",
        lambda: Mixup()(_u8(4, 3, 6, 5), _LAB, _g(), 3, "x"),
        ValueError,
        "smoothing",
        "TypeError '<=' int/str",
    ),
    (
        "Mixup soft targets (4, 0)",
        lambda: Mixup()(_u8(4, 3, 6, 5), torch.zeros(4, 0), _g()),
        ValueError,
        "K >= 1",
        "returned (4, 0) targets",
    ),
]


@pytest.mark.parametrize("what, call, err, match, before", FOUND, ids=[f[0] for f in FOUND])
def test_found_bugs_raise_a_named_error(what, call, err, match, before):
    with pytest.raises(err, match=match) as info:
        call()
    _check_error(info.value)


def test_found_bugs_that_now_succeed():
    # RandomResizedCrop kept an empty batch's input size: (0, 1, 1, 1) instead of (0, 1, 8, 8)
    assert T.RandomResizedCrop(8)(_u8(0, 1, 1, 1), generator=_g()).shape == (0, 1, 8, 8)
    t, x = T.RandomResizedCrop(8), _u8(0, 1, 1, 1)
    assert t.apply(x, t.sample(x, _g())).shape == (0, 1, 8, 8)
    # float16 on the CPU: ElasticDistortion ran a (1, 33) grouped float16 convolution for minutes
    x = torch.rand(2, 3, 33, 31, generator=_g()).half()
    for t in (T.ElasticDistortion(), T.GaussianBlur((3.0, 50.0), p=1.0)):
        out = t(x, generator=_g())
        assert out.dtype == torch.float16 and out.shape == x.shape
        ref = t(x.float(), generator=_g())  # the same draws, computed in float32
        assert torch.allclose(out.float(), ref, atol=2e-3)
