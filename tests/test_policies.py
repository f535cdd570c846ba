"""Policies: tables reference real ops, spec strings and JSON round trip, sampling rules."""

from __future__ import annotations

import json

import pytest
import torch

import augkit as ak
from augkit.policy_tables import AUTOAUGMENT_POLICIES, CODE_ALIASES, RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS

from .conftest import photos


def test_tables_reference_real_ops_and_have_25_two_stage_subpolicies():
    for name, table in AUTOAUGMENT_POLICIES.items():
        assert len(table) == 25, name
        for sp in table:
            assert len(sp) == 2
            for op, p, level in sp:
                assert op in ak.OPS and CODE_ALIASES.get(op, op) in ak.OPS
                assert 0 <= p <= 1 and (level is None or 0 <= level <= 9)
                assert (level is None) == (not ak.OPS[op].has_magnitude), (op, level)
    assert all(op in ak.OPS for op in RANDAUGMENT_OPS + TRIVIALAUGMENT_OPS)
    assert len(RANDAUGMENT_OPS) == 14 and len(TRIVIALAUGMENT_OPS) == 14


def test_the_sixteen_autoaugment_search_ops_exist_with_paper_ranges():
    from augkit.space import value_bounds

    expected = {
        "ShearX": (-0.3, 0.3),
        "Rotate": (-30, 30),
        "Solarize": (0, 256),
        "Posterize": (4, 8),
        "Contrast": (0.1, 1.9),
        "Color": (0.1, 1.9),
        "Brightness": (0.1, 1.9),
        "Sharpness": (0.1, 1.9),
        "SamplePairing": (0, 0.4),
    }
    for op, (lo, hi) in expected.items():
        assert value_bounds(op, 331, 331) == pytest.approx((lo, hi)), op
    assert value_bounds("TranslateX", 331, 331) == pytest.approx((-150, 150))
    assert value_bounds("Cutout", 331, 331) == pytest.approx((0, 60))
    for op in ("ShearY", "TranslateY", "AutoContrast", "Invert", "Equalize"):
        assert op in ak.OPS


@pytest.mark.parametrize(
    "spec",
    [
        "aa-cifar10",
        "aa-svhn",
        "aa-imagenet-code",
        "rand-n2-m9",
        "rand-n3-m4-mstd0.5",
        "rand-n1-m10-mstdinf",
        "trivial",
        "trivial-l11",
        "trivial-rel",
        "trivial-l11-rel",
    ],
)
def test_spec_round_trip(spec):
    p = ak.from_spec(spec)
    assert p.spec == spec
    assert ak.from_spec(p.spec).spec == spec


def test_custom_policy_spec_and_json_round_trip(tmp_path):
    pol = ak.Policy([[("Rotate", 0.5, 0.3), ("Invert", 0.2, 0.0)], [("Cutout", 1.0, 0.5)]])
    again = ak.from_spec(pol.spec)
    assert again.sub_policies == pol.sub_policies
    for p in (pol, ak.AutoAugment("svhn", ops="code"), ak.RandAugment(3, 7, 1.0), ak.TrivialAugment()):
        path = tmp_path / "p.json"
        ak.save_policy(p, str(path))
        q = ak.load_policy(str(path))
        assert q.spec == p.spec and json.loads(path.read_text())["type"]
        x = photos(32, 32)
        g = lambda: torch.Generator().manual_seed(1)
        assert torch.equal(p(x, generator=g()), q(x, generator=g()))


@pytest.mark.parametrize(
    "bad",
    ["rand-n2", "aa-cifar100", "trivial-x", "rand-n2-m9-mstd", "", "policy:[[", 'policy:[[["Nope",1,1]]]'],
)
def test_malformed_specs_raise_with_accepted_forms(bad):
    with pytest.raises(ValueError):
        ak.from_spec(bad)


def test_magnitude_validation():
    with pytest.raises(ValueError, match="magnitude"):
        ak.RandAugment(2, 11)
    with pytest.raises(ValueError, match="num_ops"):
        ak.RandAugment(-1, 5)
    with pytest.raises(ValueError, match="policy"):
        ak.AutoAugment("mnist")
    with pytest.raises(ValueError, match=r"sub_policies\[0\]\[0\] probability .*\[0, 1\], got 1.5"):
        ak.Policy([[("Rotate", 1.5, 0.2)]])
    with pytest.raises(ValueError, match="fill"):
        ak.RandAugment(fill=300)


def test_autoaugment_probabilities_are_respected():
    # sub-policy (Equalize p=0.0, Equalize p=0.8) in imagenet: stage 0 never fires
    x = photos(16, 16)[:1].expand(4000, -1, -1, -1)
    m = ak.AutoAugment("imagenet")
    p = m.sample(x, generator=torch.Generator().manual_seed(0))
    rate = p.applied.float().mean().item()
    table = torch.tensor([[s[1] for s in sp] for sp in AUTOAUGMENT_POLICIES["imagenet"]])
    assert abs(rate - table.mean().item()) < 0.02


def test_randaugment_magnitudes_and_std():
    x = photos(16, 16)[:1].expand(2000, -1, -1, -1)
    p = ak.RandAugment(2, 9).sample(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(p.magnitude, torch.full_like(p.magnitude, 0.9))
    q = ak.RandAugment(2, 5, 1.0).sample(x, generator=torch.Generator().manual_seed(0))
    assert abs(q.magnitude.mean().item() - 0.5) < 0.01 and abs(q.magnitude.std().item() - 0.1) < 0.01
    r = ak.TrivialAugment().sample(x, generator=torch.Generator().manual_seed(0))
    assert len(torch.unique(r.magnitude)) == 31


def test_policy_runs_on_single_image_in_a_dataloader():
    from torch.utils.data import DataLoader, TensorDataset

    class Wrapped(TensorDataset):
        def __init__(self, x, t):
            super().__init__(x)
            self.t = t

        def __getitem__(self, i):
            return self.t(self.tensors[0][i])

    x = photos(32, 32)
    dl = DataLoader(Wrapped(x, ak.RandAugment()), batch_size=3, num_workers=0)
    batches = list(dl)
    assert sum(b.shape[0] for b in batches) == x.shape[0] and batches[0].dtype == torch.uint8


def test_policy_file_strategy_loads_a_saved_policy(tmp_path):
    """``policy:file=PATH`` trains with a policy saved by ``save_policy`` (same draws as the object).

    The policy is saved with fill 0, the strategy's default fill: the run must use fill 0, not
    the gray 128 the file used to reload with (this test used to expect the fill-128 images).
    """
    from augkit.policies import AutoAugment
    from augkit.policy_io import save_policy
    from augkit.strategies import Context, build_strategy

    path = tmp_path / "aa.json"
    save_policy(AutoAugment("cifar10", fill=0), str(path))
    s = build_strategy(f"policy:file={path},base=none")
    x = photos(28, 28, 3)
    ctx = Context(torch.nn.Identity(), torch.device("cpu"), 10, torch.Generator().manual_seed(2))
    got = s.make_batch(x, torch.zeros(x.shape[0], dtype=torch.long), ctx).x
    g = lambda: torch.Generator().manual_seed(2)
    assert torch.equal(got, AutoAugment("cifar10", fill=0)(x, generator=g()))
    assert not torch.equal(got, AutoAugment("cifar10", fill=128)(x, generator=g()))  # fill is exercised


def test_policy_file_replays_the_files_fill_unless_the_spec_sets_one(tmp_path):
    """A policy searched with fill 128 replays with 128; ``fill=`` in the spec overrides the file."""
    from augkit.policies import AutoAugment
    from augkit.policy_io import save_policy
    from augkit.strategies import Context, build_strategy

    path = tmp_path / "aa128.json"
    save_policy(AutoAugment("cifar10", fill=128), str(path))
    x = photos(28, 28, 3)
    y = torch.zeros(x.shape[0], dtype=torch.long)
    ctx = lambda: Context(torch.nn.Identity(), torch.device("cpu"), 10, torch.Generator().manual_seed(2))  # noqa: E731
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    stored = build_strategy(f"policy:file={path},base=none").make_batch(x, y, ctx()).x
    assert torch.equal(stored, AutoAugment("cifar10", fill=128)(x, generator=g()))
    forced = build_strategy(f"policy:file={path},base=none,fill=0").make_batch(x, y, ctx()).x
    assert torch.equal(forced, AutoAugment("cifar10", fill=0)(x, generator=g()))
    assert not torch.equal(stored, forced)


_SETTINGS_POLICIES = {
    "policy": lambda **kw: ak.Policy([[("Rotate", 1.0, 0.8), ("TranslateX", 1.0, 0.9)]], **kw),
    "autoaugment": lambda **kw: ak.AutoAugment("svhn", **kw),
    "randaugment": lambda **kw: ak.RandAugment(2, 10, **kw),
    "trivialaugment": lambda **kw: ak.TrivialAugment(**kw),
}


@pytest.mark.parametrize("kind", sorted(_SETTINGS_POLICIES))
@pytest.mark.parametrize("fill, interp", [(0, "bilinear"), ((10, 200, 30), "nearest")])
def test_json_round_trip_keeps_fill_and_interpolation(tmp_path, kind, fill, interp):
    """A policy saved with fill 0 (or a per-channel fill) and bilinear reloads with them, not 128."""
    p = _SETTINGS_POLICIES[kind](fill=fill, interpolation=interp)
    path = tmp_path / "p.json"
    ak.save_policy(p, str(path))
    stored = json.loads(path.read_text())
    assert stored["fill"] == (list(fill) if isinstance(fill, tuple) else fill)
    assert stored["interpolation"] == interp
    q = ak.load_policy(str(path))
    assert q.fill == p.fill and q.interpolation == interp and q.spec == p.spec
    x = photos(32, 32)
    g = lambda: torch.Generator().manual_seed(4)
    assert torch.equal(p(x, generator=g()), q(x, generator=g()))


def test_policy_from_json_explicit_beats_stored_beats_legacy_default():
    from augkit.policies import policy_from_json

    data = ak.RandAugment(2, 9, fill=0, interpolation="bilinear").to_json()
    q = policy_from_json(data)
    assert (q.fill, q.interpolation) == (0.0, "bilinear")  # stored
    q = policy_from_json(data, fill=50, interpolation="nearest")
    assert (q.fill, q.interpolation) == (50.0, "nearest")  # explicit wins
    q = policy_from_json(data, fill=(1, 2, 3))
    assert (q.fill, q.interpolation) == ((1.0, 2.0, 3.0), "bilinear")  # each key on its own
    legacy = {"type": "randaugment", "num_ops": 2, "magnitude": 9}  # written before the keys existed
    q = policy_from_json(legacy)
    assert (q.fill, q.interpolation) == (128.0, "nearest")
    with pytest.raises(ValueError, match="fill"):
        policy_from_json({**data, "fill": 300})


# --- TrivialAugment's wide translate: absolute pixels (authors' code), relative as an option ----


def _ta_levels(name: str, h: int, w: int) -> list[float]:
    """Native values of op ``name`` at TrivialAugment's 31 levels, positive sign."""
    m = torch.arange(31, dtype=torch.float32) / 30
    return ak.space.op_value(name, m, torch.ones(31), h, w).tolist()


def test_trivialaugment_wide_translate_is_absolute_32px():
    from augkit.space import value_bounds

    authors = [int(k * 32 / 30) for k in range(31)]  # aug_lib.py int_parameter(level, 32)
    for side in (224, 32, 28):
        for name in ("TranslateXWide", "TranslateYWide"):
            assert value_bounds(name, side, side) == (-32.0, 32.0), (name, side)
            assert _ta_levels(name, side, side) == authors, (name, side)
    # what TrivialAugment actually draws at 224 px: translates never exceed 32 px
    x = photos(224, 224)[:1].expand(3000, -1, -1, -1)
    ta = ak.TrivialAugment()
    p = ta.sample(x, generator=torch.Generator().manual_seed(0))
    k = ta.op_names.index("TranslateXWide")
    sel = p.ops[:, 0] == k
    v = ak.space.op_value("TranslateXWide", p.magnitude[sel, 0], p.sign[sel, 0], 224, 224)
    assert v.abs().max().item() == 32.0 and (v == v.trunc()).all()


def test_trivialaugment_translate_applies_32px_at_224_and_fill_on_28px():
    from dataclasses import replace

    from augkit.ops import geometry

    x = photos(224, 224)[:2]
    ta = ak.TrivialAugment(fill=0)
    p = ta.sample(x, generator=torch.Generator().manual_seed(0))
    k = ta.op_names.index("TranslateXWide")
    p = replace(p, ops=torch.full_like(p.ops, k), magnitude=torch.ones_like(p.magnitude))
    p = replace(p, sign=torch.tensor([[1.0], [-1.0]]))
    out = ta.apply(x, p)
    assert torch.equal(out, geometry.translate_x(x, torch.tensor([32.0, -32.0]), fill=0))
    small = photos(28, 28)
    shifted = ak.apply_op(small, "TranslateXWide", 32.0, fill=0)  # legal; only fill is left
    assert torch.equal(shifted, torch.zeros_like(small))


def test_trivialaugment_relative_translate_variant():
    from augkit.space import value_bounds

    assert value_bounds("TranslateXWideRel", 224, 224) == (-224.0, 224.0)
    assert value_bounds("TranslateYWideRel", 100, 50) == (-100.0, 100.0)
    # on 32 px CIFAR the two readings agree up to the absolute one's whole-pixel truncation
    rel, ab = _ta_levels("TranslateXWideRel", 32, 32), _ta_levels("TranslateXWide", 32, 32)
    assert [int(r + 1e-4) for r in rel] == ab
    ta = ak.TrivialAugment(translate="relative")
    assert ta.spec == "trivial-rel" and "TranslateXWideRel" in ta.op_names
    assert "TranslateXWide" not in ta.op_names and "TranslateXWide" in ak.TrivialAugment().op_names
    x = photos(64, 64)
    g = lambda: torch.Generator().manual_seed(3)
    assert torch.equal(ta(x, generator=g()), ak.from_spec("trivial-rel")(x, generator=g()))
    with pytest.raises(ValueError, match="translate"):
        ak.TrivialAugment(translate="pixels")


def test_posterize_and_solarize_grow_stronger_with_magnitude():
    """The direction space.py documents (torchvision's too; timm's defaults run the other way)."""
    one = torch.ones(1)
    val = lambda name, m: ak.space.op_value(name, torch.tensor([m]), one, 32, 32).item()
    assert (val("Posterize", 0.0), val("Posterize", 1.0)) == (8.0, 4.0)
    assert (val("Solarize", 0.0), val("Solarize", 1.0)) == (256.0, 0.0)
    assert (val("PosterizeCode", 0.0), val("PosterizeCode", 1.0)) == (4.0, 0.0)  # timm PosterizeIncreasing


# --- bad input: clear ValueError/TypeError naming the field (reliability issue) ---------------


@pytest.mark.parametrize(
    "doc, key",
    [
        ({"type": "randaugment"}, "num_ops"),
        ({"type": "randaugment", "num_ops": 2}, "magnitude"),
        ({"type": "autoaugment"}, "policy"),
        ({"type": "policy"}, "sub_policies"),
    ],
)
def test_policy_json_missing_key_names_key_and_type(doc, key):
    from augkit.policies import policy_from_json

    with pytest.raises(ValueError, match=rf"type '{doc['type']}' is missing key '{key}'"):
        policy_from_json(doc)


@pytest.mark.parametrize(
    "make", [lambda: ak.RandAugment(2, 9), lambda: ak.TrivialAugment(), lambda: ak.AutoAugment("cifar10")]
)
def test_policy_json_unknown_key_is_refused_not_ignored(make):
    """A misspelt key must not silently fall back to the default (issue 18)."""
    from augkit.policies import policy_from_json

    doc = make().to_json()
    assert policy_from_json(doc).to_json() == doc  # every key to_json writes is accepted
    with pytest.raises(ValueError, match=r"unknown key 'magnitdue'; valid keys: type, "):
        policy_from_json({**doc, "magnitdue": 30})


def test_autoaugment_json_with_edited_sub_policies_is_refused():
    """AutoAugment files carry their table for readers; an edit there would be silently ignored."""
    from augkit.policies import policy_from_json

    doc = json.loads(json.dumps(ak.AutoAugment("cifar10").to_json()))
    doc["sub_policies"][0][0][1] = 0.99
    with pytest.raises(ValueError, match=r"key 'sub_policies' does not match .* write type 'policy'"):
        policy_from_json(doc)


def test_deeply_nested_json_is_refused_not_a_recursion_error(tmp_path):
    from augkit.policies import MAX_JSON_DEPTH
    from augkit.policy_io import read_policy_json

    for text in ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        with pytest.raises(ValueError, match="spec 'policy:<json>' is too deeply nested"):
            ak.from_spec("policy:" + text)
        path = tmp_path / "deep.json"
        path.write_text(text)
        with pytest.raises(ValueError, match=rf"policy file {path} is too deeply nested"):
            ak.load_policy(str(path))
    # brackets inside strings do not count; a legal policy at the depth limit still loads
    ok = [[["Rotate", 0.5, 0.5]]]
    assert ak.from_spec("policy:" + json.dumps(ok)).sub_policies == [[("Rotate", 0.5, 0.5)]]
    doc = {"type": "policy", "sub_policies": ok, "name": "[" * 1000}
    path.write_text(json.dumps(doc))
    assert ak.load_policy(str(path)).name == "[" * 1000
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    path.write_text(nested)
    assert read_policy_json(path) == json.loads(nested)
    path.write_text("[" + nested + "]")
    with pytest.raises(ValueError, match=rf"policy file {path} is too deeply nested: {MAX_JSON_DEPTH + 1}"):
        read_policy_json(path)


def test_policy_file_that_is_not_json_names_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not json")
    with pytest.raises(ValueError, match=rf"policy file {path} is not JSON"):
        ak.load_policy(str(path))
    binary = tmp_path / "weights.pt"
    binary.write_bytes(b"\x80\x02\xff\xfe" + bytes(64))
    with pytest.raises(ValueError, match=rf"policy file {binary} is not JSON"):
        ak.load_policy(str(binary))
    with pytest.raises(ValueError, match=rf"policy file {tmp_path} is a directory"):
        ak.load_policy(str(tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "randaugment"}))
    with pytest.raises(ValueError, match=rf"policy file {bad}: .*missing key 'num_ops'"):
        ak.load_policy(str(bad))


def test_unknown_op_lists_valid_ops():
    from augkit.policies import policy_from_json

    msg = r"sub_policies\[0\]\[1\] op 'Rotat' is unknown; valid ops: .*Rotate"
    with pytest.raises(ValueError, match=msg):
        policy_from_json({"type": "policy", "sub_policies": [[["Rotate", 1, 0.5], ["Rotat", 1, 0.5]]]})
    with pytest.raises(ValueError, match=r"op \['Rotate'\] is unknown; valid ops"):  # was: unhashable list
        ak.Policy([[(["Rotate"], 0.5, 0.5)]])


def test_counts_are_bounded_so_nothing_hangs_or_allocates_gigabytes():
    from augkit.policies import MAX_LEVELS, MAX_NUM_OPS, MAX_STAGES, MAX_SUB_POLICIES, policy_from_json

    assert ak.RandAugment(MAX_NUM_OPS).num_ops == 16 and ak.TrivialAugment(MAX_LEVELS).num_levels == 1024
    with pytest.raises(ValueError, match=r"num_ops must be an int in \[0, 16\], got 1000000"):
        ak.RandAugment(num_ops=1_000_000)
    with pytest.raises(ValueError, match=r"type 'randaugment': num_ops must be an int in \[0, 16\]"):
        policy_from_json({"type": "randaugment", "num_ops": 1e9, "magnitude": 9})
    with pytest.raises(ValueError, match="num_ops"):
        ak.from_spec("rand-n1000000-m9")
    with pytest.raises(ValueError, match="num_ops in the spec has 5000 digits"):
        ak.from_spec("rand-n" + "9" * 5000 + "-m9")
    with pytest.raises(ValueError, match="num_levels"):
        ak.from_spec("trivial-l99999999999")
    with pytest.raises(ValueError, match="num_levels"):
        policy_from_json({"type": "trivialaugment", "num_levels": 10**9})
    msg = rf"1 to {MAX_SUB_POLICIES} sub-policies, got {MAX_SUB_POLICIES + 1}"
    with pytest.raises(ValueError, match=msg):
        ak.Policy([[("Rotate", 0.5, 0.5)]] * (MAX_SUB_POLICIES + 1))
    with pytest.raises(ValueError, match=rf"sub_policies\[0\] must hold at most {MAX_STAGES} stages"):
        ak.Policy([[("Rotate", 0.5, 0.5)] * (MAX_STAGES + 1)])


@pytest.mark.parametrize(
    "field, value, err",
    [
        ("num_ops", 2.7, TypeError),
        ("num_ops", "2", TypeError),
        ("num_ops", True, TypeError),
        ("num_ops", None, TypeError),
        ("magnitude", "9", TypeError),
        ("magnitude", True, TypeError),
        ("magnitude", float("nan"), ValueError),
        ("magnitude", float("inf"), ValueError),
        ("magnitude_std", float("nan"), ValueError),
        ("magnitude_std", "0.5", TypeError),
    ],
)
def test_randaugment_json_fields_are_not_coerced(field, value, err):
    from augkit.policies import policy_from_json

    doc = {"type": "randaugment", "num_ops": 2, "magnitude": 9, field: value}
    with pytest.raises(err, match=rf"type 'randaugment': {field}"):
        policy_from_json(doc)


def test_integral_json_float_counts_are_accepted_python_floats_are_not():
    from augkit.policies import policy_from_json

    assert policy_from_json({"type": "randaugment", "num_ops": 2.0, "magnitude": 9}).num_ops == 2
    assert policy_from_json({"type": "trivialaugment", "num_levels": 31.0}).spec == "trivial"
    with pytest.raises(TypeError, match="num_ops"):
        ak.RandAugment(2.0)
    with pytest.raises(TypeError, match="num_levels"):
        ak.TrivialAugment(31.0)
    assert ak.RandAugment(2, magnitude_std=float("inf")).spec == "rand-n2-m9-mstdinf"  # inf is documented


@pytest.mark.parametrize(
    "stage, match",
    [
        (("Rotate", "0.5", 0.5), r"\[0\]\[0\] probability"),
        (("Rotate", True, 0.5), r"\[0\]\[0\] probability"),
        (("Rotate", 0.5, float("nan")), r"\[0\]\[0\] magnitude"),
        (("Rotate", 0.5, float("inf")), r"\[0\]\[0\] magnitude"),
        ("abc", r"\[0\]\[0\] must be \(op, probability, magnitude\)"),
        (("Rotate", 0.5), r"\[0\]\[0\] must be"),
    ],
)
def test_policy_stage_values_are_checked(stage, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ak.Policy([[stage]])


def test_policy_table_and_other_fields_have_named_errors():
    from augkit.policies import policy_from_json

    with pytest.raises(TypeError, match=r"sub_policies\[0\] must be a list"):
        ak.Policy([5])  # was: 'int' object is not iterable
    with pytest.raises(TypeError, match="sub_policies must be a list"):
        ak.Policy({"Rotate": 1})  # was: iterated over the dict's keys
    with pytest.raises(TypeError, match="sub_policies must be a list"):
        ak.from_spec("policy:5")
    with pytest.raises(TypeError, match="policy JSON must be an object"):
        policy_from_json([1, 2])
    with pytest.raises(ValueError, match="'type' must be one of"):
        policy_from_json({"type": ["policy"]})  # was: unhashable type: 'list'
    with pytest.raises(ValueError, match="type 'autoaugment': policy must be one of"):
        policy_from_json({"type": "autoaugment", "policy": ["cifar10"]})  # was: unhashable
    with pytest.raises(ValueError, match="type 'trivialaugment': translate must be one of"):
        policy_from_json({"type": "trivialaugment", "translate": {}})  # was: unhashable
    with pytest.raises(TypeError, match="type 'policy': name must be a string"):
        policy_from_json({"type": "policy", "sub_policies": [[["Rotate", 1, 1]]], "name": 5})
    with pytest.raises(ValueError, match="fill"):
        ak.RandAugment(fill=[True, 0, 0])  # was: accepted as 1.0
    with pytest.raises(ValueError, match="fill"):
        ak.RandAugment(fill=[float("nan")])
