"""The under-training guard, the verdict sentences and the OOD image set."""

from __future__ import annotations

import json

import torch

from augkit.cli import main
from augkit.data.ood import photo_crops
from augkit.report.verdict import convergence, run_convergence, verdict_lines


def _curve(val: list[float], loss: list[float]) -> list[dict]:
    return [
        {"epoch": i + 1, "val_error": v, "train_loss": lo}
        for i, (v, lo) in enumerate(zip(val, loss, strict=False))
    ]


def test_flat_tail_is_converged_and_falling_tail_is_not():
    flat = _curve([0.5 - 0.04 * min(i, 8) for i in range(20)], [1.0 / (1 + min(i, 10)) for i in range(20)])
    assert run_convergence(flat, n_val=1000)["status"] == "converged"
    falling = _curve([0.5 - 0.02 * i for i in range(20)], [1.0 / (1 + min(i, 10)) for i in range(20)])
    res = run_convergence(falling, n_val=1000)
    assert res["status"] == "not converged" and "validation error still falling" in res["why"]


def test_training_loss_still_falling_is_a_note_and_validation_decides():
    loss = [1.0 - 0.04 * i for i in range(20)]  # 0.40 -> 0.24 over the tail (epochs 16-20): > 10 % and > 0.01
    res = run_convergence(_curve([0.2] * 20, loss), n_val=1000)
    assert res["status"] == "converged" and res["why"] == ""
    assert "training loss still falling (0.4 -> 0.24)" in res["note"]
    flat_loss = run_convergence(_curve([0.2] * 20, [0.1] * 20), n_val=1000)
    assert flat_loss["note"] == ""
    both = run_convergence(_curve([0.5 - 0.02 * i for i in range(20)], loss), n_val=1000)
    assert both["status"] == "not converged" and "validation" in both["why"]
    assert "training loss" in both["note"]


def test_drop_within_binomial_noise_counts_as_flat():
    # the tail falls by 0.6 pp; one evaluation on 200 images has a standard error of ~2.8 pp
    val = [0.3] * 16 + [0.3, 0.298, 0.296, 0.294]
    assert run_convergence(_curve(val, [0.1] * 20), n_val=200)["status"] == "converged"
    assert run_convergence(_curve(val, [0.1] * 20), n_val=10**6)["status"] == "not converged"


def test_no_validation_split_is_unknown():
    assert run_convergence(_curve([0.2] * 20, [0.1] * 20), n_val=0)["status"] == "unknown"
    sparse = [{"epoch": 20, "val_error": 0.2, "train_loss": 0.1}]
    assert run_convergence(sparse, n_val=1000)["status"] == "unknown"


def test_strategy_is_converged_only_if_every_run_is():
    good = _curve([0.2] * 20, [0.1] * 20)
    bad = _curve([0.5 - 0.02 * i for i in range(20)], [0.1] * 20)
    runs = [{"strategy": "a", "seed": 0, "metrics": good}, {"strategy": "a", "seed": 1, "metrics": bad}]
    runs += [{"strategy": "b", "seed": 0, "metrics": good}]
    falling_loss = _curve([0.2] * 20, [1.0 - 0.04 * i for i in range(20)])
    runs += [{"strategy": "c", "seed": 0, "metrics": falling_loss}]
    got = convergence(runs, n_val=1000)
    assert got["a"]["status"] == "not converged" and got["b"]["status"] == "converged"
    assert got["c"]["status"] == "converged"
    assert got["c"]["notes"] == ["training loss still falling (0.4 -> 0.24)"]
    assert got["b"]["notes"] == []


def _summary(means: dict[str, float], secs: dict[str, float]) -> dict:
    return {
        s: {"test_error": {"mean": m, "n": 3}, "train_seconds": {"mean": secs[s], "n": 3}}
        for s, m in means.items()
    }


def test_verdict_names_best_within_noise_and_worse():
    errs = {"none": [0.20, 0.21, 0.22], "standard": [0.15, 0.16, 0.17], "ta": [0.152, 0.158, 0.171]}
    runs = [{"strategy": s, "seed": k, "test_error": v[k]} for s, v in errs.items() for k in range(3)]
    means = {s: sum(v) / 3 for s, v in errs.items()}
    lines = verdict_lines(runs, _summary(means, {"none": 100.0, "standard": 110.0, "ta": 150.0}))
    assert lines[0].startswith("Lowest mean test error: `standard`")
    assert any("Within seed noise" in x and "`ta`" in x for x in lines)
    assert any("Worse than it" in x and "`none`" in x and "`ta`" not in x for x in lines)
    assert any("`standard` gains 5.00 pp over `none` for +10 s" in x and "+2 s per point" in x for x in lines)


def test_short_run_gets_the_banner(tmp_path):
    """A deliberately short compare (3 epochs) cannot pass the guard: the report says so at the top."""
    out = tmp_path / "short"
    args = ["compare", "--dataset", "digits", "--strategies", "none,standard", "--seeds", "2",
            "--epochs", "3", "--eval-every", "1", "--adv-images", "50", "--tta-policy-views", "1",
            "--threads", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    md = (out / "report.md").read_text()
    assert "not every run converged" in md and "## Verdict" in md
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["val"] > 0 and cfg["val"] == "auto"  # compare holds out a validation split by default


def test_converged_run_gets_no_banner(tmp_path):
    """Digits, small subset, long enough: the validation curve and training loss are flat at the end."""
    out = tmp_path / "long"
    args = ["compare", "--dataset", "digits", "--subset", "300", "--strategies", "none", "--seeds", "2",
            "--epochs", "60", "--batch-size", "32", "--eval-every", "2", "--adv-images", "50",
            "--tta-policy-views", "1", "--threads", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    md = (out / "report.md").read_text()
    assert "not every run converged" not in md and "`none`: converged (2 runs)" in md


def test_ood_crops_are_real_deterministic_images():
    a, b = photo_crops(64, (1, 28, 28), seed=1), photo_crops(64, (1, 28, 28), seed=1)
    assert a.shape == (64, 1, 28, 28) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, photo_crops(64, (1, 28, 28), seed=2))
    c = photo_crops(8, (3, 32, 32))
    assert c.shape == (8, 3, 32, 32)
    # photographs, not noise: neighbouring pixels are strongly correlated
    f = a.float()
    d_neighbour = (f[..., 1:] - f[..., :-1]).abs().mean()
    d_random = (f - f[torch.randperm(64, generator=torch.Generator().manual_seed(0))]).abs().mean()
    assert d_neighbour < 0.5 * d_random


def test_auto_epochs_gives_small_sets_long_training():
    from augkit.runs import TrainConfig, auto_epochs, budget

    assert [auto_epochs(n, 128) for n in (100, 1000, 6000, 60000)] == [2000, 200, 34, 30]
    b = budget(TrainConfig(epochs="auto", batch_size=128), 1000)
    assert b == {"epochs": 200, "steps_per_epoch": 7, "steps": 1400, "batch_size": 128, "images_seen": 179200}
