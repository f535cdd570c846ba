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
    with pytest.raises(ValueError, match="probability and magnitude"):
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
    """``policy:file=PATH`` trains with a policy saved by ``save_policy`` (same draws as the object)."""
    from augkit.policies import AutoAugment, save_policy
    from augkit.strategies import Context, build_strategy

    path = tmp_path / "aa.json"
    save_policy(AutoAugment("cifar10"), str(path))
    s = build_strategy(f"policy:file={path},base=none")
    x = photos(28, 28, 3)
    ctx = Context(torch.nn.Identity(), torch.device("cpu"), 10, torch.Generator().manual_seed(2))
    got = s.make_batch(x, torch.zeros(x.shape[0], dtype=torch.long), ctx).x
    assert torch.equal(got, AutoAugment("cifar10")(x, generator=torch.Generator().manual_seed(2)))
