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


def _runs(name: str, curves: list[list[dict]]) -> list[dict]:
    return [{"strategy": name, "seed": i, "metrics": c} for i, c in enumerate(curves)]


def _noisy(level: list[float], sd: float, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    return [v + sd * float(torch.randn((), generator=g)) for v in level]


FLAT_LOSS = [0.1] * 20


def test_flat_tail_is_converged_and_falling_tail_is_not():
    flat = _curve([0.5 - 0.04 * min(i, 8) for i in range(20)], [1.0 / (1 + min(i, 10)) for i in range(20)])
    falling = _curve([0.5 - 0.02 * i for i in range(20)], [1.0 / (1 + min(i, 10)) for i in range(20)])
    got = convergence(_runs("flat", [flat] * 3) + _runs("falling", [falling] * 3), n_val=1000)
    assert got["flat"]["status"] == "converged" and got["flat"]["why"] == []
    assert got["falling"]["status"] == "not converged"
    assert "validation error still falling: mean 8.00 pp" in got["falling"]["why"][0]


def test_training_loss_still_falling_is_a_note_and_validation_decides():
    loss = [1.0 - 0.04 * i for i in range(20)]  # 0.40 -> 0.24 over the tail (epochs 16-20)
    res = run_convergence(_curve([0.2] * 20, loss), n_val=1000)
    assert res["status"] == "measured" and res["why"] == "" and res["val_drop"] == 0.0
    assert "training loss still falling (0.4 -> 0.24)" in res["note"]
    assert run_convergence(_curve([0.2] * 20, FLAT_LOSS), n_val=1000)["note"] == ""
    got = convergence(_runs("c", [_curve([0.2] * 20, loss)] * 2), n_val=1000)
    assert got["c"]["status"] == "converged"
    assert got["c"]["notes"] == ["training loss still falling in 2 of 2 runs: (0.4 -> 0.24), (0.4 -> 0.24)"]
    both = convergence(_runs("d", [_curve([0.5 - 0.02 * i for i in range(20)], loss)] * 2), n_val=1000)
    assert both["d"]["status"] == "not converged" and both["d"]["notes"]


def test_drops_that_disagree_across_seeds_are_noise_drops_that_agree_are_not():
    """The mean tail drop is tested over seeds: +1, -1, +0.5 pp is noise; 0.5 pp on every seed is not."""
    def tail_drop(d: float) -> list[dict]:  # flat, then a linear drop of d over epochs 16-20
        return _curve([0.2] * 16 + [0.2 - d * j / 4 for j in range(1, 5)], FLAT_LOSS)

    mixed = convergence(_runs("m", [tail_drop(0.01), tail_drop(-0.01), tail_drop(0.005)]), n_val=1000)
    assert mixed["m"]["status"] == "converged"
    shared = [_curve(_noisy([0.2] * 16 + [0.2 - 0.005 * j / 4 for j in range(1, 5)], 1e-4, s), FLAT_LOSS)
              for s in range(3)]  # fmt: skip
    got = convergence(_runs("s", shared), n_val=1000)
    assert got["s"]["status"] == "not converged", got


def test_one_run_is_judged_by_its_own_residual_scatter():
    quiet = _curve(_noisy([0.2] * 16 + [0.2 - 0.004 * j for j in range(1, 5)], 5e-4, 1), FLAT_LOSS)
    loud = _curve(_noisy([0.2] * 16 + [0.2 - 0.004 * j for j in range(1, 5)], 2e-2, 1), FLAT_LOSS)
    assert convergence(_runs("q", [quiet]), n_val=1000)["q"]["status"] == "not converged"
    assert convergence(_runs("l", [loud]), n_val=1000)["l"]["status"] == "converged"


def test_guard_is_calibrated_on_simulated_curves():
    """Flat curves with realistic scatter trip the guard rarely; a 2 pp shared tail drop nearly always."""
    def strategy(drop: float, seed: int) -> list[dict]:
        g = torch.Generator().manual_seed(seed)
        runs = []
        for _ in range(3):
            level = 0.15 + 0.005 * float(torch.randn((), generator=g))  # seed-to-seed offset
            slope = drop + 0.004 * float(torch.randn((), generator=g))  # seed-to-seed tail slope
            val = [level + 0.003 * float(torch.randn((), generator=g)) - slope * max(0, i - 15) / 4
                   for i in range(20)]  # fmt: skip
            runs.append(_curve(val, FLAT_LOSS))
        return _runs("x", runs)

    alarms = sum(convergence(strategy(0.0, s), 1000)["x"]["status"] != "converged" for s in range(300))
    hits = sum(convergence(strategy(0.02, s), 1000)["x"]["status"] != "converged" for s in range(300))
    assert alarms / 300 <= 0.08, alarms  # one-sided 95 %, plus the seed-noise floor
    assert hits / 300 >= 0.85, hits


def test_no_validation_split_is_unknown():
    assert convergence(_runs("a", [_curve([0.2] * 20, FLAT_LOSS)]), n_val=0)["a"]["status"] == "unknown"
    sparse = [{"epoch": 20, "val_error": 0.2, "train_loss": 0.1}]
    assert run_convergence(sparse, n_val=1000)["status"] == "unknown"
    assert convergence(_runs("b", [sparse]), n_val=1000)["b"]["status"] == "unknown"


def test_a_strategy_is_judged_on_all_its_runs():
    good = _curve([0.2] * 20, FLAT_LOSS)
    bad = [_curve([0.5 - (0.02 + 0.002 * s) * i for i in range(20)], FLAT_LOSS) for s in range(3)]
    got = convergence(_runs("a", bad) + _runs("b", [good, good]), n_val=1000)
    assert got["a"]["status"] == "not converged" and got["b"]["status"] == "converged"
    assert got["b"]["notes"] == [] and got["a"]["runs"] == 3


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
    small = budget(TrainConfig(epochs="auto", batch_size=128), 100)  # one batch of the whole set
    assert small == {"epochs": 2000, "steps_per_epoch": 1, "steps": 2000, "batch_size": 100,
                     "images_seen": 200000}  # fmt: skip


def test_main_job_preset_is_the_measured_one(capsys):
    """`augkit compare` with no arguments: the preset timed in docs/RESULTS.md §8b (11 min 43 s)."""
    assert main(["compare", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["seeds"] == 3 and {"none", "standard", "trivialaugment"} <= set(cfg["strategies"])
    assert cfg["model"] == "small_cnn_half" and cfg["epochs"] == "auto"
    assert cfg["val"] == "auto" and cfg["jobs"] == 2
