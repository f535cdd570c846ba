"""Extra cost per training step of every training strategy, as a ratio to plain training.

One training step = the strategy builds the batch (``make_batch``, including any model pass
it needs: SPA's loss pass, PuzzleMix's input gradient, uncertainty sampling's L copies),
computes its loss (AugMix's three views, Manifold Mixup's hidden mix, Adversarial
AutoAugment's M·N batch), backward, SGD step.  Strategies are timed round-robin — each round
runs ``--steps`` steps of every strategy — and the table reports the median over rounds of
ms/step and of the ratio to ``none`` measured in the same round, so machine-load drift
cancels in the ratio.  Epoch hooks run once per round (Adversarial AutoAugment's controller
update is per epoch and is timed separately by bench_adversarial_overhead.py).

    python benchmarks/bench_strategy_cost.py [--threads 1] [--rounds 5] [--steps 4] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from _common import markdown_table, text_table

from augkit.data import TensorLoader, apply_subset, available, load_dataset
from augkit.models import build_model
from augkit.strategies import Context, build_strategy

DEFAULT = [
    "none", "standard", "randaugment", "label-smoothing:eps=0.1", "mixup:alpha=1", "cutmix:alpha=1",
    "manifold-mixup:alpha=2", "augmix", "samplepairing", "ricap:beta=0.3", "mosaic", "bc", "saliencymix",
    "attentive-cutmix", "puzzlemix", "comixup-simplified", "spa:lambda=0.1,aug=flip", "uncertainty:l=4,c=1",
    "uncertainty:l=8,c=4", "adversarial-autoaugment:m=4", "adversarial-autoaugment:m=8",
]  # fmt: skip


class Runner:
    """One strategy with its own model, optimizer, loader and generators."""

    def __init__(self, text: str, ds, model_name: str, batch: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.model = build_model(
            model_name, ds.image_shape[0], ds.num_classes, ds.mean(), ds.std(), generator=g
        )
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        gen = torch.Generator().manual_seed(1)
        self.loader = TensorLoader(ds.train_x, ds.train_y, batch, shuffle=True, generator=gen, drop_last=True)
        self.it = iter(self.loader)
        self.strategy = build_strategy(text)
        self.ctx = Context(
            self.model,
            torch.device("cpu"),
            ds.num_classes,
            torch.Generator().manual_seed(2),
            data=ds,
            epochs=100,
        )
        self.strategy.setup(self.ctx)
        self.strategy.on_epoch_start(self.ctx)

    def steps(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            try:
                xb, yb = next(self.it)
            except StopIteration:
                self.it = iter(self.loader)
                xb, yb = next(self.it)
            b = self.strategy.make_batch(xb, yb, self.ctx)
            loss = self.strategy.loss(self.model, b, self.ctx)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.ctx.step += 1
        return (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategies", default=";".join(DEFAULT), help="';'-separated strategy strings")
    p.add_argument("--dataset", default="fashion-mnist" if available("fashion-mnist") else "digits")
    p.add_argument("--model", default="small_cnn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ds = apply_subset(load_dataset(a.dataset), 2000, None, seed=0)
    names = [s for s in a.strategies.split(";") if s]
    if names[0] != "none":
        names = ["none", *[n for n in names if n != "none"]]
    runners = {n: Runner(n, ds, a.model, a.batch_size) for n in names}
    for r in runners.values():  # warm-up
        r.steps(1)
    ms: dict[str, list[float]] = {n: [] for n in names}
    ratio: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(a.rounds):
        this = {n: runners[n].steps(a.steps) for n in names}
        for n in names:
            ms[n].append(1e3 * this[n])
            ratio[n].append(this[n] / this["none"])
    print(
        f"# cost per training step: {a.dataset}, {a.model}, batch {a.batch_size}, {a.threads} thread(s), "
        f"{a.rounds} rounds x {a.steps} steps; torch {torch.__version__}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    head = ["strategy", "ms/step (median)", "x none (median of per-round ratios)", "extra ms/step"]
    base = statistics.median(ms["none"])
    rows = []
    for n in names:
        med = statistics.median(ms[n])
        rows.append([f"`{n}`", f"{med:.1f}", f"{statistics.median(ratio[n]):.2f}", f"{med - base:+.1f}"])
    print((markdown_table if a.markdown else text_table)(head, rows))


if __name__ == "__main__":
    main()
