"""Record the golden compare of ``tests/test_golden.py`` on this machine, with the code on ``sys.path``.

    git archive 4480720 | tar -x -C /tmp/g448      # the pre-refactor main the golden test guards
    PYTHONPATH=/tmp/g448 python experiments/record_golden.py tests/golden

writes ``compare_<dataset>@<machine>.json``: the same tiny compare as the test's fixture, the
torch build, CPU capability and CPU model it ran on.  The test compares bit for bit against the
recording whose machine matches exactly, and falls back to a relative tolerance against the
original recording (whose CPU model was not stored) elsewhere.  Run it with the *recording*
commit's code, never with the code under test: a golden file made by the code it checks checks
nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machine import machine_id, machine_record  # noqa: E402


def _clean(d: dict) -> dict:
    """Per-epoch records without wall-clock keys (the test drops the same keys)."""
    timing = {"train_seconds", "images_per_second", "epoch_seconds", "ood_auroc", "ood_set"}
    return {k: v for k, v in d.items() if k not in timing and not k.endswith(("_cpu_min", "seconds"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", help="directory of the golden files (tests/golden)")
    ap.add_argument("--source", default="", help="what produced the numbers, e.g. 'main 4480720'")
    ns = ap.parse_args()
    import augkit
    from augkit.data import available
    from augkit.experiment import CompareConfig, compare
    from augkit.strategies import strategy_dirname

    try:
        from augkit.runs import TrainConfig
    except ImportError:  # the pre-refactor main kept TrainConfig in train.py
        from augkit.train import TrainConfig
    dataset = "fashion-mnist" if available("fashion-mnist") else "digits"
    original = json.loads((Path(ns.dest) / f"compare_{dataset}.json").read_text())
    strategies = list(original["runs"])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cmp"
        train = TrainConfig(
            dataset=dataset, subset=256 if dataset == "fashion-mnist" else 0.0, test_subset=200,
            epochs=2, batch_size=64, adv_images=64, tta_policy_views=1, threads=1, eval_every=1,
        )  # fmt: skip
        compare(CompareConfig(strategies=strategies, seeds=1, out=str(out), train=train), progress=False)
        runs = {}
        for s in strategies:
            d = out / strategy_dirname(s) / "seed0"
            metrics = [_clean(json.loads(line)) for line in (d / "metrics.jsonl").read_text().splitlines()]
            runs[s] = {"final": json.loads((d / "final.json").read_text()), "metrics": metrics}
    source = ns.source or str(Path(augkit.__file__).parent)
    doc = {"dataset": dataset, **machine_record(), "recorded_from": source, "runs": runs}
    path = Path(ns.dest) / f"compare_{dataset}@{machine_id()}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
