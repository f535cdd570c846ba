"""The one training loop (DESIGN §3), as small functions read top to bottom.

``fit(model, data, strategy, optim, out_dir)`` trains a *built* model with a *built* Strategy:
it never parses a strategy name and imports nothing above ``strategies/base.py``, so a search
stage (IF-DA's classifier, a policy-search trial) trains through exactly the code a run does.

SGD with Nesterov momentum, weight decay on weights only (biases and norm parameters exempt),
a per-step learning-rate schedule (cosine, one-cycle, step or constant, optional linear
warm-up); AMP (bfloat16 autocast) on CUDA; channels_last by default (1.4-1.6x faster on CPU,
measured; ``channels_last=False`` opts out).  The random streams are the caller's
(:func:`streams` derives the usual three from a seed).  After every epoch the metrics and a
checkpoint are written atomically; ``resume=True`` continues from the checkpoint and, on CPU,
reproduces the uninterrupted run bit for bit.  A non-finite loss raises
:class:`TrainingDiverged`, keeping the last good checkpoint.

**Several processes** (``torchrun``; :mod:`augkit.distributed` builds the :class:`~augkit.distributed.Ranks`
passed as ``ranks``): the training step runs through DistributedDataParallel, rank r takes its
contiguous ``batch_size / N`` slice of every global batch (all ranks draw the same permutation)
and augments with its own stream (``streams(seed, rank)``; rank 0's is the single-process one);
rank 0 alone evaluates (the unwrapped module) and writes; the loss is the mean over ranks.  With
``ranks`` left at :data:`~augkit.distributed.SINGLE` every line below runs as in one process, bit for bit.

What a strategy that needs "the whole batch" does under N ranks: it sees the rank's LOCAL batch
of ``batch_size / N`` images, and its draws come from the rank's own augmentation stream.

- Per-image transforms and policies (none, standard, randaugment, trivialaugment, autoaugment,
  policy, cutout, erasing, hideandseek, gridmask, elastic, label-smoothing, pba, tanda,
  policy-schedule): nothing depends on the batch; the draws differ from one process's, their
  distribution does not.  policy-schedule's M copies are M copies of the local batch.
- Mixing (mixup, cutmix, augmix, samplepairing, ricap, mosaic, bc): partners, RICAP/Mosaic tiles
  and SamplePairing's second image come from the same rank's local batch (an image is never mixed
  with one on another rank); a per-batch lambda (mixup/cutmix ``mode=batch``) is drawn once per
  rank and step, so a global step mixes with N lambdas.  AugMix's JSD views are per image.
- Saliency mixing (saliencymix, attentive-cutmix, puzzlemix, comixup, comixup-simplified):
  saliency comes from the rank's copy of the model (the same weights on every rank); partners,
  PuzzleMix's transport and Co-Mixup's joint assignment are solved over the local batch only.
- Selection (spa, uncertainty): the loss pass scores each image with the rank's copy of the model;
  in the default ``mode=eval`` a score does not depend on the batch, so the selection is the one
  one process would make; ``mode=train`` uses the local batch's BatchNorm statistics.  When SPA's
  inner strategy changes the row count (AugMix views) ranks may hold different numbers of rows;
  each rank's loss is its own mean and DDP averages ranks equally.
- Refused under torchrun, with an error naming the strategy (``StrategyDef.ddp_refusal``):
  adversarial-autoaugment (its controller samples the M policies from the rank's stream and learns
  from that rank's policy losses, so ranks would train different policies), manifold-mixup (its
  loss runs the model's stages directly, outside DDP's forward, so gradients would not be averaged),
  gdro (its subgroup weights q follow each batch's subgroup losses and would drift apart across
  ranks), and every strategy with a pre-training search (if-da, style, distill, gan, clamp: the
  stage would run on every rank into one run directory).
- BatchNorm is per rank (statistics of the local batch; rank 0's running statistics are copied
  to every rank at each forward), the one numeric difference from one process on the global batch.
- Logged hook numbers (mixing lambdas, selection rates, ...) are rank 0's.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .data.base import ImageDataset
from .data.loader import TensorLoader
from .data.stream import StreamLoader
from .distributed import SINGLE, Ranks, to_cpu
from .evaluate import predict
from .io import atomic_save_torch, atomic_write_text, load_torch
from .strategies.base import Context, Strategy

__all__ = [
    "SCHEDULES",
    "OptimConfig",
    "TrainingDiverged",
    "build_optimizer",
    "build_schedule",
    "eval_sets",
    "evaluate_errors",
    "fit",
    "load_checkpoint",
    "make_loader",
    "save_checkpoint",
    "streams",
    "train_epoch",
]

CHECKPOINT = "checkpoint.pt"
EXPLODE = 100.0  # a loss this many times the run's first loss is divergence, not training
MAX_RANKS = 500  # processes of one run: rank r > 0 augments from seed * 1000 + 500 + r
TRAIN_EVAL_IMAGES = 2000  # training error is measured on this many (un-augmented) training images


class TrainingDiverged(RuntimeError):
    """The loss or a weight became non-finite, or the loss exploded; the last good checkpoint is kept.

    Checked at every step (the loss: non-finite, or above ``EXPLODE`` times the run's first loss)
    and before every checkpoint (every parameter and buffer finite, BatchNorm statistics included),
    so a checkpoint on disk never holds a non-finite tensor.
    """


# learning-rate multipliers as functions of progress t in [0, 1] (after warm-up)
SCHEDULES: dict[str, Callable[[float], float]] = {
    "cosine": lambda t: 0.5 * (1 + math.cos(math.pi * t)),
    "onecycle": lambda t: min(1.0, t / 0.3) if t < 0.3 else max(0.0, (1 - t) / 0.7),
    "step": lambda t: 0.1 ** int(t >= 0.5) * 0.1 ** int(t >= 0.75),
    "constant": lambda t: 1.0,
}


@dataclass(frozen=True)
class OptimConfig:
    """What the loop needs to know: budget, optimizer, schedule, device and logging cadence."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = True  # fastest bit-reproducible layout on CPU (benchmarks/bench_train_step.py)
    eval_every: int = 0  # 0 = about ten evaluations per run
    drop_last: bool = True  # drop a ragged last batch (kept when the set is smaller than a batch)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {self.schedule!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> OptimConfig:
        """The loop's share of a run's options (``asdict(TrainConfig)`` or a search's ``config``)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})


def streams(seed: int, rank: int = 0) -> dict[str, torch.Generator]:
    """Independent generators for data order, augmentation and init (DESIGN §4).

    ``rank`` r > 0 of a torchrun launch augments from ``seed * 1000 + 500 + r`` (inside the seed's
    own block of 1000, which the three streams leave unused above + 3; a CPU generator keeps only
    the low 32 bits of a seed, so a high offset would repeat rank 0's stream), so every rank draws
    its own images' augmentations while rank 0 keeps the single-process stream; data order and
    init are the same on every rank (one permutation, one initial model)."""
    if not 0 <= rank < MAX_RANKS:
        raise ValueError(f"rank must be in [0, {MAX_RANKS}) (torchrun worlds up to {MAX_RANKS}): {rank!r}")
    gens = {
        k: torch.Generator().manual_seed(seed * 1000 + i + 1) for i, k in enumerate(("data", "aug", "init"))
    }
    if rank:
        gens["aug"] = torch.Generator().manual_seed(seed * 1000 + 500 + rank)
    return gens


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.SGD:
    """SGD; weight decay on tensors of rank >= 2 only (biases, BatchNorm scales exempt)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,  # torch refuses Nesterov without momentum
    )


def lr_multiplier(cfg: OptimConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Step -> multiplier of ``cfg.lr``: linear warm-up, then ``SCHEDULES[cfg.schedule]``."""
    total, warm = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch
    shape = SCHEDULES[cfg.schedule]

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return shape((step - warm) / max(1.0, total - warm))

    return f


def build_schedule(opt: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int):
    return torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(cfg, steps_per_epoch))


def make_loader(
    x: Tensor, y: Tensor, cfg: OptimConfig, generator: torch.Generator, shard: tuple[int, int] = (0, 1)
) -> TensorLoader:
    """The default training loader: the images resident as one tensor (a streamed run passes its own).

    ``shard`` = (rank, world): this rank's slice of every global batch (torchrun)."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"training images are {type(x).__name__}, not a tensor: pass fit(..., loader=StreamLoader(...))"
        )
    return TensorLoader(
        x,
        y,
        cfg.batch_size,
        shuffle=True,
        generator=generator,
        drop_last=cfg.drop_last and x.shape[0] > cfg.batch_size,
        device=cfg.device,
        shard=shard,
    )


def eval_sets(data: ImageDataset) -> dict[str, tuple[Tensor, Tensor]]:
    """The splits a run's learning curves follow: test, and validation when the data has one."""
    sets = {"test": (data.test_x, data.test_y)}
    if data.val_x is not None and data.val_x.shape[0]:
        sets["val"] = (data.val_x, data.val_y)
    return sets


def evaluate_errors(
    model: nn.Module, sets: Mapping[str, tuple[Tensor, Tensor]], device: torch.device
) -> dict[str, float]:
    """Top-1 error of each named split (``<name>_error``), in eval mode; no random draw."""
    out = {}
    for name, (x, y) in sets.items():
        logits = predict(model, x, batch_size=1000, device=device)
        out[f"{name}_error"] = (logits.argmax(1).cpu() != y).float().mean().item()
    return out


def _autocast(cfg: OptimConfig, device: torch.device):
    if cfg.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_epoch(
    model: nn.Module,
    loader: TensorLoader | StreamLoader,
    strategy: Strategy,
    opt: torch.optim.Optimizer,
    sched,
    ctx: Context,
    cfg: OptimConfig,
    bar: Callable = iter,
    limit: float = math.inf,
    ranks: Ranks = SINGLE,
) -> dict[str, float]:
    """One pass over ``loader``: strategy batch -> loss -> step; returns the epoch's numbers.

    ``limit``: a loss above it raises :class:`TrainingDiverged` (see ``EXPLODE``).  ``model`` is
    the module the step runs (DDP-wrapped under torchrun); the loss is averaged over ranks so
    that every rank logs it and decides divergence alike."""
    model.train()
    t0, n_seen, loss_sum, extra, first = time.perf_counter(), 0, 0.0, {}, None
    autocast = _autocast(cfg, ctx.device)
    for xb, yb in bar(loader):
        batch = strategy.make_batch(xb, yb, ctx)
        if cfg.channels_last:
            batch.x = batch.x.contiguous(memory_format=torch.channels_last)
        with autocast:
            loss = strategy.loss(model, batch, ctx)
        value = ranks.mean(loss)
        first = value if first is None else first
        if not math.isfinite(value) or value > limit:
            what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g}"
            raise TrainingDiverged(
                f"training diverged: the loss {what} at epoch {ctx.epoch + 1}, step {ctx.step}; "
                f"try a lower --lr"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ctx.step += 1
        n = yb.shape[0] * ranks.world  # the global batch
        n_seen += n
        loss_sum += value * n
        extra.update(strategy.on_step_end(ctx, {"loss": value}))
    seconds = time.perf_counter() - t0
    return {
        "train_loss": loss_sum / max(n_seen, 1),
        "lr": sched.get_last_lr()[0],
        "epoch_seconds": seconds,
        "images_per_second": n_seen / max(seconds, 1e-9),
        "first_loss": first,
        **extra,
    }


def check_finite(model: nn.Module, epoch: int) -> None:
    """Raise :class:`TrainingDiverged` if any parameter or buffer is NaN or infinite."""
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise TrainingDiverged(
                f"training diverged: {name} became non-finite in epoch {epoch}; try a lower --lr"
            )


def agree_finite(model: nn.Module, epoch: int, ranks: Ranks, device: torch.device) -> None:
    """:func:`check_finite` on every rank, raised on all of them when it fails on any (no rank hangs)."""
    try:
        check_finite(model, epoch)
    except TrainingDiverged:
        if not ranks.active:
            raise
        ranks.any(True, device)
        raise
    if ranks.any(False, device):
        raise TrainingDiverged(f"training diverged: a tensor became non-finite on another rank ({epoch=})")


def rank_state(model: nn.Module, strategy: Strategy, gens: Mapping[str, torch.Generator]) -> dict:
    """What differs between ranks and a resumed rank must get back: its stream, strategy and buffers."""
    return {
        "aug_generator": gens["aug"].get_state(),
        "strategy": to_cpu(strategy.state_dict()),
        "buffers": {k: v.detach().cpu() for k, v in model.named_buffers()},
    }


def load_rank_state(st: dict, model: nn.Module, strategy: Strategy, gens, ranks: Ranks, path: Path) -> None:
    """Give this rank its own part of a checkpoint written by ``ranks.world`` processes, or refuse."""
    written = int(st.get("world_size", 1))
    if written != ranks.world:
        raise ValueError(
            f"--resume: {path} was written by {written} process(es), this launch has {ranks.world}; "
            f"resume with the same torchrun --nproc_per_node (or without torchrun for 1)"
        )
    if not ranks.active:
        return
    own = st["rank_states"][ranks.rank]
    gens["aug"].set_state(own["aug_generator"])
    strategy.load_state_dict(own["strategy"])
    with torch.no_grad():
        for k, v in model.named_buffers():
            v.copy_(own["buffers"][k])


def save_checkpoint(
    path: Path, parts: Mapping[str, Any], gens: Mapping[str, torch.Generator], extra: dict
) -> None:
    """Every ``state_dict`` of ``parts`` plus the augmentation stream and ``extra``, atomically."""
    state = {k: v.state_dict() for k, v in parts.items()}
    atomic_save_torch(path, {**state, "aug_generator": gens["aug"].get_state(), **extra})


def load_checkpoint(
    path: Path, parts: Mapping[str, Any], gens: Mapping[str, torch.Generator], device: torch.device
) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns the checkpoint for its extra keys.

    The loader is restored before the augmentation stream: when both are one generator (a
    search stage), the stream's end-of-epoch state is the one that must win.
    """
    st = load_torch(path, map_location=device)
    for k, v in parts.items():
        v.load_state_dict(st[k])
    gens["aug"].set_state(st["aug_generator"])
    return st


def _record(epoch: int, numbers: dict, errors: dict, splits: list[str]) -> dict:
    # key order of metrics.jsonl: epoch, train numbers, evaluations (None between them), hook extras
    core = ("train_loss", "lr", "epoch_seconds", "images_per_second")
    numbers = {k: v for k, v in numbers.items() if k != "first_loss"}
    pending = {f"{s}_error": None for s in splits if s != "train"}
    rec = {"epoch": epoch, **{k: numbers[k] for k in core}, **pending, **errors}
    rec.update({k: v for k, v in numbers.items() if k not in core})
    return rec


def fit(
    model: nn.Module,
    data: ImageDataset,
    strategy: Strategy,
    optim: OptimConfig,
    out_dir: str | Path,
    *,
    gens: Mapping[str, torch.Generator],
    config: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = False,
    label: str = "",
    evals: Mapping[str, tuple[Tensor, Tensor]] | None = None,
    until: int | None = None,
    loader: TensorLoader | StreamLoader | None = None,
    ranks: Ranks = SINGLE,
) -> list[dict]:
    """Train ``model`` on ``data.train_x/y`` with ``strategy``; return the per-epoch history.

    ``until``: stop after that epoch (evaluated, checkpointed) so that a resumed call continues
    the same schedule — how PBA's population trains in rounds.

    ``gens`` holds the ``data`` (loader order) and ``aug`` (strategy draws) generators; they may
    be one object.  ``config`` is what strategies read as ``ctx.config`` (the run's options).
    ``evals`` names the splits evaluated every ``eval_every`` epochs (default :func:`eval_sets`);
    training error is always measured on the first ``TRAIN_EVAL_IMAGES`` training images.
    ``loader``: the training batches (default :func:`make_loader` over ``data.train_x/y``); a run
    that streams its images from files passes a :class:`~augkit.data.stream.StreamLoader` built
    with ``gens["data"]``.  Writes ``metrics.jsonl`` and ``checkpoint.pt`` into ``out_dir`` after every epoch.
    ``ranks``: the processes of a torchrun launch (see the module docstring); a passed ``loader``
    must then be sharded already, and ``gens["aug"]`` must be this rank's stream.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    device = torch.device(optim.device)
    if optim.channels_last:  # 1.6x (small_cnn) / 1.4x (small_cnn_half) faster on CPU, RESULTS §14
        model = model.to(memory_format=torch.channels_last)
    step_model = ranks.wrap(model, device)
    opt = build_optimizer(model, optim)
    if loader is None:
        loader = make_loader(data.train_x, data.train_y, optim, gens["data"], (ranks.rank, ranks.world))
    sched = build_schedule(opt, optim, len(loader))
    ctx = Context(
        model, device, data.num_classes, gens["aug"], optim.label_smoothing, epochs=optim.epochs,
        config=dict(config or {}), data=data, out_dir=out, progress=progress,
    )  # fmt: skip
    strategy.setup(ctx)
    sets = dict(eval_sets(data) if evals is None else evals)
    # (a FileImages train_x decodes these images here: slicing files reads them)
    sets["train"] = (data.train_x[:TRAIN_EVAL_IMAGES], data.train_y[:TRAIN_EVAL_IMAGES])
    parts = {"model": model, "optimizer": opt, "scheduler": sched, "loader": loader, "strategy": strategy}
    ckpt, history, first_loss = out / CHECKPOINT, [], None
    if resume and ckpt.exists():
        st = load_checkpoint(ckpt, parts, gens, device)
        load_rank_state(st, model, strategy, gens, ranks, ckpt)
        history, ctx.step = st["history"], st["step"]
        first_loss = st.get("first_loss", first_loss)
    eval_every = optim.eval_every or max(1, optim.epochs // 10)
    stop = optim.epochs if until is None else min(until, optim.epochs)
    for epoch in range(len(history), stop):
        ctx.epoch = epoch
        strategy.on_epoch_start(ctx)
        desc = f"{label} ep {epoch + 1}/{optim.epochs}"
        bar = lambda it, d=desc: tqdm(it, desc=d, leave=False, disable=not progress)  # noqa: E731
        limit = EXPLODE * first_loss if first_loss else math.inf
        try:
            numbers = train_epoch(step_model, loader, strategy, opt, sched, ctx, optim, bar, limit, ranks)
            first_loss = first_loss or numbers["first_loss"]
            due = (epoch + 1) % eval_every == 0 or epoch + 1 == stop
            errors = evaluate_errors(model, sets, device) if due and ranks.main else {}
            record = _record(epoch + 1, numbers, errors, list(sets))
            record.update(strategy.on_epoch_end(ctx))
            agree_finite(model, epoch + 1, ranks, device)  # nothing non-finite ever reaches a checkpoint
        except TrainingDiverged as e:
            kept = f"kept the last good checkpoint, {ckpt}" if ckpt.exists() else "no checkpoint was written"
            raise TrainingDiverged(f"{e} ({kept})") from None
        history.append(record)
        extra = {"history": history, "step": ctx.step, "first_loss": first_loss}
        if ranks.active:  # gathered on every rank (a collective), written by rank 0
            extra.update(world_size=ranks.world, rank_states=ranks.gather(rank_state(model, strategy, gens)))
        if ranks.main:
            atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            save_checkpoint(ckpt, parts, gens, extra)
        if progress and ranks.main:
            tqdm.write(_progress_line(label, record, optim.epochs))
    return history


def _progress_line(label: str, r: dict, epochs: int) -> str:
    te, ve = r.get("test_error"), r.get("val_error")
    return (
        f"[{label}] epoch {r['epoch']}/{epochs} loss {r['train_loss']:.4f}"
        + (f" val error {100 * ve:.2f}%" if ve is not None else "")
        + (f" test error {100 * te:.2f}%" if te is not None else "")
        + f" ({r['epoch_seconds']:.1f}s)"
    )
