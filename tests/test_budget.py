"""The half-budget probe: does a comparison's difference still move with the training budget?"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from augkit.cli import main
from augkit.report.budget import budget_banner, budget_line, budget_sensitivity, load_probe, probe_mismatch
from augkit.report.collect import load_runs

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def _runs(errors: dict[str, list[float]]) -> list[dict]:
    """Complete runs whose last epoch measured the given validation error, one per seed."""
    return [{"strategy": s, "seed": k, "complete": True, "metrics": [{"epoch": 1, "val_error": v}]}
            for s, vs in errors.items() for k, v in enumerate(vs)]  # fmt: skip


def test_a_difference_that_moves_on_every_seed_is_flagged_one_that_does_not_is_stable():
    full = _runs({"none": [0.20, 0.21, 0.19], "ra": [0.18, 0.19, 0.17], "ta": [0.19, 0.20, 0.18]})
    # ra was 2 pp worse than none at half the budget on every seed and is 2 pp better now: moved -4 pp;
    # ta's difference moved -1, +1, 0 pp: noise
    half = _runs({"none": [0.22, 0.23, 0.21], "ra": [0.24, 0.25, 0.23], "ta": [0.22, 0.24, 0.21]})
    b = budget_sensitivity(full, half)
    assert b["reference"] == "none" and b["sensitive"] == ["ra"]
    ra, ta, ref = (b["strategies"][s] for s in ("ra", "ta", "none"))
    assert ra["status"] == "budget-sensitive" and abs(ra["moved"][0] + 0.04) < 1e-12
    assert ta["status"] == "stable" and ta["moved"][1] < 0 < ta["moved"][2]
    assert ref["status"] == "stable" and "moved" not in ref and abs(ref["gain"][0] - 0.02) < 1e-12
    banner = budget_banner(b)
    assert banner is not None and "ra -4.00 pp" in banner and "ta" not in banner.split("for:")[1]
    assert "`ra` budget-sensitive" in budget_line(b) and "`ta` stable" in budget_line(b)


def test_without_a_probe_or_with_one_seed_nothing_is_claimed():
    full = _runs({"none": [0.2, 0.2], "ra": [0.1, 0.1]})
    none = budget_sensitivity(full, None)
    assert none["sensitive"] == [] and budget_banner(none) is None
    assert budget_line(none).startswith("Budget sensitivity: not measured (no half-budget probe")
    one = budget_sensitivity(full, _runs({"none": [0.3], "ra": [0.5]}))
    assert one["strategies"]["ra"] == {"status": "not measured", "pairs": 1} and one["sensitive"] == []
    ab = _runs({"a": [0.2, 0.3], "b": [0.1, 0.2]})
    first = budget_sensitivity(ab, ab)
    assert first["reference"] == "a"  # no `none`: the first strategy listed


def test_a_probe_of_another_comparison_is_refused():
    main_cfg = {"subset": 1000, "model": "m", "epochs": "auto", "budget": {"epochs": 200}, "out": "a"}
    assert probe_mismatch(main_cfg, {**main_cfg, "epochs": 100, "budget": {"epochs": 100}, "out": "b"}) == []
    other = probe_mismatch(main_cfg, {**main_cfg, "subset": 500, "budget": {"epochs": 100}})
    assert other == ["subset: 500 in the probe, 1000 here"]
    longer = probe_mismatch(main_cfg, {**main_cfg, "budget": {"epochs": 400}})
    assert longer and "must be shorter" in longer[0]


def test_the_probe_catches_the_budget_limited_table_the_tail_test_passed():
    """docs/RESULTS.md §9b: n = 6,000 at 68 epochs, with the committed 34-epoch table as its probe."""
    full, half = load_runs(RESULTS / "t1-n6000-x2"), load_runs(RESULTS / "t1-n6000")
    b = budget_sensitivity(full, half)
    assert set(b["sensitive"]) == {"randaugment", "trivialaugment"}
    assert b["strategies"]["randaugment"]["moved"][2] < -0.005  # moved by more than half a point
    assert probe_mismatch(json.loads((RESULTS / "t1-n6000-x2" / "config.json").read_text()),
                          json.loads((RESULTS / "t1-n6000" / "config.json").read_text())) == []  # fmt: skip


def test_compare_runs_the_probe_and_a_resume_adds_it_to_an_earlier_comparison(tmp_path):
    out = tmp_path / "c"
    args = ["compare", "--dataset", "digits", "--subset", "200", "--strategies", "none,standard",
            "--seeds", "2", "--epochs", "4", "--eval-every", "2", "--adv-images", "20",
            "--tta-policy-views", "1", "--threads", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert main([*args, "--budget-check", "off"]) == 0
    assert not (out / "budget-half").exists()
    assert "Budget sensitivity: not measured" in (out / "report.md").read_text()
    stamp = (out / "none" / "seed0" / "final.json").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0  # the default probe, added to the finished comparison
    assert (out / "none" / "seed0" / "final.json").stat().st_mtime_ns == stamp  # nothing retrained
    probe = json.loads((out / "budget-half" / "config.json").read_text())
    assert probe["budget"]["epochs"] == 2 and probe["eval_every"] == 1 and probe["budget_check"] == "off"
    runs, why = load_probe(out)
    assert why == "" and runs is not None and len([r for r in runs if r["complete"]]) == 4
    assert "Budget sensitivity (half-budget probe" in (out / "report.md").read_text()
    shutil.rmtree(out / "budget-half" / "standard")  # a probe that lost a strategy: that one is not measured
    assert main(["report", str(out)]) == 0
    assert "`standard` not measured (0 seed pairs)" in (out / "report.md").read_text()


def test_the_main_job_preset_skips_the_probe(capsys):
    assert main(["compare", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["budget_check"] == "off"
    assert main(["compare", "--dry-run", "--budget-check", "half"]) == 0  # still the preset, with the probe
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["budget_check"] == "half" and cfg["model"] == "small_cnn_half"
