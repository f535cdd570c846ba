"""Throughput of the batch mixers (Mixup, CutMix, RICAP, Mosaic) against a memory copy.

Run from the repository root::

    python benchmarks/bench_mix.py            # CPU (and CUDA if available), uint8 and float
    python benchmarks/bench_mix.py --quick    # fewer repeats

Input: 256 x 3 x 32 x 32 and 64 x 3 x 224 x 224 crops of real photographs (uint8, and the
same batch as float32 in [0, 1]; ``--sizes`` picks).  Each row times one full mixer call
(parameter sampling from a ``torch.Generator`` + the batched kernel + target mixing) and the
kernel alone (params replayed), against ``x.clone()`` of the same batch (same dtype) measured
in interleaved blocks.  Issue target: within 3x of the copy.  A benchmark, not a test:
nothing asserts on a timing.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_info, markdown_table, real_batch, sync_for, time_pair  # noqa: E402

from augkit.mix import RICAP, CutMix, Mixup, Mosaic  # noqa: E402

MIXERS = {
    "Mixup (elem)": lambda: Mixup(1.0, "elem"),
    "CutMix": lambda: CutMix(1.0, 1.0),
    "RICAP": lambda: RICAP(0.3),
    "Mosaic": lambda: Mosaic(0.25),
}


SIZES = {32: 256, 224: 64}  # image side -> batch size


def run(device: torch.device, size: int, repeats: int, min_time: float) -> list[list[object]]:
    n = SIZES[size]
    x8 = real_batch(n, size).to(device)
    y = (torch.arange(n) % 10).to(device)
    rows: list[list[object]] = []
    sync = sync_for(device)
    for dtype, x in (("uint8", x8), ("float32", x8.float() / 255)):
        t = torch.nn.functional.one_hot(y, 10).float()
        for name, make in MIXERS.items():
            m = make()
            g = torch.Generator().manual_seed(0)
            params = m.sample(x, y, g)
            kern = time_pair(
                lambda m=m, x=x, params=params: m.mix_images(x, params), x.clone, sync, repeats, min_time
            )
            full = time_pair(lambda m=m, x=x, t=t, g=g: m(x, t, g), x.clone, sync, repeats, min_time)
            ok = (
                "yes"
                if full.slower_than_copy <= 3
                else ("kernel only" if kern.slower_than_copy <= 3 else "no")
            )
            rows.append(
                [
                    f"{name} {size} px",
                    dtype,
                    str(device),
                    n / kern.op_s,
                    kern.slower_than_copy,
                    full.slower_than_copy,
                    kern.op_s * 1e6,
                    full.op_s * 1e6,
                    kern.copy_s * 1e6,
                    ok,
                ]
            )
        rows.append(
            [
                f"copy `x.clone()` ({dtype}) {size} px",
                dtype,
                str(device),
                n / kern.copy_s,
                1.0,
                1.0,
                "",
                "",
                kern.copy_s * 1e6,
                "",
            ]
        )
    one = torch.zeros(1, device=device)
    disp = time_pair(lambda: one.add_(0), lambda: None, sync, repeats, min_time)
    rows.append(
        ["dispatch: `add_(0)` on 1 element", "float32", str(device), "", "", "", disp.op_s * 1e6, "", "", ""]
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="all", help="cpu, cuda or all (cuda only if available)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    devices = [torch.device("cpu")] if a.device in ("cpu", "all") else []
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    repeats, min_time = (3, 0.02) if a.quick else (7, 0.1)
    rows = []
    for dev in devices:
        for size in a.sizes:
            rows += run(dev, size, repeats, min_time)
    info = machine_info(devices[-1])
    print(f"### Mixer benchmark (`benchmarks/bench_mix.py{' --quick' if a.quick else ''}`)\n")
    shapes = ", ".join(f"{SIZES[s]} x 3 x {s} x {s}" for s in a.sizes)
    print(f"{shapes}, {a.threads} thread(s); {info['cpu']}; torch {info['torch']}", end="")
    print(f"; GPU {info['gpu']}" if "gpu" in info else "", end="")
    print(f"; load average at start {info['loadavg_start']}\n")
    headers = [
        "mixer",
        "dtype",
        "device",
        "images/s (kernel)",
        "kernel / copy",
        "full call / copy",
        "kernel us",
        "full us",
        "copy us",
        "<= 3x copy",
    ]
    print(markdown_table(headers, rows))
    print(
        "\n*kernel / copy*: the batched kernel with replayed params, over `x.clone()` of the same batch "
        "(median of interleaved blocks). *full call*: sampling + kernel + target mixing. Target: <= 3x. "
        "*dispatch*: the fixed cost of one eager torch op; a full call issues ~30-60 such ops (validation, "
        "sampling, index building), so it cannot come within 3x of a uint8 copy that costs only a few "
        "dispatches' worth of time."
    )


if __name__ == "__main__":
    main()
