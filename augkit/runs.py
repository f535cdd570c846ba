"""One training run, wired: options -> data, model, strategy (+ search artefact) -> ``fit`` -> final metrics.

This is the only module that turns a :class:`TrainConfig` (the flat options of ``augkit
train``) into built objects; ``train.fit`` below it knows nothing of strategy names, and
``experiment.compare`` above it only loops over runs.  ``evaluate_checkpoint`` rebuilds a run
from its directory for ``augkit evaluate``.

Under ``torchrun`` (:mod:`augkit.distributed`) ``train_run`` trains the one run on every launched
process: :func:`check_distributed` refuses what a launch cannot train before anything is written,
each rank gets its device, augmentation stream and loader shard, and rank 0 alone writes and runs
the final battery while the others wait at a barrier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from . import data as _data
from .data.files import BAD_FILES, LOADERS, STREAM_ABOVE_BYTES, FileImages
from .data.stream import StreamLoader
from .distributed import Launch, check_launch, launch_env, rank_device, session
from .evaluation_suite import final_metrics
from .io import atomic_write_text, load_torch
from .models import build_model
from .rundir import refuse_changed
from .search import run_strategy_search
from .strategies import STRATEGIES, Strategy, build_strategy, has_search, parse_strategy
from .train import CHECKPOINT, SCHEDULES, OptimConfig, fit, streams

__all__ = [
    "TRAIN_HELP",
    "TrainConfig",
    "auto_epochs",
    "run_model",
    "budget",
    "check_distributed",
    "check_loader",
    "evaluate_checkpoint",
    "optim_config",
    "prepare_data",
    "resolve",
    "run_loader",
    "train_run",
    "with_added_defaults",
]


# flag help: what each option is and its unit (the CLI adds the default)
TRAIN_HELP: dict[str, str] = {
    "dataset": "dataset name (fashion-mnist, mnist, cifar10, svhn, digits, folder with --data-dir PATH)",
    "data_dir": "directory holding the dataset files (default: the standard places)",
    "subset": "training images: 0 = all, a fraction in (0, 1), or a count >= 1 (class-balanced)",
    "val": "validation images held out of training before the subset: a fraction, a count, 0 = none, "
    "or auto = 10 %% of the training set, at most 1,000 (decides convergence; the test set decides nothing)",
    "subset_seed": "seed of the subset and validation draws (the same data for every strategy)",
    "test_subset": "test images: 0 = the whole test set, else a fraction or a count (class-balanced)",
    "model": "model architecture (small_cnn, resnet20, preact_resnet18, wrn_28_10, ...)",
    "strategy": "strategy spec: name or name:key=value,... (see the strategy list in README)",
    "seed": "run seed: the data-order, augmentation and init streams derive from it",
    "epochs": "passes over the training set, or auto: at least 200,000 images seen, 1,000 optimizer steps "
    "and 30 epochs (at most 3,000 epochs), so small sets train long enough to converge",
    "batch_size": "images per optimizer step",
    "lr": "peak SGD learning rate",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum (true/false)",
    "weight_decay": "L2 weight decay on weights (biases and norm parameters exempt)",
    "schedule": f"learning-rate schedule, per step: {', '.join(SCHEDULES)}",
    "warmup_epochs": "linear learning-rate warm-up, in epochs",
    "label_smoothing": "label-smoothing epsilon in [0, 1)",
    "device": "cpu, cuda or cuda:N",
    "amp": "bfloat16 autocast on CUDA (true/false)",
    "channels_last": "channels_last memory format (true/false)",
    "eval_every": "evaluate every N epochs; 0 = about ten evaluations per run",
    "fgsm_eps": "FGSM / I-FGSM radius in pixels on the 0-255 scale",
    "ifgsm_steps": "I-FGSM iterations",
    "adv_images": "test images attacked by FGSM / I-FGSM (a count)",
    "tta_policy_views": "test-time views drawn from the strategy's own transform (a count)",
    "threads": "CPU threads for torch; 0 = torch's default",
    "loader": "training-set loader: tensor = every image decoded once into one in-memory tensor; "
    "stream = worker processes decode the image files every epoch (image folders only; val and test "
    f"stay decoded in memory); auto = stream a folder whose decoded size exceeds {STREAM_ABOVE_BYTES >> 30} "
    "GiB, else tensor. Both give the same batches and results",
    "bad_files": "unreadable image files in a folder (missing, not an image, truncated): error = stop, "
    "naming the first; skip = leave them out before the split, counted on stderr and in final.json",
    "loader_workers": "decode processes of the stream loader and of its folder check "
    "(0 = in the training process); results do not depend on it",
}


def _size(v: Any) -> bool:
    """0, a count (int, or an integral float >= 2 from older configs) or a fraction in (0, 1)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    return v == 0 or (isinstance(v, int) and v >= 1) or 0 < v < 1 or (v >= 2 and float(v).is_integer())


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_TYPE_OK = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _num,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "epochs": lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "size": _size,
    "size_or_auto": lambda v: v == "auto" or _size(v),
}
_SIZE_TEXT = "0, a count (a whole number such as 1000) or a fraction in (0, 1) such as 0.1"
_TYPE_TEXT = {
    "int": "an int",
    "float": "a finite number",
    "bool": "true or false",
    "str": "a string",
    "str | None": "a string",
    "epochs": "a positive int or 'auto'",
    "size": _SIZE_TEXT,
    "size_or_auto": _SIZE_TEXT + ", or 'auto'",
}
_KIND = {"epochs": "epochs", "subset": "size", "test_subset": "size", "val": "size_or_auto"}
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "batch_size": (lambda c: c.batch_size >= 1, ">= 1"),
    "lr": (lambda c: c.lr > 0, "> 0"),
    "momentum": (lambda c: 0 <= c.momentum < 1, "in [0, 1)"),
    "weight_decay": (lambda c: c.weight_decay >= 0, ">= 0"),
    "label_smoothing": (lambda c: 0 <= c.label_smoothing < 1, "in [0, 1)"),
    "warmup_epochs": (lambda c: c.warmup_epochs >= 0 and (c.epochs == "auto" or c.warmup_epochs <= c.epochs),
                      ">= 0 and at most epochs"),  # fmt: skip
    "eval_every": (lambda c: c.eval_every >= 0, ">= 0"),
    "fgsm_eps": (lambda c: c.fgsm_eps >= 0, ">= 0 (pixels on the 0-255 scale)"),
    "ifgsm_steps": (lambda c: c.ifgsm_steps >= 1, ">= 1"),
    "adv_images": (lambda c: c.adv_images >= 1, ">= 1 (test images attacked)"),
    "tta_policy_views": (lambda c: c.tta_policy_views >= 0, ">= 0"),
    "threads": (lambda c: c.threads >= 0, ">= 0 (0 = torch's default)"),
    "schedule": (lambda c: c.schedule in SCHEDULES, f"one of {sorted(SCHEDULES)}"),
    "device": (lambda c: c.device in ("cpu", "cuda") or c.device.startswith("cuda:"), "cpu, cuda or cuda:N"),
    "strategy": (lambda c: 0 < len(c.strategy) <= 1000, "a strategy spec of 1 to 1,000 characters"),
    "loader": (lambda c: c.loader in LOADERS, f"one of {list(LOADERS)}"),
    "bad_files": (lambda c: c.bad_files in BAD_FILES, f"one of {list(BAD_FILES)}"),
    "loader_workers": (lambda c: c.loader_workers >= 0, ">= 0 (0 = decode in the training process)"),
}


def check_device(device: str) -> None:
    """Refuse a CUDA device on a machine without one, before any work (``--device``)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


_LOOP = OptimConfig()


@dataclass
class TrainConfig:
    """Every option of one run; ``augkit train`` maps its flags one to one onto these fields."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    subset: int | float = 0.0
    val: int | float | str = 0.0
    subset_seed: int = 0
    test_subset: int | float = 0.0
    model: str = "small_cnn"
    strategy: str = "standard"
    seed: int = 0
    # the loop's options: defaults come from OptimConfig, the one place they are set
    epochs: int | str = _LOOP.epochs
    batch_size: int = _LOOP.batch_size
    lr: float = _LOOP.lr
    momentum: float = _LOOP.momentum
    nesterov: bool = _LOOP.nesterov
    weight_decay: float = _LOOP.weight_decay
    schedule: str = _LOOP.schedule
    warmup_epochs: float = _LOOP.warmup_epochs
    label_smoothing: float = _LOOP.label_smoothing
    device: str = _LOOP.device
    amp: bool = _LOOP.amp
    channels_last: bool = _LOOP.channels_last
    eval_every: int = _LOOP.eval_every
    fgsm_eps: float = 4.0
    ifgsm_steps: int = 10
    adv_images: int = 2000
    tta_policy_views: int = 4
    threads: int = 0
    loader: str = "auto"
    bad_files: str = "error"
    loader_workers: int = 2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _KIND[f.name] if f.name in _KIND else str(f.type)
            if not _TYPE_OK[kind](value):
                raise ValueError(f"{f.name} must be {_TYPE_TEXT[kind]}, got {value!r}")
        for name, (ok, expected) in _RANGES.items():
            if not ok(self):
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**d)


AUTO_MIN_IMAGES, AUTO_MIN_STEPS, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS = 200_000, 1000, 30, 3000


def auto_epochs(n_train: int, batch_size: int) -> int:
    """``--epochs auto``: at least ``AUTO_MIN_IMAGES`` images seen, ``AUTO_MIN_STEPS`` steps, 30 epochs.

    Measured on 1,000 Fashion-MNIST images (docs/RESULTS.md): 100 epochs (96,000 images, 1,500
    steps of 64) left standard and TrivialAugment still improving on the validation split, while
    200 epochs (200,000 images, 1,400 steps of 128) gave flat validation curves for none, standard,
    TrivialAugment and AutoAugment.  Large sets get 30 epochs; tiny ones thousands of steps.
    """
    steps = n_train // batch_size if n_train > batch_size else 1  # the loader drops a ragged batch
    by_images = math.ceil(AUTO_MIN_IMAGES / max(1, n_train))
    return min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_MIN_STEPS / steps), by_images))


def budget(cfg: TrainConfig, n_train: int) -> dict[str, int]:
    """The run's training budget as the report states it: epochs, steps and images seen."""
    epochs = auto_epochs(n_train, cfg.batch_size) if cfg.epochs == "auto" else int(cfg.epochs)
    per = n_train // cfg.batch_size if n_train > cfg.batch_size else 1
    batch = min(n_train, cfg.batch_size)  # a set smaller than one batch trains as one batch
    return {"epochs": epochs, "steps_per_epoch": per, "steps": per * epochs, "batch_size": batch,
            "images_seen": per * epochs * batch}  # fmt: skip


def resolve(cfg: TrainConfig, ds: _data.ImageDataset) -> TrainConfig:
    """``epochs="auto"`` replaced by the epochs :func:`auto_epochs` gives for the prepared data."""
    if cfg.epochs != "auto":
        return cfg
    return replace(cfg, epochs=auto_epochs(int(ds.train_x.shape[0]), cfg.batch_size))


def optim_config(cfg: TrainConfig) -> OptimConfig:
    """The loop's share of the run options."""
    return OptimConfig.from_options(asdict(cfg))


def prepare_data(cfg: TrainConfig) -> _data.ImageDataset:
    c = cfg
    return _data.prepare_data(
        c.dataset, c.data_dir, c.subset, c.val, c.subset_seed, c.test_subset, c.loader, c.bad_files,
        c.loader_workers,
    )  # fmt: skip


def check_loader(cfg: TrainConfig, ds: _data.ImageDataset) -> None:
    """Refuse a streamed training set for a strategy whose pre-training stage needs it in memory."""
    if isinstance(ds.train_x, FileImages) and has_search(cfg.strategy):
        raise ValueError(
            f"--loader {cfg.loader}: strategy {cfg.strategy!r} runs a pre-training stage over the whole "
            f"training set in memory, which this run streams from files ({ds.train_x.shape[0]} images); "
            "use --loader tensor"
        )


def check_distributed(cfg: TrainConfig, ds: _data.ImageDataset, launch: Launch | None) -> None:
    """Refuse a torchrun launch this run cannot use (batch split, GPUs, strategy), naming the argument."""
    if launch is None:
        return
    check_launch(launch, cfg.batch_size, cfg.device)
    n = int(ds.train_x.shape[0])
    if n < cfg.batch_size:
        raise ValueError(
            f"--batch-size {cfg.batch_size} exceeds the {n} training images: under torchrun every one of the "
            f"{launch.world} processes needs its share of a full global batch; lower --batch-size"
        )
    name = parse_strategy(cfg.strategy)[0]
    d = STRATEGIES[name]
    why = d.ddp_refusal or (d.search and "its pre-training stage would run on every rank into one run folder")
    if why:
        raise ValueError(f"--strategy {cfg.strategy!r} cannot train under torchrun: {why}; "
                         "train it in one process")  # fmt: skip


def run_loader(
    cfg: TrainConfig, ds: _data.ImageDataset, generator: torch.Generator, shard: tuple[int, int] = (0, 1)
) -> StreamLoader | None:
    """The training loader of a streamed run; None = ``fit``'s tensor loader (same batches either way)."""
    if not isinstance(ds.train_x, FileImages):
        return None
    o, n = optim_config(cfg), ds.train_x.shape[0]
    return StreamLoader(
        ds.train_x, ds.train_y, o.batch_size, shuffle=True, generator=generator,
        drop_last=o.drop_last and n > o.batch_size, device=o.device, workers=cfg.loader_workers, shard=shard,
    )  # fmt: skip


def run_model(cfg: TrainConfig, ds: _data.ImageDataset, generator: torch.Generator) -> torch.nn.Module:
    c = ds.image_shape[0]
    return build_model(cfg.model, c, ds.num_classes, ds.mean(), ds.std(), generator=generator).to(cfg.device)


def build_run_strategy(cfg: TrainConfig, ds: _data.ImageDataset, out: Path, progress: bool) -> Strategy:
    """Build the strategy; a strategy that consumes a search artefact (IF-DA) gets it here."""
    strategy = build_strategy(cfg.strategy)
    run_strategy_search(cfg.strategy, strategy, ds, out, asdict(cfg), fit=fit, progress=progress)
    return strategy


# options a resumed run may change: they alter no trained weight (threads: the same bits on CPU,
# tested; data_dir: where the same files live; loader, loader_workers: the same batches, tested;
# the rest only set the final evaluation battery)
RESUME_FREE = ("threads", "data_dir", "fgsm_eps", "ifgsm_steps", "adv_images", "tta_policy_views",
               "loader", "loader_workers")  # fmt: skip
# options added after runs were stored: a stored config without one was run with its default
ADDED_KEYS = ("loader", "bad_files", "loader_workers")


def with_added_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the defaults of the options it predates (``ADDED_KEYS``)."""
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name in ADDED_KEYS}
    return {**defaults, **stored}


def check_same_run(stored: dict[str, Any], requested: dict[str, Any], out: Path) -> None:
    """Refuse to resume ``out`` under options that change results, naming every such key."""
    refuse_changed(with_added_defaults(stored), requested, RESUME_FREE, out)


def train_run(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    dataset: _data.ImageDataset | None = None,
    final_eval: bool = True,
    until: int | None = None,
) -> dict[str, Any]:
    """Train one strategy with one seed; write config, metrics, checkpoint and final metrics.

    ``until`` stops after that epoch (see :func:`augkit.train.fit`); no final evaluation then.
    Launched by torchrun, every process calls this and trains its share (module docstring).
    """
    out = Path(out_dir)
    launch = launch_env()
    check_device(cfg.device)
    if launch is None or launch.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ds = dataset if dataset is not None else prepare_data(cfg)
    check_loader(cfg, ds)
    check_distributed(cfg, ds, launch)
    cfg = resolve(cfg, ds)
    if resume and (out / "config.json").is_file():  # before anything is written
        check_same_run(json.loads((out / "config.json").read_text()), asdict(cfg), out)
    with session(launch, cfg.device) as ranks:  # every rank has read what it checks: rank 0 may write
        rcfg = replace(cfg, device=rank_device(cfg.device, launch))  # config.json keeps --device as given
        gens = streams(cfg.seed, ranks.rank)
        model = run_model(rcfg, ds, gens["init"])
        strategy = build_run_strategy(cfg, ds, out, progress)
        if ranks.main:
            atomic_write_text(out / "config.json", json.dumps(asdict(cfg), indent=1))
        label = f"{cfg.strategy} s{cfg.seed}"
        history = fit(
            model, ds, strategy, optim_config(rcfg), out, gens=gens, config=asdict(rcfg), resume=resume,
            progress=progress and ranks.main, label=label, until=until,
            loader=run_loader(rcfg, ds, gens["data"], (ranks.rank, ranks.world)), ranks=ranks,
        )  # fmt: skip
        if not final_eval or (until is not None and len(history) < cfg.epochs):
            return {"history": history}
        final = {"history": history}
        if ranks.main:
            final = _final(model, ds, strategy, rcfg, history, out, ranks.world)
        ranks.barrier()  # the others wait for rank 0's battery and final.json
    return final


def _final(model, ds, strategy, cfg: TrainConfig, history, out: Path, world: int) -> dict[str, Any]:  # noqa: ANN001
    """The end-of-run battery, written to ``final.json`` (rank 0 of a launch)."""
    final = final_metrics(model, ds, strategy, cfg, history)
    if ds.skipped:  # --bad-files skip: never silent (also printed when the folder was read)
        final["skipped_files"] = len(ds.skipped)
    if world > 1:
        final["world_size"] = world
    atomic_write_text(out / "final.json", json.dumps(final, indent=1))
    return final


def evaluate_checkpoint(path: str | Path) -> dict[str, Any]:
    """Rebuild a run from its ``config.json`` and ``checkpoint.pt`` and evaluate it afresh."""
    p = Path(path)
    run_dir = p if p.is_dir() else p.parent
    ckpt = p if p.is_file() else p / CHECKPOINT
    for needed in (run_dir / "config.json", ckpt):
        if not needed.exists():
            raise FileNotFoundError(
                f"{needed} not found: evaluate needs a run directory with config.json and "
                f"checkpoint.pt (written by augkit train/compare)"
            )
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    ds = prepare_data(cfg)
    model = run_model(cfg, ds, torch.Generator().manual_seed(0))
    state = load_torch(ckpt, map_location=cfg.device)
    model.load_state_dict(state["model"])
    strategy = build_strategy(cfg.strategy)  # the final battery reads only its test-time transform
    return final_metrics(model, ds, strategy, cfg, state["history"])
