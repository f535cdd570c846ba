"""The experiment tables behind docs/RESULTS.md, as data: one ``augkit compare`` command per entry.

    python experiments/tables.py --list
    python experiments/tables.py mixing spa-table1 --device cuda --jobs 12 --root runs/tables

Each entry is (extra compare flags, strategies); shared presets hold the data/budget flags so
every table states its budget once.  Nothing here is clever: it builds the command line,
prints it (that is the command to cite), and runs it.  Runs resume, so a cut-off table
continues where it stopped.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

# Fashion-MNIST 10 % subset (6,000 class-balanced images), the brief's small-data setting
FM10 = ["--dataset", "fashion-mnist", "--subset", "6000", "--batch-size", "128", "--lr", "0.05"]
EVAL = ["--adv-images", "2000", "--tta-policy-views", "2"]

MIXING = [
    "none", "standard", "label-smoothing:eps=0.1",
    "mixup:alpha=1", "cutmix:alpha=1", "manifold-mixup:alpha=2", "augmix", "samplepairing",
    "ricap:beta=0.3", "mosaic", "bc", "saliencymix:alpha=1", "attentive-cutmix",
    "puzzlemix", "comixup",
]  # fmt: skip

TABLES: dict[str, tuple[list[str], list[str]]] = {
    # issue 5: every mixing method against none/standard, 3 seeds
    "mixing": ([*FM10, *EVAL, "--epochs", "100", "--eval-every", "10"], MIXING),
}


def command(name: str, root: str, device: str, jobs: int, seeds: int) -> list[str]:
    flags, strategies = TABLES[name]
    return [
        "augkit", "compare", *flags, "--strategies", ",".join(strategies), "--seeds", str(seeds),
        "--device", device, "--jobs", str(jobs), "--out", f"{root}/{name}", "--quiet", "--resume",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tables", nargs="*", help="table names (see --list)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--root", default="runs/tables")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    ns = p.parse_args(argv)
    if ns.list or not ns.tables:
        for name, (_, strategies) in TABLES.items():
            print(f"{name}: {len(strategies)} strategies")
        return 0
    unknown = [t for t in ns.tables if t not in TABLES]
    if unknown:
        p.error(f"unknown tables {unknown}; valid: {', '.join(TABLES)}")
    rc = 0
    for name in ns.tables:
        cmd = command(name, ns.root, ns.device, ns.jobs, ns.seeds)
        print("$ " + shlex.join(cmd), flush=True)
        if not ns.dry_run:
            rc |= subprocess.call([sys.executable, "-m", "augkit.cli", *cmd[1:]])
    return rc


if __name__ == "__main__":
    sys.exit(main())
