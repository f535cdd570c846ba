"""Kill/resume soak: kill a small compare at random moments with SIGKILL, resume it, compare bit for bit.

    python experiments/soak_resume.py --kills 8 --out runs/soak [--seed 0] [--json docs/results/soak.json]
    python experiments/soak_resume.py --targeted 3 --out runs/soak-t --json docs/results/soak/targeted.json

One uninterrupted reference compare (digits; standard, mixup, Adversarial AutoAugment with M = 2,
SPA; 4 epochs, 1 seed, 1 thread), then ``--kills`` copies each killed once at a uniformly random
moment of the reference's wall time (set-up, any epoch, the final battery or the report) and
resumed with ``--resume``.  Every run's final.json and metrics.jsonl (timing fields aside) and
Adversarial AutoAugment's policy_history.json must equal the reference's; no ``.tmp`` file may
remain.  Prints one line per kill and a summary; ``--json`` keeps the table.

``--targeted K`` kills instead at the two moments random times rarely hit: K copies while a
run's final evaluation battery is running (every epoch of a run logged, its final.json not yet
written) and K while the report is being written (every final.json written, report.html not
yet), each after a random 0-0.3 s delay into that phase.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STRATEGIES = "standard,mixup,adversarial-autoaugment:m=2,spa:lambda=0.5,aug=flip"
FLAGS = ["--dataset", "digits", "--epochs", "4", "--eval-every", "1", "--seeds", "1", "--threads", "1",
         "--adv-images", "100", "--tta-policy-views", "1", "--strategies", STRATEGIES, "--quiet"]  # fmt: skip
TIMING = {"train_seconds", "images_per_second", "epoch_seconds", "spa_select_seconds"}


def _cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "augkit.cli", "compare", *FLAGS, "--out", str(out), *extra]


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in TIMING and not k.endswith("_cpu_min")}


def _files(out: Path) -> dict[str, object]:
    """Everything that must match, by relative path."""
    got: dict[str, object] = {}
    for p in sorted(out.glob("*/seed*/final.json")):
        got[str(p.relative_to(out))] = _strip(json.loads(p.read_text()))
    for p in sorted(out.glob("*/seed*/metrics.jsonl")):
        got[str(p.relative_to(out))] = [_strip(json.loads(x)) for x in p.read_text().splitlines()]
    for p in sorted(out.glob("*/seed*/policy_history.json")):
        got[str(p.relative_to(out))] = json.loads(p.read_text())
    return got


def _phase(out: Path) -> str:
    done = len(list(out.glob("*/seed*/final.json")))
    epochs = sum(len(p.read_text().splitlines()) for p in out.glob("*/seed*/metrics.jsonl"))
    report = ", report written" if (out / "report.html").exists() else ""
    return f"{done} runs final, {epochs} epochs logged{report}"


RUNS = len(STRATEGIES.split(",")) - 1  # "spa:lambda=0.5,aug=flip" holds one comma of its own
EPOCHS = int(FLAGS[FLAGS.index("--epochs") + 1])


def _in_phase(out: Path, phase: str) -> bool:
    finals = len(list(out.glob("*/seed*/final.json")))
    if phase == "report":
        return finals == RUNS and not (out / "report.html").exists()
    for m in out.glob("*/seed*/metrics.jsonl"):
        if len(m.read_text().splitlines()) == EPOCHS and not (m.parent / "final.json").exists():
            return True
    return False


def _kill_in_phase(out: Path, phase: str, delay: float) -> tuple[bool, str]:
    """Start a compare, SIGKILL it ``delay`` s after ``phase`` begins; (killed, state at kill)."""
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (out.exists() and _in_phase(out, phase)):
        time.sleep(0.005)
    time.sleep(delay)
    if proc.poll() is not None:
        return False, "finished before the kill"
    state = _phase(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True, state


def _kill_at(out: Path, at: float) -> tuple[bool, str]:
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=at)
        return False, _phase(out)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True, _phase(out) if out.exists() else "nothing written"


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--kills", type=int, default=8, help="killed-and-resumed copies (default 8)")
    a.add_argument("--out", default="runs/soak", help="working directory (default runs/soak)")
    a.add_argument("--seed", type=int, default=0, help="seed of the kill times (default 0)")
    a.add_argument("--json", default=None, help="write the table as JSON here")
    a.add_argument("--targeted", type=int, default=0,
                   help="kill this many times in the final battery and as many in the report (not random)")
    ns = a.parse_args()
    root = Path(ns.out)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(_cmd(root / "ref"), check=True)
    wall = time.perf_counter() - t0
    ref = _files(root / "ref")
    rng = random.Random(ns.seed)
    rows = []
    plan = [(p, k) for p in ("battery", "report") for k in range(ns.targeted)] if ns.targeted else \
        [(None, k) for k in range(ns.kills)]  # fmt: skip
    for k, (target, _) in enumerate(plan):
        out = root / f"kill{k}"
        if target:
            at = rng.uniform(0.0, 0.3)
            killed, phase = _kill_in_phase(out, target, at)
            phase = f"{target}: {phase}"
        else:
            at = rng.uniform(0.05, 0.98) * wall
            killed, phase = _kill_at(out, at)
        resumed = subprocess.run(_cmd(out, "--resume"), capture_output=True, text=True)
        same = resumed.returncode == 0 and _files(out) == ref
        temps = [str(p) for p in out.rglob("*.tmp")]
        rows.append({"kill": k, "at_seconds": round(at, 2), "killed": killed, "phase_at_kill": phase,
                     "resume_rc": resumed.returncode, "identical": same, "orphan_temps": temps})  # fmt: skip
        print(f"kill {k}: at {at:6.1f}s ({phase}) -> resume rc {resumed.returncode}, "
              f"identical {same}, orphan temps {len(temps)}", flush=True)  # fmt: skip
    ok = sum(r["identical"] and not r["orphan_temps"] for r in rows)
    print(f"{ok} of {len(rows)} killed-and-resumed compares identical to the reference "
          f"(reference wall time {wall:.1f}s)")  # fmt: skip
    if ns.json:
        Path(ns.json).parent.mkdir(parents=True, exist_ok=True)
        table = {"reference_seconds": wall, "flags": FLAGS, "rows": rows}
        Path(ns.json).write_text(json.dumps(table, indent=1))
    sys.exit(0 if ok == len(rows) else 1)


if __name__ == "__main__":
    main()
