"""Images/s of one ``augkit train`` run on 2 DDP processes (gloo, CPU) against 1 process (issue 16).

    python benchmarks/bench_ddp.py [--model resnet20] [--subset 512] [--epochs 3] [--out FILE.md]

Three real runs of the same configuration (strategy ``none``, so the step is the model's compute):
one process with 1 thread, one process with 2 threads, and ``python -m torch.distributed.run
--nproc_per_node 2`` with 1 thread per rank.  The reading is each run's global training images/s
from ``metrics.jsonl`` (``images_per_second``, rank 0's wall time), the first epoch left out as
warm-up, median of the rest.  The issue's target is 2 processes >= 1.6x one process on a 2-core
machine; the ratio is printed against both one-process readings (same per-process threads, and
the same total threads), measured in the same invocation.  The load average before and after is
printed, because other processes on the machine depress and scatter these numbers.
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_flags(ns: argparse.Namespace, out: Path, threads: int) -> list[str]:
    return ["train", "--strategy=none", f"--model={ns.model}", f"--dataset={ns.dataset}",
            f"--subset={ns.subset}", f"--epochs={ns.epochs}", f"--batch-size={ns.batch_size}",
            f"--eval-every={ns.epochs}",
            "--test-subset=100", "--adv-images=10", "--ifgsm-steps=1", "--tta-policy-views=0",
            f"--threads={threads}", f"--out={out}", "--quiet", "--overwrite"]  # fmt: skip


def run(ns: argparse.Namespace, name: str, nproc: int, threads: int, tmp: Path) -> dict:
    """One training run; its per-epoch global images/s (first epoch dropped) and the median."""
    out = tmp / name
    cmd = [sys.executable, "-m", "augkit.cli", *_train_flags(ns, out, threads)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               f"--master_port={_free_port()}", *cmd[1:]]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    rates = [json.loads(line)["images_per_second"] for line in lines]
    timed = rates[1:] or rates
    return {"name": name, "processes": nproc, "threads_per_process": threads, "epochs_timed": len(timed),
            "images_per_s": statistics.median(timed), "per_epoch": rates, "wall_s": time.perf_counter() - t0,
            "command": " ".join(cmd[1:])}  # fmt: skip


def markdown(ns: argparse.Namespace, rows: list[dict], load: tuple[list[float], list[float]]) -> str:
    one1, one2, two = rows
    r1, r2 = two["images_per_s"] / one1["images_per_s"], two["images_per_s"] / one2["images_per_s"]
    met = "met" if min(r1, r2) >= ns.target else ("met vs 1 thread only" if r1 >= ns.target else "missed")
    busy = max(load[0][0], load[1][0]) > 0.5
    lines = [
        "# DDP on CPU: 2 processes vs 1 (benchmarks/bench_ddp.py)", "",
        f"`python benchmarks/bench_ddp.py {' '.join(sys.argv[1:])}`".replace("  ", " "), "",
        f"- machine: {os.cpu_count()} logical CPUs, torch {torch.__version__}; model `{ns.model}`, "
        f"{ns.dataset} subset {ns.subset}, global batch {ns.batch_size}, {ns.epochs} epochs (first dropped)",
        f"- load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load[0])}; "
        f"after: {', '.join(f'{v:.2f}' for v in load[1])}", "",
        "| run | processes x threads | images/s (median) | per epoch |", "|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        per = ", ".join(f"{v:.0f}" for v in r["per_epoch"])
        shape = f"{r['processes']} x {r['threads_per_process']}"
        lines.append(f"| {r['name']} | {shape} | {r['images_per_s']:.1f} | {per} |")
    lines += [
        "", f"- 2 processes / 1 process x 1 thread: **{r1:.2f}x**; 2 processes / 1 process x 2 threads: "
        f"**{r2:.2f}x** (target >= {ns.target}x: {met})",
    ]  # fmt: skip
    if busy:
        lines.append(
            "- the machine was not idle (load average above): other processes took CPU time from these runs, "
            "so the ratio is depressed and scattered, and the target is unverifiable from this reading; "
            "rerun on an idle machine"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--model", default="resnet20", help="a compute-bound augkit model (default resnet20)")
    a.add_argument("--dataset", default="fashion-mnist")
    a.add_argument("--subset", type=int, default=512, help="training images per epoch (default 512)")
    a.add_argument("--epochs", type=int, default=3, help="epochs per run, the first dropped (default 3)")
    a.add_argument("--batch-size", type=int, default=64, help="global batch (default 64, 32 per rank)")
    a.add_argument("--target", type=float, default=1.6, help="the issue's target ratio (default 1.6)")
    a.add_argument("--out", default=None, help="write the Markdown here (e.g. docs/results/bench/ddp.md)")
    ns = a.parse_args()
    before = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as d:
        rows = [run(ns, "1 process, 1 thread", 1, 1, Path(d)), run(ns, "1 process, 2 threads", 1, 2, Path(d)),
                run(ns, "2 processes (DDP, gloo)", 2, 1, Path(d))]  # fmt: skip
    text = markdown(ns, rows, (before, list(os.getloadavg())))
    print(text)
    if ns.out:
        Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
        Path(ns.out).write_text(text)


if __name__ == "__main__":
    main()
