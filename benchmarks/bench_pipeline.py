"""Share of a training step spent in the data pipeline and augmentation (target: <= 10 %).

For the default model on CPU, one training step = take a batch from the tensor-resident loader,
let the strategy build the augmented batch, forward, backward, optimizer step.  The script
times the first two parts separately from the whole step, for every strategy of the main
comparison, and prints the share of step time they take.

    python benchmarks/bench_pipeline.py [--dataset fashion-mnist] [--steps 30] [--threads 2] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from augkit.data import TensorLoader, available, load_dataset
from augkit.models import build_model
from augkit.strategies import Context, build_strategy

STRATEGIES = ("none", "standard", "randaugment", "trivialaugment", "autoaugment")


def measure(strategy_text: str, ds, model_name: str, batch: int, steps: int) -> dict:
    g = torch.Generator().manual_seed(0)
    model = build_model(model_name, ds.image_shape[0], ds.num_classes, ds.mean(), ds.std(), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    loader = TensorLoader(
        ds.train_x,
        ds.train_y,
        batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
        drop_last=True,
    )
    strategy = build_strategy(strategy_text)
    ctx = Context(model, torch.device("cpu"), ds.num_classes, torch.Generator().manual_seed(2))
    strategy.setup(ctx)
    data_t = aug_t = total_t = 0.0
    it = iter(loader)
    for step in range(steps + 3):  # 3 warm-up steps
        t0 = time.perf_counter()
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        t1 = time.perf_counter()
        b = strategy.make_batch(xb, yb, ctx)
        t2 = time.perf_counter()
        loss = strategy.loss(model, b, ctx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t3 = time.perf_counter()
        if step >= 3:
            data_t += t1 - t0
            aug_t += t2 - t1
            total_t += t3 - t0
    return {
        "strategy": strategy_text,
        "data_ms": 1e3 * data_t / steps,
        "aug_ms": 1e3 * aug_t / steps,
        "step_ms": 1e3 * total_t / steps,
        "share": (data_t + aug_t) / total_t,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="fashion-mnist" if available("fashion-mnist") else "digits")
    p.add_argument("--model", default="small_cnn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ds = load_dataset(a.dataset)
    rows = [measure(s, ds, a.model, a.batch_size, a.steps) for s in STRATEGIES]
    print(
        f"# pipeline share of step time: {a.dataset}, {a.model}, batch {a.batch_size}, {a.threads} threads, "
        f"{a.steps} steps; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
    )
    sep = " | " if a.markdown else "  "
    head = ["strategy", "data ms", "augment ms", "step ms", "data+augment share", "target <= 10%"]
    print(("| " if a.markdown else "") + sep.join(head) + (" |" if a.markdown else ""))
    if a.markdown:
        print("|" + "---|" * len(head))
    for r in rows:
        cells = [
            r["strategy"],
            f"{r['data_ms']:.2f}",
            f"{r['aug_ms']:.2f}",
            f"{r['step_ms']:.1f}",
            f"{100 * r['share']:.1f}%",
            "PASS" if r["share"] <= 0.10 else "MISS",
        ]
        print(("| " if a.markdown else "") + sep.join(cells) + (" |" if a.markdown else ""))


if __name__ == "__main__":
    main()
