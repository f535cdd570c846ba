"""Reliability: no data loss, no code run from a file, refused resumes, divergence, one-line errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from augkit.cli import main
from augkit.data import load_dataset
from augkit.io import atomic_save_torch, atomic_write_text, load_torch
from augkit.models import build_model
from augkit.runs import TrainConfig, evaluate_checkpoint, train_run
from augkit.strategies import Batch, Context, Strategy, build_strategy
from augkit.train import CHECKPOINT, OptimConfig, TrainingDiverged, fit, streams

TINY = ["--dataset", "digits", "--epochs", "1", "--adv-images", "20", "--tta-policy-views", "1", "--quiet"]


class _Payload:
    """Unpickling this runs ``os.system`` — what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious(path: Path, marker: Path, key: str = "model") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: _Payload(marker), "history": [], "step": 0}, path)
    return path


# --- data loss -------------------------------------------------------------------------------------


def test_overwrite_validates_first_and_never_deletes_a_foreign_directory(tmp_path, capsys):
    v = tmp_path / "v"
    (v / "photos").mkdir(parents=True)
    (v / "thesis.tex").write_text("years of work")
    assert main(["train", "--strategy", "bogus", "--out", str(v), "--overwrite", *TINY]) == 2
    assert (v / "thesis.tex").read_text() == "years of work"  # the bad strategy was refused first
    assert main(["train", *TINY, "--out", str(v), "--overwrite"]) == 2
    assert "did not create it" in capsys.readouterr().err and (v / "thesis.tex").exists()


def test_overwrite_replaces_a_directory_augkit_made(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    assert (run / ".augkit-run").is_file() and (run / "final.json").is_file()
    (run / "stale.txt").write_text("from the old run")
    assert main(["train", *TINY, "--out", str(run), "--overwrite"]) == 0
    assert not (run / "stale.txt").exists() and (run / "final.json").is_file()


def test_a_failed_start_does_not_block_the_corrected_retry(tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    atomic_write_text(out / ".augkit-run", "x")
    atomic_write_text(out / "config.json", "{}")  # what a compare that failed before any run leaves
    args = ["compare", *TINY, "--strategies", "none", "--seeds", "1", "--out", str(out)]
    assert main(args) == 0 and (out / "none" / "seed0" / "final.json").is_file()


# --- files that could run code ----------------------------------------------------------------------


def test_load_torch_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ValueError, match="refusing to load"):
        load_torch(_malicious(tmp_path / "x.pt", marker))
    assert not marker.exists()


def test_every_loading_path_refuses_a_malicious_file(tmp_path, capsys):
    marker = tmp_path / "pwned"
    # 1. resume of a run
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    (run / "final.json").unlink()
    _malicious(run / CHECKPOINT, marker)
    assert main(["train", *TINY, "--out", str(run), "--resume"]) == 2
    # 2. augkit evaluate
    assert main(["evaluate", str(run)]) == 2
    # 3. attentive-cutmix with a given checkpoint
    s = build_strategy(f"attentive-cutmix:checkpoint={run / CHECKPOINT}")
    ds = load_dataset("digits")
    model = build_model("small_cnn", 1, 10, ds.mean(), ds.std(), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="refusing to load"):
        s.setup(Context(model, torch.device("cpu"), 10, torch.Generator().manual_seed(0)))
    # 4. the report of a received run directory (IF-DA figure tensors)
    from augkit.report.fig_ifda import figures

    _malicious(run / "ifda" / "figures.pt", marker, key="image")
    with pytest.raises(ValueError, match="refusing to load"):
        figures([{"strategy": "if-da", "seed": 0, "run_dir": str(run)}], "if-da", {}, tmp_path)
    # 5. a cached search artefact
    from augkit.search.cache import cached_stage

    stage = tmp_path / "search" / "0_classifier"
    _malicious(stage / "artefact.pt", marker)
    atomic_write_text(stage / "done.json", json.dumps({"key": {"k": 1}, "cost": {}}))
    with pytest.raises(ValueError, match="refusing to load"):
        cached_stage(tmp_path / "search", "0_classifier", {"k": 1}, lambda d: {}, torch.device("cpu"))
    assert not marker.exists(), "a loaded file ran code"
    capsys.readouterr()


# --- resume ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [["--strategy", "randaugment"], ["--lr", "0.1"], ["--subset", "500"]])
def test_resume_with_other_options_is_refused_and_writes_nothing(tmp_path, capsys, change):
    run = tmp_path / "run"
    base = [
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--adv-images",
        "20",
        "--quiet",
        "--out",
        str(run),
    ]
    assert main(base) == 0
    (run / "final.json").unlink()
    before = (run / "config.json").read_bytes()
    assert main([*base, *change, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "other options" in err and change[0].lstrip("-").replace("-", "_") in err
    assert (run / "config.json").read_bytes() == before and not (run / "final.json").exists()


def test_resumed_compare_may_add_strategies_and_seeds_but_not_drop_them(tmp_path, capsys):
    """Extending a finished comparison trains only the new pairs; earlier runs stay byte for byte."""
    out = tmp_path / "cmp"
    args = ["compare", *TINY, "--out", str(out)]
    assert main([*args, "--strategies", "none", "--seeds", "1"]) == 0
    first = (out / "none" / "seed0" / "final.json").read_bytes()
    assert main([*args, "--strategies", "none,standard", "--seeds", "2", "--resume"]) == 0
    assert (out / "none" / "seed0" / "final.json").read_bytes() == first
    runs = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/seed*/final.json"))
    assert runs == ["none/seed0", "none/seed1", "standard/seed0", "standard/seed1"]
    assert json.loads((out / "config.json").read_text())["strategies"] == ["none", "standard"]
    capsys.readouterr()
    assert main([*args, "--strategies", "standard", "--seeds", "2", "--resume"]) == 2
    assert "['none']" in capsys.readouterr().err
    assert main([*args, "--strategies", "none,standard", "--seeds", "1", "--resume"]) == 2
    assert "--seeds 2" in capsys.readouterr().err


def test_resume_removes_orphan_temp_files_and_files_are_not_private(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", *TINY, "--strategies", "none", "--seeds", "1", "--out", str(out)]
    assert main(args) == 0
    orphan = out / ".report.md.abc123.tmp"  # what a kill during report writing leaves
    orphan.write_text("half")
    assert main([*args, "--resume"]) == 0
    assert not orphan.exists()
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((out / "report.md").stat().st_mode)
    assert mode == 0o666 & ~umask, oct(mode)


# --- divergence ----------------------------------------------------------------------------------------


class _Poison(Strategy):
    """Trains normally for one epoch, then sets a BatchNorm buffer to inf (or the loss to NaN)."""

    def __init__(self, how: str) -> None:
        self.how = how

    def loss(self, model, batch: Batch, ctx: Context) -> torch.Tensor:
        loss = super().loss(model, batch, ctx)
        return loss * float("nan") if self.how == "loss" and ctx.epoch == 1 else loss

    def on_epoch_end(self, ctx: Context) -> dict:
        if self.how == "buffer" and ctx.epoch == 1:
            next(b for n, b in ctx.model.named_buffers() if n.endswith("running_var")).fill_(float("inf"))
        return {}


@pytest.mark.parametrize("how", ["loss", "buffer"])
def test_divergence_stops_and_the_checkpoint_stays_finite(tmp_path, how):
    ds = load_dataset("digits")
    g = streams(0)
    model = build_model("small_cnn", 1, 10, ds.mean(), ds.std(), generator=g["init"])
    with pytest.raises(TrainingDiverged, match="diverged.*kept the last good checkpoint"):
        fit(model, ds, _Poison(how), OptimConfig(epochs=3, batch_size=128), tmp_path, gens=g)
    state = load_torch(tmp_path / CHECKPOINT)
    assert len(state["history"]) == 1  # the epoch that diverged was not checkpointed
    tensors = [t for t in state["model"].values() if t.is_floating_point()]
    assert tensors and all(bool(torch.isfinite(t).all()) for t in tensors)


def test_exploding_loss_is_divergence_with_a_one_line_error(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "3",
            "--lr",
            "100",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 3 and err.count("\n") == 0 and "training diverged" in err


# --- bad input: one line, exit 2, nothing written --------------------------------------------------------


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--subset", "inf"], "subset"),
        (["--subset", "1.0"], "subset"),
        (["--threads", "-1"], "threads"),
        (["--adv-images", "0"], "adv_images"),
        (["--adv-images", "-5"], "adv_images"),
        (["--ifgsm-steps", "0"], "ifgsm_steps"),
        (["--tta-policy-views", "-3"], "tta_policy_views"),
        (["--lr", "inf"], "lr"),
        (["--strategy", "x" * 300], "strategy"),
    ],
)
def test_bad_flags_fail_in_one_line_before_any_work(tmp_path, capsys, flags, needle):
    out = tmp_path / "r"
    assert main(["train", "--dataset", "digits", "--quiet", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.count("\n") == 0 and not out.exists()


def test_bad_config_file_and_bad_out(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("epochs: [1, 2\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "a")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    j = tmp_path / "c.json"
    j.write_text('{"epochs": "abc"}')
    assert main(["train", "--config", str(j), "--out", str(tmp_path / "b")]) == 2
    assert "epochs" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", *TINY, "--out", str(f)]) == 2 and "is a file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2 and "no runs" in capsys.readouterr().err
    assert not (empty / "report.md").exists()
    for p in (tmp_path / "a", tmp_path / "b"):
        assert not p.exists()


def test_dry_run_validates_option_values(tmp_path, capsys):
    assert main(["compare", "--strategies", "none,mixup:alpha=-1", "--dry-run"]) == 2
    assert "alpha" in capsys.readouterr().err


def test_long_strategy_specs_get_a_short_directory_name(tmp_path):
    from augkit.strategies import strategy_dirname

    spec = "randaugment:" + ",".join(["n=2", "m=9"] * 60)
    name = strategy_dirname(spec)
    assert len(name) <= 120 and name != strategy_dirname(spec + ",n=1")
    cfg = TrainConfig(dataset="digits", epochs=1, strategy=spec, adv_images=20, tta_policy_views=1)
    final = train_run(cfg, tmp_path / name, progress=False)
    assert (
        final["strategy"] == spec
        and evaluate_checkpoint(tmp_path / name)["test_error"] == final["test_error"]
    )


def test_atomic_save_round_trip(tmp_path):
    atomic_save_torch(tmp_path / "a.pt", {"w": torch.ones(2), "n": 3, "s": "x", "l": [1.0, None]})
    assert load_torch(tmp_path / "a.pt")["l"] == [1.0, None]
