"""experiments/search_cost.py: each searched strategy's cost comes from its own search's files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("search_cost", ROOT / "experiments" / "search_cost.py")
search_cost = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search_cost)


def _summary(out: Path, errors: dict[str, float]) -> None:
    out.mkdir(parents=True)
    strategies = {s: {"test_error": {"mean": e, "std": 0.01, "n": 3}} for s, e in errors.items()}
    (out / "summary.json").write_text(json.dumps({"strategy_order": list(errors), "strategies": strategies}))


def _search(d: Path, cost: dict) -> None:
    d.mkdir(parents=True)
    (d / "search.json").write_text(json.dumps({"cost": cost}))


def test_rows_read_each_searches_cost_and_moved_paths(tmp_path):
    root = tmp_path / "search"
    _search(root / "faa", {"trial_cpu_minutes": 1.0, "total_cpu_minutes": 5.0})
    _search(root / "aa", {"trial_cpu_minutes": 40.0})
    _search(root / "tanda", {"cpu_minutes": 7.5, "cpu_minutes_this_call": 0.01})
    (root / "ifda" / "ifda").mkdir(parents=True)
    stages = {"0": {"cpu_minutes": 1.0}, "1": {"cpu_minutes": 0.5}}
    (root / "ifda" / "ifda" / "costs.json").write_text(json.dumps({"stages": stages}))
    errors = {
        "randaugment": 0.15,
        "policy:file=/elsewhere/faa/policy.json": 0.16,  # the compare ran elsewhere: found under root
        f"policy:file={root}/aa/policy.json": 0.17,
        f"tanda:file={root}/tanda/tanda.pt": 0.18,
        "mixup": 0.19,
    }
    _summary(tmp_path / "cmp", errors)
    got = {r["label"]: (r["cpu_minutes"], r["covers"]) for r in search_cost.rows(tmp_path / "cmp", root)}
    assert got == {
        "randaugment": (0.0, "published"),
        "faa": (5.0, "all phases"),
        "aa": (40.0, "trials only"),
        "tanda": (7.5, "all calls"),
        "mixup": (None, "not a policy search"),
    }
    assert search_cost.cost_of(root / "ifda") == (1.5, "stages 0-3")
    text = search_cost.table(search_cost.rows(tmp_path / "cmp", root), {"if-da": (1.5, "stages 0-3")})
    assert "| `policy` | faa | 5.0 | all phases | 16.00 ± 1.00 (n=3) |" in text
    assert "| `if-da` (cost only) | if-da | 1.5 | stages 0-3 | — |" in text
    search_cost.plot(search_cost.rows(tmp_path / "cmp", root), {"if-da": (1.5, "x")}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
