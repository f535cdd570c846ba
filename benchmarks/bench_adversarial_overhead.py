"""Adversarial AutoAugment: controller overhead per training step vs the M*N forward/backward.

small_cnn, 1x28x28 grey images (Fashion-MNIST if present, else resized photos), N = 128, M = 8,
one thread by default.  Prints, per optimizer step (median of repeats):

- fwd/bwd: forward + backward + SGD step over the M*N batch (and over N, for the M x cost)
- controller: sample M policies + mean token probabilities + one REINFORCE step, per epoch,
  amortised over the steps of an epoch (10 % subset: 46 steps; full set: 468 steps)
- bookkeeping: per-sample losses and the per-policy means, minus a plain mean loss
- augment: base + M policies + Cutout on the M*N batch (not controller overhead; for scale)

Usage: python benchmarks/bench_adversarial_overhead.py [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from augkit.models import build_model
from augkit.strategies import Context, build_strategy


def _images(n: int) -> torch.Tensor:
    try:
        from augkit.data import available, load_dataset

        if available("fashion-mnist"):
            return load_dataset("fashion-mnist").train_x[:n]
    except Exception:  # fall back to photos
        pass
    import numpy as np
    import skimage.data

    try:
        import numpy as np
        import skimage.data
        from PIL import Image
    except ImportError:  # timing only: any uint8 content will do
        return (torch.arange(n * 28 * 28) * 2654435761 % 251).to(torch.uint8).view(n, 1, 28, 28)
    a = np.asarray(Image.fromarray(skimage.data.camera()).resize((28, 28)))
    return torch.from_numpy(a.copy())[None, None].repeat(n, 1, 1, 1)


def _time(fn, repeats: int, device: torch.device) -> float:
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--m", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    x = _images(a.n).to(dev)
    y = (torch.arange(a.n) % 10).to(dev)
    model = build_model("small_cnn", 1, 10, (0.29,), (0.35,), generator=0).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    s = build_strategy(f"adversarial-autoaugment:m={a.m}")
    ctx = Context(model, dev, 10, torch.Generator().manual_seed(0), epochs=10, config={"seed": 0})
    s.setup(ctx)
    s.on_epoch_start(ctx)
    batch = s.make_batch(x, y, ctx)
    small = build_strategy("adversarial-autoaugment:mode=baseline").make_batch(x, y, ctx)

    def fwd_bwd(b) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(b.x), b.y.argmax(1)).backward()
        opt.step()

    with torch.no_grad():
        logits = model(batch.x)

    class Fixed(torch.nn.Module):  # the strategy's loss on precomputed logits: bookkeeping only
        def forward(self, _x: torch.Tensor) -> torch.Tensor:
            return logits

    def with_bookkeeping() -> None:
        s.loss(Fixed(), batch, ctx)

    def plain_loss() -> None:
        -(batch.y * torch.log_softmax(logits.float(), 1)).sum(1).mean()

    def controller_epoch() -> None:
        tokens = s.controller.sample(a.m, ctx.aug_generator)
        s.controller.probabilities(tokens)  # for the op / magnitude distributions in the history
        s.controller.reinforce(tokens, torch.randn(a.m, generator=ctx.aug_generator))

    for fn in (lambda: fwd_bwd(batch), controller_epoch):
        fn()  # warm-up
    t_mn = _time(lambda: fwd_bwd(batch), a.repeats, dev)
    t_n = _time(lambda: fwd_bwd(small), a.repeats, dev)
    t_book = _time(with_bookkeeping, 50, dev) - _time(plain_loss, 50, dev)
    s._step_losses = []
    t_ctrl = _time(controller_epoch, a.repeats, dev)
    t_aug = _time(lambda: s.make_batch(x, y, ctx), a.repeats, dev)
    print(f"device {dev}, threads {a.threads}, N={a.n}, M={a.m}, images {tuple(x.shape[1:])}")
    print(
        f"fwd/bwd/step M*N={a.m * a.n}: {1e3 * t_mn:8.2f} ms   "
        f"N={a.n}: {1e3 * t_n:8.2f} ms   (x{t_mn / t_n:.2f})"
    )
    print(f"controller per epoch (sample + REINFORCE step): {1e3 * t_ctrl:8.2f} ms")
    for label, steps in (("10% subset, 46 steps/epoch", 46), ("full set, 468 steps/epoch", 468)):
        per = t_ctrl / steps + max(t_book, 0.0)
        print(
            f"  controller overhead per step, {label}: {1e3 * per:7.3f} ms "
            f"= {100 * per / t_mn:.3f} % of fwd/bwd"
        )
    print(f"per-step loss bookkeeping (per-policy L_m): {1e3 * t_book:7.3f} ms = {100 * t_book / t_mn:.2f} %")
    print(
        f"augmentation of the M*N batch (base + policies + Cutout): {1e3 * t_aug:8.2f} ms "
        f"= {100 * t_aug / t_mn:.1f} %"
    )


if __name__ == "__main__":
    main()
