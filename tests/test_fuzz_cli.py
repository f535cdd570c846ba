"""Fuzzing the command line and the config-file loader (issue 18).

Any flag value and any config document must end in one of three ways: the resolved config
(exit 0), a one-line ``augkit CMD: error: ...`` naming the problem (exit 2), or argparse's own
usage error (``SystemExit(2)``) -- never a traceback.  ``--dry-run`` validates everything a run
would check before touching data or disk, so each example is cheap.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from augkit.cli import main
from augkit.runs import TrainConfig

from .test_fuzz import FUZZ

TRAIN_KEYS = [f.name for f in fields(TrainConfig)]
COMPARE_KEYS = [*TRAIN_KEYS, "strategies", "seeds", "out", "jobs"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
NUMBERS = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["auto", "0", "1", "0.5", "-1", "nan", "inf", "1e400", "", "true", "none,standard"]),
    st.just("x:y=z"),
)
VALUES = st.one_of(TEXT, NUMBERS, st.booleans(), st.none(), st.lists(st.integers(0, 3), max_size=3),
                   st.dictionaries(TEXT, st.integers(), max_size=2))  # fmt: skip


def _run(argv: list[str]) -> None:
    """One invocation: exit 0, or 2 with a one-line error naming the command."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
    except SystemExit as e:  # argparse: a flag value of the wrong type, an unknown flag
        assert e.code == 2, f"{argv}: SystemExit({e.code})"
        return
    err = buf.getvalue()
    assert rc in (0, 2), f"{argv}: exit {rc}"
    if rc == 2:
        line = err.strip()
        assert line.startswith(f"augkit {argv[0]}: error: ") and "\n" not in line, line
        assert "Traceback" not in err


@FUZZ
@given(
    cmd=st.sampled_from(["compare", "train"]),
    key=st.sampled_from(COMPARE_KEYS),
    value=st.one_of(TEXT, NUMBERS),
)
def test_any_flag_value_is_accepted_or_one_line_error(cmd, key, value):
    if cmd == "train" and key in ("strategies", "seeds", "jobs"):
        key = "strategy" if key == "strategies" else "seed"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        argv = [cmd, "--" + key.replace("_", "-"), str(value), "--dry-run"]
        if key != "out":
            argv += ["--out", str(out)]
        _run(argv)
        assert not any(out.iterdir()), "a dry run wrote into the output directory"


@FUZZ
@given(cmd=st.sampled_from(["compare", "train"]),
       doc=st.one_of(st.dictionaries(st.sampled_from([*COMPARE_KEYS, "strategy", "seed", "bogus"]), VALUES,
                                     max_size=4), VALUES))  # fmt: skip
def test_any_config_document_is_accepted_or_one_line_error(cmd, doc):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "cfg.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        _run([cmd, "--config", str(path), "--dry-run", "--out", str(Path(d) / "out")])


@pytest.mark.parametrize(
    "name, raw",
    [
        ("cfg.json", b"\xff\xfe not utf-8"),
        ("cfg.yaml", b"a: [1, 2\n"),
        ("cfg.yaml", b"- just\n- a list\n"),
        ("cfg.json", b'{"epochs": NaN}'),
        ("cfg.json", b'{"epochs": 1e400}'),
        ("cfg.json", b'{"subset": {"a": 1}}'),
        ("cfg.yaml", b"epochs: !!python/object/apply:os.system ['echo pwned']\n"),
    ],
)
def test_bad_config_files_are_one_line_errors_naming_the_file(name, raw, capsys, tmp_path):
    path = tmp_path / name
    path.write_bytes(raw)
    rc = main(["compare", "--config", str(path), "--dry-run", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and err.startswith("augkit compare: error: "), err


def test_missing_config_file_is_a_one_line_error(capsys, tmp_path):
    rc = main(["train", "--config", str(tmp_path / "nope.yaml"), "--dry-run", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "nope.yaml" in err and "\n" not in err
