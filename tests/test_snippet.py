"""Tests for experiments/snippet.py: a committed ``--copy`` regenerates the same tables.

A compare directory is built by hand (two strategies, two seeds, a fake checkpoint and a stray
``*.pt`` in every run); the snippet runs as a subprocess, as it does for docs/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "experiments" / "snippet.py"
STRATEGIES = ["none", "standard"]
TEST_ERROR = {"none": [0.10, 0.13], "standard": [0.08, 0.12]}
RUN_FILES = ("config.json", "metrics.jsonl", "final.json")


def _final(name: str, seed: int) -> dict:
    te = TEST_ERROR[name][seed]
    edges = [i / 15 for i in range(16)]
    count, acc, conf = [0] * 15, [None] * 15, [None] * 15
    count[14], acc[14], conf[14] = 200 + 10 * seed, 1 - te, 0.95
    return {
        "strategy": name,
        "seed": seed,
        "test_error": te,
        "top5_error": te / 4,
        "nll": 0.3 + te,
        "ece": 0.02 + 0.01 * seed,
        "oe": 0.01,
        "fgsm_error": 0.5 + te,
        "ifgsm_error": 0.7 + te,
        "tta_error": te - 0.01,
        "tta_gain": 0.01,
        "ood_auroc": None,
        "train_seconds": 60.0 + seed,
        "images_per_second": 1000.0 - 10 * seed,
        "per_class_error": [te + 0.01 * (c - 4.5) for c in range(10)],
        "reliability": {"edges": edges, "count": count, "accuracy": acc, "confidence": conf},
        "fgsm_eps": 4.0,
        "tta_views": ["identity", "hflip"],
    }


def _metrics(name: str, seed: int) -> str:
    recs = [
        {
            "epoch": e,
            "train_loss": 2.0 / (e + 1) + 0.01 * seed,
            "train_error": 0.5 / (e + 1),
            "test_error": 0.3 / (e + 1) + 0.01 * seed,
            "lr": 0.1,
            "epoch_seconds": 20.0,
            "images_per_second": 1000.0,
            **({"crop_rate": 0.25 * (e + 1) + seed} if name == "standard" else {}),
        }
        for e in range(3)
    ]
    return "".join(json.dumps(r) + "\n" for r in recs)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (30, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _make_compare(out: Path) -> Path:
    cfg = {"strategies": STRATEGIES, "seeds": 2, "command": "augkit compare --strategies none,standard"}
    out.mkdir()
    (out / "config.json").write_text(json.dumps(cfg))
    for name in STRATEGIES:
        for seed in range(2):
            rdir = out / name / f"seed{seed}"
            rdir.mkdir(parents=True)
            (rdir / "config.json").write_text(json.dumps({"strategy": name, "seed": seed, "epochs": 3}))
            (rdir / "metrics.jsonl").write_text(_metrics(name, seed))
            (rdir / "final.json").write_text(json.dumps(_final(name, seed)))
            (rdir / "checkpoint.pt").write_bytes(b"\x80fake checkpoint")
            (rdir / "cache.pt").write_bytes(b"\x80not a declared artefact")
        (out / name / "gallery.png").write_bytes(_png())
    return out


def _snippet(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SNIPPET), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def copied(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("snippet")
    out = _make_compare(base / "cmp")
    first = _snippet(out, "--copy", base / "docs" / "cmp")
    assert first.returncode == 0, first.stderr
    return out, base / "docs" / "cmp", first


def test_copy_has_run_files_and_galleries_but_no_checkpoints(copied):
    out, dest, _ = copied
    for name in STRATEGIES:
        assert (dest / name / "gallery.png").read_bytes() == (out / name / "gallery.png").read_bytes()
        for seed in range(2):
            for f in RUN_FILES:
                rel = Path(name) / f"seed{seed}" / f
                assert (dest / rel).read_bytes() == (out / rel).read_bytes(), rel
    assert list(dest.rglob("*.pt")) == []
    for f in ("config.json", "summary.json", "results.csv", "report.md", "report.html"):
        assert (dest / f).is_file(), f
    assert (dest / "figures").is_dir() and any((dest / "figures").iterdir())


def test_copy_regenerates_the_same_tables(copied):
    out, dest, first = copied
    assert "| `none` | 2 |" in first.stdout and "| `standard` | 2 |" in first.stdout
    assert "crop_rate" in first.stdout  # the strategy's own logged signal
    again = _snippet(dest)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert json.loads((dest / "summary.json").read_text()) == json.loads((out / "summary.json").read_text())
    assert (dest / "results.csv").read_text() == (out / "results.csv").read_text()


def test_empty_directory_is_refused_and_nothing_written(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"strategies": STRATEGIES}))
    res = _snippet(empty, "--copy", tmp_path / "dest")
    assert res.returncode == 2
    assert "no finished run" in res.stderr
    assert sorted(p.name for p in empty.iterdir()) == ["config.json"]
    assert not (tmp_path / "dest").exists()


def test_declared_artefacts_are_copied_and_nothing_else(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("snippet", SNIPPET)
    snippet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snippet)
    out = tmp_path / "cmp"
    rdir = out / "ifda" / "seed0"
    (rdir / "ifda").mkdir(parents=True)
    for f in (*RUN_FILES, "ifda/figures.pt", "ifda/costs.json", "ifda/stage1.pt", "checkpoint.pt"):
        (rdir / f).write_text("{}")
    runs = [{"strategy": "if-da", "run_dir": str(rdir)}, {"strategy": "gone:x=1", "run_dir": str(rdir)}]
    got = {str(p) for p in snippet.run_files(out, runs[:1])}
    run = {f"ifda/seed0/{f}" for f in RUN_FILES}
    assert got == run | {"ifda/seed0/ifda/figures.pt", "ifda/seed0/ifda/costs.json"}
    assert {str(p) for p in snippet.run_files(out, runs[1:])} == run  # unknown strategy: no artefacts


def test_gitignore_keeps_docs_galleries_committable():
    def ignored(path: str) -> bool:
        res = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
        return res.returncode == 0

    assert ignored("gallery.png")  # the `augkit gallery` default output at the top level
    assert not ignored("docs/results/cmp/none/gallery.png")


def test_search_stage_costs_are_copied_but_not_their_weights(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("snippet", SNIPPET)
    snippet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snippet)
    out = tmp_path / "cmp"
    rdir = out / "style" / "seed0"
    (rdir / "style" / "style_net").mkdir(parents=True)
    for f in (*RUN_FILES, "style/style_net/done.json", "style/style_net/artefact.pt", "done.json"):
        (rdir / f).write_text("{}")
    got = {str(p) for p in snippet.run_files(out, [{"strategy": "style", "run_dir": str(rdir)}])}
    assert got == {f"style/seed0/{f}" for f in RUN_FILES} | {"style/seed0/style/style_net/done.json"}
