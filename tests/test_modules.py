"""Contract tests for every random module: replay, seeding, global RNG, per-image params."""

from __future__ import annotations

import pytest
import torch

import augkit as ak
from augkit.sample import index_params

from .conftest import photos

MODULES = {
    "flip": lambda: ak.RandomFlip(0.5),
    "vflip": lambda: ak.RandomFlip(0.5, "vertical"),
    "padcrop": lambda: ak.PadCrop(4),
    "padcrop_reflect": lambda: ak.PadCrop(3, mode="reflect"),
    "rrc": lambda: ak.RandomResizedCrop(20),
    "affine": lambda: ak.RandomAffine(20, (0.1, 0.1), (0.9, 1.1), 0.2),
    "elastic": lambda: ak.ElasticDistortion(8.0, 3.0),
    "jitter": lambda: ak.ColorJitter(0.4, 0.4, 0.4, 0.1),
    "gray": lambda: ak.RandomGrayscale(0.5),
    "blur": lambda: ak.GaussianBlur((0.5, 1.5), p=0.7),
    "noise": lambda: ak.GaussianNoise((0.02, 0.1), p=0.7),
    "cutout": lambda: ak.Cutout(10),
    "erasing_pixel": lambda: ak.RandomErasing(0.9),
    "erasing_random": lambda: ak.RandomErasing(0.9, value="random"),
    "erasing_const": lambda: ak.RandomErasing(0.9, value=128),
    "hide_and_seek": lambda: ak.HideAndSeek(4, 0.5),
    "gridmask": lambda: ak.GridMask(rotate=30),
    "standard": lambda: ak.standard(),
    "randomapply": lambda: ak.RandomApply(ak.ColorJitter(0.5), 0.5),
    "oneof": lambda: ak.OneOf([ak.Cutout(8), ak.RandomFlip(1.0), ak.ColorJitter(0.5)]),
    "aa_cifar10": lambda: ak.AutoAugment("cifar10"),
    "aa_svhn_code": lambda: ak.AutoAugment("svhn", ops="code"),
    "aa_imagenet": lambda: ak.AutoAugment("imagenet"),
    "rand": lambda: ak.RandAugment(2, 9),
    "rand_mstd": lambda: ak.RandAugment(3, 5, 0.5),
    "trivial": lambda: ak.TrivialAugment(),
}
# modules whose per-image result depends on other images of the batch (partners)
BATCH_COUPLED = {"samplepairing"}
MODULES["samplepairing"] = lambda: ak.SamplePairing(0.4)


def _x(dtype):
    x = photos(32, 32, 3)
    return x if dtype == torch.uint8 else x.float() / 255


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_replay_seed_and_global_rng(name, dtype):
    m = MODULES[name]()
    x = _x(dtype)
    before = x.clone()
    rng = torch.get_rng_state()
    out = m(x, generator=torch.Generator().manual_seed(3))
    params = m.sample(x, generator=torch.Generator().manual_seed(3))
    replay = m.apply(x, params)
    again = m(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), rng), "global RNG was touched"
    assert torch.equal(out, replay), "sample + apply differs from forward"
    assert torch.equal(out, again), "same seed, different bits"
    assert torch.equal(x, before), "input mutated"
    assert out.dtype == x.dtype
    outs = [m(x, generator=torch.Generator().manual_seed(s)) for s in range(4, 8)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "different seeds give identical output"


@pytest.mark.parametrize("name", sorted(set(MODULES) - BATCH_COUPLED))
def test_batch_equals_per_image_with_same_params(name):
    m = MODULES[name]()
    x = _x(torch.uint8)
    params = m.sample(x, generator=torch.Generator().manual_seed(11))
    full = m.apply(x, params)
    for i in range(x.shape[0]):
        idx = torch.tensor([i])
        one = m.apply(x[i : i + 1], index_params(params, idx))
        assert torch.equal(full[i : i + 1], one), f"{name}: image {i}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_single_image_and_empty_batch(name):
    m = MODULES[name]()
    x = _x(torch.uint8)
    out = m(x[0], generator=torch.Generator().manual_seed(0))
    assert out.ndim == 3 and out.shape[0] == 3
    empty = m(x[:0], generator=torch.Generator().manual_seed(0))
    assert empty.shape[0] == 0


def test_empty_batch_through_compose_takes_the_resized_shape():
    """Compose.apply on B = 0 ran no child, so a resizing child's output size was lost (issue 18)."""
    m = ak.Compose([ak.RandomResizedCrop(16), ak.RandomFlip()])
    x = _x(torch.uint8)[:0]
    g = torch.Generator().manual_seed(0)
    assert m.apply(x, m.sample(x, generator=g)).shape == (0, 3, 16, 16)
    assert m(x, generator=g).shape == (0, 3, 16, 16)
    full = _x(torch.uint8)
    assert m.apply(full, m.sample(full, generator=g)).shape == (full.shape[0], 3, 16, 16)


def test_default_generator_is_seeded_and_private():
    x = _x(torch.uint8)
    a, b = ak.RandAugment(seed=5), ak.RandAugment(seed=5)
    rng = torch.get_rng_state()
    assert torch.equal(a(x), b(x))
    assert torch.equal(torch.get_rng_state(), rng)


def test_per_image_randomness_in_a_batch_of_identical_images():
    x = photos(32, 32, 3)[:1].expand(64, -1, -1, -1).contiguous()
    for m in (ak.AutoAugment("cifar10"), ak.RandAugment(2, 9), ak.TrivialAugment()):
        p = m.sample(x, generator=torch.Generator().manual_seed(0))
        assert len(torch.unique(p.ops[:, 0])) > 5, f"{m.spec}: images did not draw different ops"
        out = m.apply(x, p)
        distinct = torch.unique(out.flatten(1), dim=0).shape[0]
        assert distinct > 20, f"{m.spec}: only {distinct} distinct results among 64 identical inputs"


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="p must"):
        ak.RandomFlip(1.5)
    with pytest.raises(ValueError, match="padding"):
        ak.PadCrop(-1)
    with pytest.raises(ValueError, match="scale"):
        ak.RandomResizedCrop(8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="value"):
        ak.RandomErasing(value="noise")
    with pytest.raises(TypeError, match="generator"):
        ak.RandomFlip()(photos(8, 8), generator=3)
    with pytest.raises(ValueError, match="shape"):
        ak.RandomFlip()(torch.zeros(8, 8, dtype=torch.uint8))
