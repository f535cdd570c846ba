"""Model patching (issue 15): zigzag benchmark, content-keyed subgroup lookup, CLAMP's consistency
loss, class-conditional GDRO, the CycleGAN stage, and ``augkit patch`` end to end on real data."""

from __future__ import annotations

import json

import pytest
import torch

from augkit import data as data_mod
from augkit.cli import main
from augkit.patch_compare import PatchConfig, run_patch
from augkit.patching import (
    ClassConditionalGDRO,
    GroupIndex,
    build_zigzag_benchmark,
    camel_consistency,
    draw_zigzag,
    zigzag_params,
)
from augkit.patching.benchmark import subgroup_metrics
from augkit.patching.cyclegan import train_cyclegan, translate
from augkit.runs import TrainConfig


@pytest.fixture(scope="module")
def source():
    return data_mod.load_dataset("fashion-mnist" if data_mod.available("fashion-mnist") else "digits")


def test_zigzag_is_drawn_and_reproducible() -> None:
    x = torch.zeros(5, 1, 28, 28, dtype=torch.uint8)
    v1 = zigzag_params(5, 28, 28, torch.Generator().manual_seed(1))
    v2 = zigzag_params(5, 28, 28, torch.Generator().manual_seed(1))
    assert torch.equal(v1, v2)
    out = draw_zigzag(x, v1)
    on = (out == 255).flatten(1).sum(1)
    assert (on >= 28).all() and (on < 28 * 10).all(), on  # a stroke across the width, not a blob
    assert out.dtype == torch.uint8 and (x == 0).all()  # input untouched
    assert (out[..., 0] == 255).flatten(1).any(1).all() and (out[..., -1] == 255).flatten(1).any(1).all()


def test_benchmark_skews_training_and_balances_test(source) -> None:
    ds = build_zigzag_benchmark(source, 400, 100, 200, majority=0.9, seed=3)
    assert ds.train_x.shape[0] == 400 and ds.val_x.shape[0] == 100 and ds.test_x.shape[0] == 200
    pool_y, pool_g = torch.cat([ds.train_y, ds.val_y]), torch.cat([ds.train_groups, ds.val_groups])
    assert torch.equal(pool_g // 2, pool_y)
    counts = torch.bincount(pool_g, minlength=4).tolist()
    assert counts == [225, 25, 25, 225], counts  # 250 per class, 10 % in the minority subgroup
    assert torch.bincount(ds.test_groups, minlength=4).tolist() == [50, 50, 50, 50]
    zig = ds.train_groups % 2 == 1
    assert (ds.train_x[zig] == 255).flatten(1).sum(1).float().mean() > (ds.train_x[~zig] == 255).flatten(
        1
    ).sum(1).float().mean()
    again = build_zigzag_benchmark(source, 400, 100, 200, majority=0.9, seed=3)
    assert torch.equal(again.train_x, ds.train_x) and torch.equal(again.test_groups, ds.test_groups)
    with pytest.raises(ValueError, match="majority"):
        build_zigzag_benchmark(source, 400, 100, 200, majority=1.0)
    with pytest.raises(ValueError, match="n_train"):
        build_zigzag_benchmark(source, 401, 100, 200)


def test_subgroup_metrics() -> None:
    y = torch.tensor([0, 0, 1, 1])
    g = torch.tensor([0, 1, 2, 3])
    m = subgroup_metrics(torch.tensor([0, 1, 1, 1]), y, g)
    assert (
        m["robust_acc"] == 0.0
        and m["aggregate_acc"] == 75.0
        and m["gap_even"] == 100.0
        and m["gap_odd"] == 0.0
    )


def test_group_index_finds_rows_and_refuses_strangers(source) -> None:
    x, groups = source.train_x[:300], torch.arange(300) % 3
    index = GroupIndex(x, groups)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))[:64]
    rows = index.rows_of(x[perm])
    assert torch.equal(x[rows], x[perm])  # the same images (duplicates may map to their first copy)
    assert torch.equal(index.groups_of(x[perm]), groups[rows])
    stranger = x[:2].clone()
    stranger[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="not training images"):
        index.rows_of(stranger)
    dup = torch.cat([x[:3], x[:1]])
    with pytest.raises(ValueError, match="ambiguous"):
        GroupIndex(dup, torch.tensor([0, 1, 1, 2]))


def test_camel_consistency_is_zero_for_identical_predictions_and_positive_otherwise() -> None:
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    assert camel_consistency(z, [z, z.clone()]).abs().item() < 1e-6
    other = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    loss = camel_consistency(z, [z, other])
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(other.grad).all() and other.grad.abs().sum() > 0
    # two-subgroup case: the released weighting 0.5 KL(p_x||m) + 0.25 KL(p_1||m) + 0.25 KL(p_2||m)
    p = [torch.softmax(t, 1) for t in (z, z, other.detach())]
    m = (p[1] + p[2]) / 2
    kl = lambda a: (a * (a / m).log()).sum(1)  # noqa: E731
    ref = (0.5 * kl(p[0]) + 0.25 * kl(p[1]) + 0.25 * kl(p[2])).mean()
    assert torch.allclose(camel_consistency(z, [z, other.detach()]), ref, atol=1e-6)


def test_gdro_upweights_the_worst_group_within_each_class() -> None:
    gdro = ClassConditionalGDRO(torch.tensor([0, 0, 1, 1]), torch.tensor([100, 100, 100, 100]), eta=0.5)
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    per = torch.tensor([0.1, 0.1, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0], requires_grad=True)
    for _ in range(5):
        loss = gdro.loss(per, groups)
    q = gdro.weights()
    assert q[1] > q[0] and torch.allclose(q[2], q[3]), q  # worst subgroup of class 0 upweighted
    assert torch.allclose(q[:2].sum(), torch.tensor(1.0)) and torch.allclose(q[2:].sum(), torch.tensor(1.0))
    loss.backward()
    assert per.grad[2] > per.grad[0] > 0
    before = gdro.logits.clone()
    gdro.loss(torch.tensor([1.0, 1.0]), torch.tensor([0, 2]))  # groups 1 and 3 absent from the batch
    assert gdro.logits[1] == before[1] and gdro.logits[3] == before[3]
    state = gdro.state_dict()
    fresh = ClassConditionalGDRO(torch.tensor([0, 0, 1, 1]), torch.tensor([100, 100, 100, 100]), eta=0.5)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.weights(), gdro.weights())


def test_cyclegan_cycle_loss_falls_on_two_domains(source) -> None:
    torch.manual_seed(0)  # unused by the code under test: every draw has its own generator
    a = torch.nn.functional.interpolate(source.train_x[:64].float(), size=(16, 16)).to(torch.uint8)
    b = 255 - a  # domain B: the same shapes, inverted
    net, hist = train_cyclegan(a, b, 60, torch.Generator().manual_seed(0), batch=8)
    first = sum(h["cycle"] for h in hist[:5]) / 5
    last = sum(h["cycle"] for h in hist[-5:]) / 5
    assert last < 0.7 * first, (first, last)
    out = translate(net.ab, a[:4])
    assert out.dtype == torch.uint8 and out.shape == a[:4].shape
    again, _ = train_cyclegan(a, b, 3, torch.Generator().manual_seed(0), batch=8)
    twice, _ = train_cyclegan(a, b, 3, torch.Generator().manual_seed(0), batch=8)
    assert torch.equal(translate(again.ab, a[:4]), translate(twice.ab, a[:4]))


def _tiny(tmp_path, methods=("none", "gdro", "clamp:iterations=3")) -> tuple[PatchConfig, TrainConfig]:
    cfg = PatchConfig(
        methods=methods, seeds=1, out=str(tmp_path / "patch"), n_train=200, n_val=40, n_test=200
    )
    name = "fashion-mnist" if data_mod.available("fashion-mnist") else "digits"
    run = TrainConfig(model="small_cnn_half", epochs=1, eval_every=1, adv_images=40, threads=1, dataset=name)
    return cfg, run


def test_patch_end_to_end_writes_subgroup_table_and_resumes(tmp_path) -> None:
    cfg, run = _tiny(tmp_path)
    report = run_patch(cfg, run, progress=False)
    out = report.parent
    doc = json.loads((out / "patch.json").read_text())
    assert {r["strategy"] for r in doc["runs"]} == set(cfg.methods)
    for r in doc["runs"]:
        assert 0 <= r["robust_acc"] <= r["aggregate_acc"] <= 100
    assert (out / "clamp_iterations_3" / "seed0" / "clamp_translations.png").stat().st_size > 0
    text = report.read_text()
    assert "robust acc" in text and "`gdro` − `none`" in text
    # one epoch gives one validation point: the guard cannot call it converged, and says so on top
    assert "Not every method converged" in text.split("| method")[0]
    assert "`clamp:iterations=3`: unknown" in text
    for png in ("patch_subgroups.png", "patch_val_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in text
    assert "](clamp_iterations_3/seed0/clamp_translations.png)" in text
    before = {p: p.stat().st_mtime_ns for p in out.rglob("final.json")}
    run_patch(cfg, run, resume=True, progress=False)  # nothing left to train
    assert {p: p.stat().st_mtime_ns for p in out.rglob("final.json")} == before
    assert json.loads((out / "patch.json").read_text())["runs"] == doc["runs"]
    with pytest.raises(FileExistsError, match="--resume"):
        run_patch(cfg, run, progress=False)
    with pytest.raises(ValueError, match="other options"):
        run_patch(PatchConfig(**{**cfg.__dict__, "majority": 0.9}), run, resume=True, progress=False)


def test_gdro_on_a_dataset_without_subgroups_names_the_need(tmp_path, capsys) -> None:
    rc = main(
        [
            "train",
            "--dataset",
            "digits",
            "--strategy",
            "gdro",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 2 and "subgroup labels" in capsys.readouterr().err


def test_patch_cli_refuses_bad_options(tmp_path, capsys) -> None:
    assert main(["patch", "--majority", "1.5", "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "majority" in capsys.readouterr().err
    assert main(["patch", "--methods", "none,nosuch", "--out", str(tmp_path / "q"), "--quiet"]) == 2
    assert "nosuch" in capsys.readouterr().err
