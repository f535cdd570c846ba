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

MIXING = [
    "none", "standard", "label-smoothing:eps=0.1",
    "mixup:alpha=1", "cutmix:alpha=1", "manifold-mixup:alpha=2", "augmix", "samplepairing",
    "ricap:beta=0.3", "mosaic", "bc", "saliencymix", "attentive-cutmix", "puzzlemix", "comixup-simplified",
]  # fmt: skip

# SPA (Takase et al. 2021) Table 1 protocol: training-set size x {flip, translation} x {SPA, CA, NA}.
# NA (lambda=inf) is the same run for both augmentations, so it runs once.
SPA_T1 = [
    "spa:lambda=0.1,aug=flip", "spa:lambda=0,aug=flip", "spa:lambda=inf,aug=flip",
    "spa:lambda=0.1,aug=translation", "spa:lambda=0,aug=translation",
]  # fmt: skip
SPA_T3 = ["spa:lambda=inf,aug=flip"] + [
    f"spa:lambda={lam},aug={aug}" for aug in ("mixup", "cutout", "erasing", "ricap") for lam in ("0.1", "0")
]
# ~150 optimizer steps at every size (batch 128): enough for the small sets to be fitted, so
# that losses fall below lambda and SPA can differ from CA (at ~45 steps every loss is > 0.1)
SPA_EPOCHS = {100: 150, 500: 38, 1000: 19, 5000: 4, 10000: 2}
UNCERTAINTY = ["randaugment", "uncertainty:l=4,c=1", "uncertainty:l=8,c=4"]
IFDA = ["none", "standard", "randaugment", "if-da"]
AAA = [f"adversarial-autoaugment:mode={m},m=4" for m in ("baseline", "fixed", "random", "adversarial")]


def _fm(subset: int, epochs: int) -> list[str]:
    """Fashion-MNIST budget of the CPU presets (2 cores, no GPU): final evaluation only, on a
    class-balanced 2,000-image test subset, FGSM on 500 of them, one policy TTA view."""
    return [
        "--dataset", "fashion-mnist", "--subset", str(subset), "--batch-size", "128", "--lr", "0.05",
        "--epochs", str(epochs), "--eval-every", str(epochs), "--test-subset", "2000",
        "--adv-images", "500", "--tta-policy-views", "1", "--channels-last", "true",
    ]  # fmt: skip


# Budgets are set by what 2 CPU cores can do in one session (see docs/RESULTS.md): short, so
# methods that need long training to pay off are at a disadvantage, which the tables state.
TABLES: dict[str, tuple[list[str], list[str]]] = {
    # issue 5: every mixing method against none/standard on the 10 % subset
    "mixing": (_fm(6000, 5), MIXING),
    # issue 8: SPA Table 1 (one compare per training-set size; epochs shrink as the set grows)
    **{f"spa-t1-n{n}": (_fm(n, ep), SPA_T1) for n, ep in SPA_EPOCHS.items()},
    "spa-t3": (_fm(1000, 19), SPA_T3),
    "uncertainty": (_fm(6000, 3), UNCERTAINTY),
    # issue 7: IF-DA's reduced-label protocol (1 % and 10 % of Fashion-MNIST's labels)
    "ifda-1pct": (_fm(600, 40), IFDA),
    "ifda-10pct": (_fm(6000, 5), IFDA),
    # issue 6: Adversarial AutoAugment ablation (paper Table 4), M = 4 to fit the CPU budget
    "aaa": (_fm(6000, 3), AAA + ["randaugment", "trivialaugment"]),
    # the same ablation at equal wall time: M = 4 costs about 5x a plain step on CPU (see
    # bench_strategy_cost.py), so the M = 1 strategies get 5x the epochs of the M = 4 ones
    "aaa-walltime": (
        _fm(6000, 15),
        ["adversarial-autoaugment:mode=baseline,m=4", "randaugment", "trivialaugment"],
    ),
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
