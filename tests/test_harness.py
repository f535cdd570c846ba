"""End-to-end harness: CLI runs on real data, exact resume after a kill, strategy parsing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from augkit.cli import main, split_strategies
from augkit.data import available
from augkit.runs import TrainConfig, train_run
from augkit.strategies import parse_strategy, strategy_dirname

REAL = "fashion-mnist" if available("fashion-mnist") else "digits"
TINY = [
    "--dataset",
    REAL,
    "--subset",
    "300" if REAL == "fashion-mnist" else "0",
    "--epochs",
    "2",
    "--batch-size",
    "64",
    "--adv-images",
    "100",
    "--test-subset",
    "300",
    "--tta-policy-views",
    "1",
    "--quiet",
]


def test_split_strategies_keeps_options_together():
    assert split_strategies("none,randaugment:n=2,m=9,standard:cutout=16") == [
        "none",
        "randaugment:n=2,m=9",
        "standard:cutout=16",
    ]


def test_parse_strategy_options_and_errors():
    name, opts = parse_strategy("randaugment:n=3,m=5")
    assert name == "randaugment" and opts["n"] == 3 and opts["m"] == 5.0 and opts["base"] == "standard"
    with pytest.raises(ValueError, match="valid strategies"):
        parse_strategy("randaugmint")
    with pytest.raises(ValueError, match="valid keys"):
        parse_strategy("randaugment:k=3")
    with pytest.raises(ValueError, match="invalid"):
        parse_strategy("randaugment:n=two")
    # every registered strategy's behaviour is covered by tests/test_strategy_contract.py


def test_unknown_strategy_fails_before_training(tmp_path, capsys):
    rc = main(["compare", "--strategies", "none,bogus", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "valid strategies" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_dry_run_prints_resolved_config(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: digits\nepochs: 7\nstrategies: none,standard\n")
    assert main(["compare", "--config", str(cfg), "--seeds", "2", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 7 and out["seeds"] == 2 and out["strategies"] == ["none", "standard"]


def test_compare_end_to_end_on_real_data(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = [
        "compare",
        *TINY,
        "--strategies",
        "none,standard,randaugment:n=1,m=5",
        "--seeds",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    strategies = summary["strategies"]
    assert list(strategies) == ["none", "standard", "randaugment:n=1,m=5"]
    for name, s in strategies.items():
        runs = [out / strategy_dirname(name) / f"seed{k}" for k in (0, 1)]
        finals = [json.loads((r / "final.json").read_text()) for r in runs]
        for metric in ("test_error", "nll", "ece", "oe", "fgsm_error", "tta_error", "train_seconds"):
            assert s[metric]["n"] == 2
            assert s[metric]["mean"] == pytest.approx(sum(f[metric] for f in finals) / 2, rel=1e-12)
        for r in runs:  # training did something: the loss fell from the first epoch to the last
            curve = [json.loads(x) for x in (r / "metrics.jsonl").open()]
            assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "randaugment" in html
    assert (out / "results.csv").exists() and (out / "report.md").exists()
    assert (out / "standard" / "gallery.png").exists()
    # an existing run directory is refused without --resume/--overwrite
    assert main(args) == 2 and "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0  # nothing left to train: finishes at once


def test_parallel_jobs_match_serial_runs(tmp_path):
    """--jobs trains in worker processes; every run must equal the serial run bit for bit."""
    common = [*TINY, "--strategies", "none,standard", "--seeds", "1", "--threads", "1", "--quiet"]
    assert main(["compare", *common, "--out", str(tmp_path / "serial")]) == 0
    assert main(["compare", *common, "--jobs", "2", "--out", str(tmp_path / "par")]) == 0
    for s in ("none", "standard"):
        assert _final(tmp_path / "serial" / s / "seed0") == _final(tmp_path / "par" / s / "seed0")


def _final(d: Path) -> dict:
    f = json.loads((d / "final.json").read_text())
    return {k: v for k, v in f.items() if k not in ("train_seconds", "images_per_second")}


def test_resume_after_kill_reproduces_uninterrupted_run(tmp_path):
    common = [
        "train",
        *TINY,
        "--epochs",
        "3",
        "--strategy",
        "trivialaugment",
        "--seed",
        "1",
        "--threads",
        "1",
    ]
    full = tmp_path / "full"
    assert main(common + ["--out", str(full)]) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "augkit.cli", *common, "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "metrics.jsonl").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert 1 <= len(lines) < 3 and not (killed / "final.json").exists(), "kill landed too late to test resume"
    assert main(common + ["--out", str(killed), "--resume"]) == 0
    assert _final(killed) == _final(full)
    strip = lambda p: [
        {k: v for k, v in json.loads(x).items() if k not in ("epoch_seconds", "images_per_second")}
        for x in (p / "metrics.jsonl").read_text().splitlines()
    ]
    assert strip(killed) == strip(full)


def test_nan_loss_stops_with_clear_message(tmp_path):
    cfg = TrainConfig(dataset="digits", epochs=2, lr=1e9, strategy="none", adv_images=10)
    from augkit.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="lower --lr"):
        train_run(cfg, tmp_path / "nan", progress=False)


def test_evaluate_and_report_commands(tmp_path, capsys):
    run = tmp_path / "one"
    assert main(["train", *TINY, "--strategy", "standard", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_error"] == pytest.approx(json.loads((run / "final.json").read_text())["test_error"])


def test_gallery_command_writes_png(tmp_path):
    out = tmp_path / "g.png"
    assert main(["gallery", "--out", str(out)]) == 0
    from PIL import Image

    img = Image.open(out)
    assert img.size[0] > 500 and img.size[1] > 40 * 50  # one row per op, transform and policy


def test_missing_dataset_message_names_places(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUGKIT_DATA", str(tmp_path))
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path) in err


def test_training_uses_no_global_rng(tmp_path):
    state = torch.get_rng_state()
    train_run(
        TrainConfig(dataset="digits", epochs=1, strategy="randaugment", adv_images=10),
        tmp_path / "r",
        progress=False,
    )
    assert torch.equal(torch.get_rng_state(), state)


def test_method_figures_reach_the_report(tmp_path):
    """A method family's own figure (SPA's fraction/instability plot) is drawn into both reports."""
    out = tmp_path / "spa"
    args = [*TINY, "--strategies", "spa:lambda=0.1,aug=flip,spa:lambda=0,aug=flip", "--seeds", "1"]
    assert main(["compare", *args, "--threads", "1", "--quiet", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Method figures" in md and "spa_flip_fraction_and_instability.png" in md
    assert (out / "figures" / "spa_flip_fraction_and_instability.png").stat().st_size > 1000
    assert "Method figures" in (out / "report.html").read_text()


def test_search_ifda_command_runs_stages_and_resumes(tmp_path, capsys):
    """`augkit search if-da` runs IF-DA's stages 0-3 alone, reports their cost, and reuses finished stages."""
    out = tmp_path / "search"
    args = ["search", "if-da", *TINY, "--threads", "1", "--out", str(out)]
    args += ["--strategy", "if-da:f_epochs=1,gan_epochs=1,eg_epochs=1,width=8,tau=16"]
    assert main(args) == 0
    costs = json.loads(capsys.readouterr().out)
    assert (out / "ifda" / "costs.json").is_file() and costs
    assert not any(st["cached"] for st in costs["stages"].values())
    assert main(args) == 0  # every stage is done: nothing is recomputed, the recorded costs come back
    again = json.loads(capsys.readouterr().out)
    assert all(st["cached"] for st in again["stages"].values())
    for name, st in costs["stages"].items():
        assert again["stages"][name]["wall_seconds"] == st["wall_seconds"]
    assert main(["search", "if-da", "--strategy", "standard", "--out", str(out)]) == 2
