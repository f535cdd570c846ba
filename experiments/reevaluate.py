"""Re-run the final evaluation battery of every run of a compare directory from its checkpoint.

    python experiments/reevaluate.py RUN_DIR [--reason TEXT]

For runs trained by an earlier version whose *evaluation* changed since (e.g. the OOD set moved
from uniform noise to photo crops): training is untouched, each ``final.json`` is rewritten from
``checkpoint.pt`` by ``augkit.runs.evaluate_checkpoint`` (the same battery a run ends with; timing
comes from the run's own history), and ``reevaluated.json`` in RUN_DIR records when and why.
Needs the checkpoints, so it runs where the compare ran, before the small files are copied.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from augkit.io import atomic_write_text
from augkit.runs import evaluate_checkpoint


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("run_dir", help="a compare output directory with <strategy>/seed<k>/checkpoint.pt")
    a.add_argument("--reason", default="evaluation battery changed", help="recorded in reevaluated.json")
    ns = a.parse_args()
    root = Path(ns.run_dir)
    done = []
    for run in sorted(p.parent for p in root.glob("*/seed*/final.json")):
        if not (run / "checkpoint.pt").is_file():
            raise SystemExit(f"{run} has no checkpoint.pt: cannot re-evaluate")
        final = evaluate_checkpoint(run)
        atomic_write_text(run / "final.json", json.dumps(final, indent=1))
        done.append(str(run.relative_to(root)))
        print(f"{run.relative_to(root)}: test error {100 * final['test_error']:.2f} %", flush=True)
    note = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "reason": ns.reason, "runs": done}
    atomic_write_text(root / "reevaluated.json", json.dumps(note, indent=1))


if __name__ == "__main__":
    main()
