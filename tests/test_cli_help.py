"""Every flag says what it is (not only its default); reports print sizes as a user wrote them."""

from __future__ import annotations

import argparse

from augkit.cli import build_parser
from augkit.report.markdown import _size_text


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    act = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(act.choices)


def test_every_flag_of_every_command_has_a_real_help_text():
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        for a in sub._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            text = (a.help or "").strip()
            if len(text) < 12 or text.startswith("(default"):
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}: {text!r}")
    assert not missing, missing


def test_count_and_fraction_flags_say_which_unit():
    subs = _subparsers(build_parser())
    helps = {a.dest: a.help for a in subs["train"]._actions}
    for dest in ("subset", "val", "test_subset"):
        assert "fraction" in helps[dest] and "count" in helps[dest], helps[dest]
    assert "default: 0.05" in helps["lr"] and "pixels" in helps["fgsm_eps"]


def test_sizes_print_as_given():
    assert _size_text(6000.0, 6000) == "6,000"
    assert _size_text(0.1, 6000) == "6,000 (10%)"
    assert _size_text(None, 60000) == "60,000 (all)"
    assert _size_text(0.0, None, none="none") == "none"
    assert _size_text("auto", 1000) == "1,000 (auto)"
