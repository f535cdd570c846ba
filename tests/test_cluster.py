"""``augkit compare --backend ray``: every run a Ray task, results identical to a local compare."""

from __future__ import annotations

import json

import pytest

from augkit.cli import main


def _final(out, strategy: str) -> dict:
    return json.loads((out / strategy / "seed0" / "final.json").read_text())


def test_compare_on_local_ray_matches_the_serial_compare(tmp_path):
    pytest.importorskip("ray", reason="the .[search] extra (CI installs it)")
    common = ["compare", "--dataset", "digits", "--subset", "300", "--strategies", "none,standard",
              "--seeds", "1", "--epochs", "2", "--adv-images", "50", "--tta-policy-views", "1",
              "--threads", "1", "--quiet"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    for s in ("none", "standard"):
        a, b = _final(tmp_path / "local", s), _final(tmp_path / "ray", s)
        keys = ("test_error", "nll", "ece")
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    cfg = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert cfg["backend"] == "ray" and (tmp_path / "ray" / "report.md").is_file()


def test_bad_backend_is_a_named_error(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["compare", "--backend", "slurm", "--dry-run", "--out", str(tmp_path / "x")])
    from augkit.experiment import CompareConfig

    with pytest.raises(ValueError, match="backend must be 'local' or 'ray'"):
        CompareConfig(strategies=["none"], backend="slurm")


def test_unreachable_ray_address_fails_fast_with_a_clear_error():
    from augkit.cluster import check_address

    with pytest.raises(ValueError, match="nothing answers there"):
        check_address("127.0.0.1:1", timeout=2.0)
    with pytest.raises(ValueError, match="must be host:port"):
        check_address("no-port-here")
    check_address(None)
    check_address("auto")
