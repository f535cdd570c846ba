"""Tests for augkit.report: a hand-built compare run directory in, report files out.

Every expected number below is worked out by hand from the numbers written into the fake runs,
so the tests check the statistics, not just that files appear.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from PIL import Image

import augkit.io
from augkit.report import load_runs, paired_differences, summarize, write_report
from augkit.report.collect import METRICS, pooled_reliability, stats, t_critical
from augkit.report.tables import main_table, to_markdown

STRATEGIES = ["none", "randaugment:n=2,m=9", "mixup:alpha=0.2"]  # config order; these have runs
NEVER_RUN = "cutout:size=8"  # listed in the config, no directory at all
DIRS = {"none": "none", "randaugment:n=2,m=9": "randaugment_n_2_m_9", "mixup:alpha=0.2": "mixup_alpha_0.2"}
TEST_ERROR = {
    "none": [0.10, 0.12, 0.14],
    "randaugment:n=2,m=9": [0.08, 0.10, 0.11],
    "mixup:alpha=0.2": [0.09, 0.13],  # seed 2 is unfinished
}
ECE = {"none": [0.05, 0.06, 0.07], "randaugment:n=2,m=9": [0.04, 0.04, 0.07], "mixup:alpha=0.2": [0.02, 0.03]}
IPS = {
    "none": [1000.0, 1100.0, 1200.0],
    "randaugment:n=2,m=9": [900.0, 950.0, 1000.0],
    "mixup:alpha=0.2": [800.0, 820.0],
}
EDGES = [i / 15 for i in range(16)]
N_CLASSES = 10


def _reliability(seed: int) -> dict:
    count = [0] * 15
    acc: list[float | None] = [None] * 15
    conf: list[float | None] = [None] * 15
    # two populated bins; the numbers differ per seed so that pooling is checked
    count[13], acc[13], conf[13] = 100 + 50 * seed, 0.80, 0.90
    count[14], acc[14], conf[14] = 300, 0.95 - 0.01 * seed, 0.97
    return {"edges": EDGES, "count": count, "accuracy": acc, "confidence": conf}


def _final(name: str, seed: int) -> dict:
    te = TEST_ERROR[name][seed]
    return {
        "strategy": name,
        "seed": seed,
        "test_error": te,
        "top5_error": te / 4,
        "nll": 0.3 + te,
        "ece": ECE[name][seed],
        "oe": 0.01,
        "fgsm_error": 0.5 + te,
        "ifgsm_error": 0.7 + te,
        "tta_error": te - 0.01,
        "tta_gain": 0.01,
        "ood_auroc": None,  # no OOD set in this compare: the column must be dropped, not shown as 0
        "train_seconds": 60.0 + seed,
        "images_per_second": IPS[name][seed],
        "per_class_error": [te + 0.01 * (c - 4.5) for c in range(N_CLASSES)],
        "reliability": _reliability(seed),
        "fgsm_eps": 8.0,
        "tta_views": ["identity", "hflip"],
    }


def _metrics_lines(name: str, seed: int, epochs: int) -> list[str]:
    lines = []
    for e in range(epochs):
        rec = {
            "epoch": e,
            "train_loss": 2.0 / (e + 1) + 0.01 * seed,
            "train_error": 0.5 / (e + 1),
            "test_error": None if e == 0 else 0.3 / e + 0.01 * seed,
            "lr": 0.1,
            "epoch_seconds": 20.0,
            "images_per_second": 1000.0,
        }
        if name.startswith("randaugment"):
            rec["selection_rate"] = 0.5 + 0.1 * e
        lines.append(json.dumps(rec))
    return lines


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _make_run_dir(out: Path) -> Path:
    cfg = {
        "dataset": "fashion_mnist",
        "subset": 1000,
        "epochs": 3,
        "seeds": [0, 1, 2],
        "strategies": [*STRATEGIES, NEVER_RUN],
        "model": "small_cnn",
        "command": ["augkit", "compare", "--dataset", "fashion_mnist", "--strategies", ",".join(STRATEGIES)],
    }
    out.mkdir()
    (out / "config.json").write_text(json.dumps(cfg))
    for name in STRATEGIES:
        for seed in range(3):
            rdir = out / DIRS[name] / f"seed{seed}"
            rdir.mkdir(parents=True)
            (rdir / "config.json").write_text(json.dumps({"strategy": name, "seed": seed}))
            if seed < len(TEST_ERROR[name]):
                (rdir / "metrics.jsonl").write_text("\n".join(_metrics_lines(name, seed, 3)) + "\n")
                (rdir / "final.json").write_text(json.dumps(_final(name, seed)))
            else:  # unfinished: two epochs logged, the third cut off mid-line
                lines = _metrics_lines(name, seed, 3)
                (rdir / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:17])
    (out / "none" / "gallery.png").write_bytes(_png_bytes())
    return out


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _make_run_dir(tmp_path / "cmp")


# ----------------------------------------------------------------------------- statistics
def test_stats_by_hand():
    s = stats([0.10, 0.12, 0.14])
    assert s["n"] == 3 and s["std_defined"]
    assert s["mean"] == pytest.approx(0.12, abs=1e-12)
    assert s["std"] == pytest.approx(0.02, abs=1e-12)  # sample std, ddof = 1
    one = stats([0.3, None])
    assert one == {**one, "mean": 0.3, "std": 0.0, "n": 1, "std_defined": False, "missing": 1}
    assert stats([None])["mean"] is None


def test_single_run_is_flagged_in_table():
    runs = [{**_final("none", 0), "metrics": [], "complete": True}]
    md = to_markdown(main_table(summarize(runs)))
    assert "10.00 ± 0.00†" in md and "single run" in md


def test_t_critical_table_matches_scipy():
    pytest.importorskip("scipy")
    for df in [*range(1, 31), 40, 60, 120]:
        assert t_critical(df, use_scipy=False) == pytest.approx(t_critical(df), abs=2e-6)
    # between table rows the fallback rounds df down: never narrower than the exact interval
    assert t_critical(45, use_scipy=False) >= t_critical(45)
    with pytest.raises(ValueError, match="df"):
        t_critical(0)


def test_pooled_reliability_by_hand(run_dir: Path):
    rel = pooled_reliability(load_runs(run_dir))["none"]
    # bin 13: counts 100, 150, 200 all at accuracy 0.80 -> 0.80; bin 14: 300 each at 0.95, 0.94, 0.93 -> 0.94
    assert rel["count"][13] == 450 and rel["count"][14] == 900
    assert rel["accuracy"][13] == pytest.approx(0.80) and rel["accuracy"][14] == pytest.approx(0.94)
    assert rel["accuracy"][0] is None
    assert rel["ece"] == pytest.approx((450 * 0.10 + 900 * 0.03) / 1350)


def test_load_runs_order_and_incomplete(run_dir: Path):
    runs = load_runs(run_dir)
    # directories sort as mixup < none < randaugment; the config order must win
    assert list(dict.fromkeys(r["strategy"] for r in runs)) == STRATEGIES
    todo = [r for r in runs if not r["complete"]]
    assert [(r["strategy"], r["seed"], r["epochs_done"]) for r in todo] == [("mixup:alpha=0.2", 2, 2)]
    bad = run_dir / "none" / "seed0" / "metrics.jsonl"
    bad.write_text('{"epoch": 0}\n{"epo\n{"epoch": 2}\n')  # corrupt line in the middle is an error
    with pytest.raises(ValueError, match="line 2"):
        load_runs(run_dir)


def test_paired_difference_by_hand(run_dir: Path):
    p = paired_differences(load_runs(run_dir))
    assert p["baseline"] == "none"
    ra = p["rows"]["randaugment:n=2,m=9"]
    # diffs -0.02, -0.02, -0.03: mean -0.023333, sd 0.0057735, t_{0.975,2} = 4.302653
    sd = math.sqrt((2 * (0.01 / 3) ** 2 + (0.02 / 3) ** 2) / 2)  # deviations +1/300, +1/300, -2/300
    half = 4.302653 * sd / math.sqrt(3)
    assert ra["n"] == 3 and ra["seeds"] == [0, 1, 2]
    assert ra["mean"] == pytest.approx(-0.07 / 3, abs=1e-12)
    assert ra["std"] == pytest.approx(sd, abs=1e-12)
    assert ra["ci_low"] == pytest.approx(-0.07 / 3 - half, abs=1e-6)
    assert ra["ci_high"] == pytest.approx(-0.07 / 3 + half, abs=1e-6)
    assert ra["ci_high"] < 0 and ra["excludes_zero"] is True
    mx = p["rows"]["mixup:alpha=0.2"]
    # diffs -0.01, +0.01 on seeds 0, 1 (seed 2 unfinished): mean 0, interval straddles 0
    assert mx["n"] == 2 and mx["seeds"] == [0, 1] and mx["unmatched_seeds"] == [2]
    assert mx["mean"] == pytest.approx(0.0, abs=1e-12) and mx["excludes_zero"] is False


# ----------------------------------------------------------------------------- written report
@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict, set, set]:
    """One write_report for the file tests (figures take a second); every write is recorded."""
    run_dir = _make_run_dir(tmp_path_factory.mktemp("report") / "cmp")
    written: set[Path] = set()
    real = augkit.io.atomic_write_bytes

    def spy(path, data):
        written.add(Path(path).resolve())
        real(path, data)

    before = {p.resolve() for p in run_dir.rglob("*")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(augkit.io, "atomic_write_bytes", spy)  # atomic_write_text goes through it too
        paths = write_report(run_dir)
    new = {p.resolve() for p in run_dir.rglob("*") if p.is_file()} - before
    return run_dir, paths, new - written, written


def test_summary_json_by_hand(report):
    out, paths, _, _ = report
    doc = json.loads(paths["summary.json"].read_text())
    assert list(doc["strategies"]) == [*STRATEGIES, NEVER_RUN]
    assert doc["strategies"][NEVER_RUN]["test_error"]["n"] == 0
    none = doc["strategies"]["none"]
    assert none["test_error"]["mean"] == pytest.approx(0.12, abs=1e-12)
    assert none["test_error"]["std"] == pytest.approx(0.02, abs=1e-12)
    assert none["test_error"]["n"] == 3
    assert none["ece"]["mean"] == pytest.approx(0.06) and none["ece"]["std"] == pytest.approx(0.01)
    assert none["images_per_second"]["mean"] == pytest.approx(1100.0)
    assert none["images_per_second"]["std"] == pytest.approx(100.0)
    ra = doc["strategies"]["randaugment:n=2,m=9"]["test_error"]
    # 0.08, 0.10, 0.11: mean 0.29/3; squared deviations sum to 0.0014/3, over n - 1 = 2
    assert ra["mean"] == pytest.approx(0.29 / 3, abs=1e-12)
    assert ra["std"] == pytest.approx(math.sqrt(0.0014 / 3 / 2), abs=1e-12)
    mx = doc["strategies"]["mixup:alpha=0.2"]["test_error"]
    assert (
        mx["n"] == 2 and mx["mean"] == pytest.approx(0.11) and mx["std"] == pytest.approx(0.02 * math.sqrt(2))
    )
    assert none["ood_auroc"]["n"] == 0 and none["ood_auroc"]["mean"] is None
    assert [(r["strategy"], r["seed"], r["epochs_done"], r["reason"]) for r in doc["incomplete"]] == [
        ("mixup:alpha=0.2", 2, 2, "no final.json (still running or stopped)"),
        *[(NEVER_RUN, k, 0, "not started") for k in range(3)],
    ]
    assert doc["config"]["model"] == "small_cnn"
    assert doc["paired"]["rows"]["randaugment:n=2,m=9"]["excludes_zero"] is True


def test_results_csv_one_row_per_number(report):
    out, paths, _, _ = report
    with open(paths["results.csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["strategy"], int(r["seed"]), r["metric"]) for r in rows]
    assert len(keys) == len(set(keys))
    complete = [(s, k) for s in STRATEGIES for k in range(len(TEST_ERROR[s]))]
    assert {(s, k) for s, k, _ in keys} == set(complete)  # the unfinished run has no final numbers
    for s, k in complete:
        for m in METRICS:
            assert (s, k, m) in keys
    # per run: 12 metrics + fgsm_eps, 10 per-class errors, 16 edges + 3 x 15 bins
    assert len(rows) == len(complete) * (13 + N_CLASSES + 16 + 45)
    value = {(r["strategy"], int(r["seed"]), r["metric"]): r["value"] for r in rows}
    assert float(value[("none", 0, "test_error")]) == 0.10
    assert float(value[("randaugment:n=2,m=9", 2, "per_class_error[9]")]) == pytest.approx(0.11 + 0.045)
    assert value[("none", 1, "ood_auroc")] == "" and value[("none", 1, "reliability.accuracy[0]")] == ""
    curves = list(csv.DictReader(open(paths["curves.csv"], newline="")))
    assert {r["epoch"] for r in curves if r["strategy"] == "mixup:alpha=0.2" and r["seed"] == "2"} == {
        "0",
        "1",
    }


def test_report_md(report):
    out, paths, _, _ = report
    md = paths["report.md"].read_text()
    for s in STRATEGIES:
        assert f"`{s}`" in md
    results = md.split("## Results")[1].split("##")[0]
    pos = [results.index(f"`{s}`") for s in [*STRATEGIES, NEVER_RUN]]
    assert pos == sorted(pos)  # config order, not directory order
    assert " ± " in results
    assert "**9.67 ± 1.53**" in results  # best test error (randaugment) in bold
    assert "OOD AUROC" not in results.split("\n\n")[0] and "Not measured by any run: OOD AUROC" in results
    assert re.search(r"4 runs are incomplete", md)
    assert f"| `{NEVER_RUN}` | 0 | — |" in results  # a row with n = 0, not a silent omission
    inc = md.split("## Incomplete runs")[1]
    assert "`mixup:alpha=0.2` | 2 | 2 / 3 |" in inc
    assert "yes: better" in md.split("## Paired differences")[1]
    assert "augkit compare --dataset fashion_mnist" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / link).is_file(), link


def test_report_html_self_contained(report):
    out, paths, _, _ = report
    html = paths["report.html"].read_text()
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]*)"', html)
    # learning curves, reliability, per-class, cost, randaugment's signals, one gallery
    assert len(srcs) == 6
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"<(link|script)\b|\burl\(|(src|href)=\"(?!data:)", html)
    for s in STRATEGIES:
        assert s in html
    assert (
        "fashion_mnist" in html
        and "small_cnn" in html
        and "mixup:alpha=0.2" in html.split("Incomplete runs")[1]
    )


def test_writes_are_atomic(report):
    out, paths, unwritten, written = report
    assert not unwritten, f"written without augkit.io: {unwritten}"
    assert {p.resolve() for p in paths.values()} <= written
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for name, p in paths.items():
        if name.endswith(".png"):
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
