"""Tiny overfit (DESIGN §5): small_cnn memorises 64 real images with and without augmentation.

A check that can fail: a strategy whose targets do not belong to its images (a permutation or
partner bug), an augmentation that destroys the images, or a loss whose gradient has the wrong
sign keeps the training error on these 64 images above 0.  The loop is written here (plain
SGD with momentum, full batch) so that it does not depend on ``augkit.train``; the error is
measured on the *unaugmented* images with the model in eval mode (BatchNorm running stats).

Step bounds are about twice the measured need (Fashion-MNIST, seeds 0-2: ``none`` 70-75
steps, ``standard`` 95-115; digits: ``none`` 25, ``standard:padding=1,flip=0`` 45-90).
"""

from __future__ import annotations

import pytest
import torch

from augkit import data as data_mod
from augkit.models import build_model
from augkit.strategies import Context, build_strategy

N = 64
MAX_STEPS = 250
EVAL_EVERY = 5


@pytest.fixture(scope="module")
def tiny() -> tuple[str, torch.Tensor, torch.Tensor, tuple, tuple, int]:
    name = "fashion-mnist" if data_mod.available("fashion-mnist") else "digits"
    ds = data_mod.load_dataset(name)
    idx = torch.randperm(ds.train_x.shape[0], generator=torch.Generator().manual_seed(0))[:N]
    return name, ds.train_x[idx].clone(), ds.train_y[idx].clone(), ds.mean(), ds.std(), ds.num_classes


def _augmenting(dataset: str) -> str:
    # digits are 8x8 and not mirror-symmetric: a 4 px shift or a flip changes what they show
    return "standard" if dataset == "fashion-mnist" else "standard:padding=1,flip=0"


def _train_error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) != y).float().mean().item()


@pytest.mark.parametrize("kind", ["plain", "augmenting"])
def test_small_cnn_overfits_64_real_images(kind, tiny, one_thread) -> None:  # noqa: ANN001
    dataset, x, y, mean, std, k = tiny
    spec = "none" if kind == "plain" else _augmenting(dataset)
    model = build_model("small_cnn", x.shape[1], k, mean, std, generator=0, widths=(8, 16, 32))
    strategy = build_strategy(spec)
    ctx = Context(model, torch.device("cpu"), k, torch.Generator().manual_seed(0), epochs=1)
    strategy.setup(ctx)
    strategy.on_epoch_start(ctx)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    start = _train_error(model, x, y)
    assert start > 0.5, start  # an untrained net does not already fit the batch
    errors = []
    for step in range(1, MAX_STEPS + 1):
        model.train()
        batch = strategy.make_batch(x, y, ctx)
        loss = strategy.loss(model, batch, ctx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ctx.step += 1
        if step % EVAL_EVERY == 0:
            errors.append(_train_error(model, x, y))
            if errors[-1] == 0.0:
                break
    assert errors[-1] == 0.0, (
        f"{spec}: training error {errors[-1]:.3f} after {MAX_STEPS} steps ({errors[::10]})"
    )
    if kind == "augmenting":  # the strategy did change the images it trained on
        assert not torch.equal(strategy.make_batch(x, y, ctx).x, x)
