"""Compiled uint8 kernels (augkit/ops/_jit.py) against the torch path they replace, in one process.

For each op and policy the torch path (``_jit.disabled()``) and the compiled path run in
interleaved timed blocks on the same real-photo batch, so machine load hits both alike; the
outputs are checked equal before timing.  Usage::

    python benchmarks/bench_jit.py --threads 1 --sizes 32 224 --markdown
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from _common import _block, _calibrate, markdown_table, real_batch  # noqa: E402

from augkit import policies  # noqa: E402
from augkit.ops import _jit  # noqa: E402
from augkit.ops import color as C  # noqa: E402
from augkit.ops import geometry as G  # noqa: E402

BATCH = {32: 256, 224: 64}


def _cases(x: torch.Tensor) -> list[tuple[str, object]]:
    b = x.shape[0]
    g = torch.Generator().manual_seed(0)
    f = torch.rand(b, generator=g) * 1.8 + 0.1
    ang = torch.rand(b, generator=g) * 60 - 30
    thr = torch.rand(b, generator=g) * 256
    ops = [
        ("Brightness", lambda: C.brightness(x, f)),
        ("Contrast", lambda: C.contrast(x, f)),
        ("Color", lambda: C.color(x, f)),
        ("Sharpness", lambda: C.sharpness(x, f)),
        ("AutoContrast", lambda: C.autocontrast(x)),
        ("Equalize", lambda: C.equalize(x)),
        ("Solarize", lambda: C.solarize(x, thr)),
        ("Rotate", lambda: G.rotate(x, ang, fill=128.0)),
        ("ShearY", lambda: G.shear_y(x, (f - 1) * 0.3, fill=128.0)),
    ]
    pols = [
        ("RandAugment(2, 9)", policies.RandAugment(2, 9)),
        ("TrivialAugment()", policies.TrivialAugment()),
        ("AutoAugment('cifar10')", policies.AutoAugment("cifar10")),
        ("AutoAugment('imagenet')", policies.AutoAugment("imagenet")),
    ]
    for name, pol in pols:
        ops.append((name, lambda p=pol: p(x, generator=torch.Generator().manual_seed(1))))
    return ops


def _torch_path(fn):
    def run():
        with _jit.disabled():
            return fn()

    return run


def measure(size: int, repeats: int, min_time: float) -> list[list[object]]:
    x = real_batch(BATCH[size], size)
    rows = []
    for name, fn in _cases(x):
        ref = _torch_path(fn)
        if not torch.equal(ref(), fn()):
            raise AssertionError(f"{name}: compiled and torch paths differ at {size} px")
        sync = lambda: None  # noqa: E731 - CPU only
        n_ref = _calibrate(ref, min_time, sync, 10_000)
        n_jit = _calibrate(fn, min_time, sync, 10_000)
        t_ref, t_jit = [], []
        for _ in range(repeats):
            t_ref.append(_block(ref, n_ref, sync))
            t_jit.append(_block(fn, n_jit, sync))
        a, j = statistics.median(t_ref), statistics.median(t_jit)
        b = x.shape[0]
        rows.append([f"{name} {size} px", f"{b / a:,.0f}", f"{b / j:,.0f}", f"{a / j:.2f}x"])
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (compiled kernels: serial)")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 224], choices=[32, 224], help="image sides")
    p.add_argument("--repeats", type=int, default=7, help="interleaved timed blocks per path")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per timed block")
    p.add_argument("--markdown", action="store_true", help="print a GitHub Markdown table")
    args = p.parse_args(argv)
    if not _jit.available():
        raise SystemExit("numba is not importable (or AUGKIT_JIT=0): nothing to compare")
    torch.set_num_threads(args.threads)
    rows = [r for s in args.sizes for r in measure(s, args.repeats, args.min_time)]
    load = os.getloadavg()
    headers = ["uint8 batch (256 x 32 px / 64 x 224 px)", "torch path img/s", "compiled img/s", "speed-up"]
    loads = ", ".join(f"{v:.2f}" for v in load)
    print(f"{args.threads} thread(s); load average {loads}; same bits checked")
    if args.markdown:
        print(markdown_table(headers, rows))
    else:
        for r in rows:
            print("  ".join(str(v) for v in r))


if __name__ == "__main__":
    main()
