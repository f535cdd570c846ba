"""Training-step throughput of the default models against this machine's fp32 matmul peak (issue 17).

    python benchmarks/bench_train_step.py [--threads 1 2] [--steps 20] [--out results.json]

For each thread count: the fp32 matmul peak (GFLOP/s of a 1024 x 1024 x 1024 ``torch.mm``, best of
5), then one SGD step (forward, backward, update; batch 128, 28 x 28 grey images) of ``small_cnn``
and ``small_cnn_half`` in contiguous and channels_last layout, as images/s and achieved GFLOP/s
(multiply-adds counted from the conv and linear shapes, x 2 for FLOPs, x 3 for forward + backward),
and its share of the matmul peak.  ``--compile`` also times ``torch.compile`` (inductor) models.
A benchmark, not a test: it prints and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from augkit.models import build_model


def matmul_peak(n: int = 1024, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_time(lambda: torch.mm(a, b)) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def step_flops(model: nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one training step: 2 x multiply-adds of every conv / linear, x 3 (forward + backward)."""
    macs = 0

    def hook(m, inp, out):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return 6.0 * macs


def time_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def one() -> None:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        one()
    t = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t) / steps


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default 1 2)")
    a.add_argument("--steps", type=int, default=20, help="timed steps per row (default 20)")
    a.add_argument("--compile", action="store_true", help="also time torch.compile (inductor) models")
    a.add_argument("--out", default=None, help="write every row as JSON here")
    ns = a.parse_args()
    rows = []
    for t in ns.threads:
        torch.set_num_threads(t)
        peak = matmul_peak()
        print(f"threads {t}: fp32 matmul peak {peak:.1f} GFLOP/s")
        for name in ("small_cnn", "small_cnn_half"):
            for layout in ("contiguous", "channels_last") + (("compiled",) if ns.compile else ()):
                model = build_model(name, 1, 10, (0.5,), (0.5,), generator=0)
                x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))
                flops = step_flops(model, x)
                if layout != "contiguous":
                    cl = torch.channels_last
                    model, x = model.to(memory_format=cl), x.contiguous(memory_format=cl)
                if layout == "compiled":
                    model = torch.compile(model)
                sec = time_steps(model, x, y, ns.steps)
                gf = flops / sec / 1e9
                row = {"threads": t, "model": name, "layout": layout, "images_per_s": 128 / sec,
                       "gflops": gf, "peak_gflops": peak, "share_of_peak": gf / peak}  # fmt: skip
                rows.append(row)
                print(f"  {name:15s} {layout:13s} {row['images_per_s']:8.0f} img/s  {gf:6.1f} GFLOP/s  "
                      f"{100 * row['share_of_peak']:5.1f} % of peak")  # fmt: skip
    if ns.out:
        with open(ns.out, "w") as f:
            json.dump({"rows": rows, "torch": torch.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
