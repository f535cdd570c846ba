"""IF-DA as a search (Lee et al., CVPR 2020): stages 0-3 learn the E/G that the ``if-da`` strategy applies.

    0_classifier   train F with the baseline through ``fit`` (the project's one loop)
    1_pretrain_g   RaGAN pretraining of E and G to mimic the baseline (or identity / none)
    2_ihvp         s_val = (H + lambda I)^-1 grad_theta L(z_val), theta = F's last FC layer
    3_train_eg     train E and G to minimise I_aug
    (4)            the run itself retrains F from scratch with baseline + E/G samples

The method's choices are stated in :mod:`augkit.ifda.stages`.  Each stage is cached under
``<out_dir>/`` by its options (:mod:`augkit.search.cache`); stage 0 also resumes mid-way from its
own checkpoint.  ``costs.json`` sums the stage costs and ``figures.pt`` holds the Fig. 3 / Fig. 4
tensors for :mod:`augkit.report.fig_ifda`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data import ImageDataset
from ..ifda.gan import gan_pretrain, identity_pretrain
from ..ifda.stages import IFDAOptions, influence_vector, split_validation, train_eg
from ..ifda.transforms import AugNet, dropout_tau
from ..io import atomic_save_torch, atomic_write_text
from ..models import build_model
from ..strategies.base import TransformStrategy
from ..strategies.spec import base_pipeline
from ..train import OptimConfig
from .cache import cached_stage

__all__ = ["IFDAArtefact", "figure_tensors", "run_stages", "search"]

RUN_DEFAULTS = {"model": "small_cnn", "seed": 0, "subset_seed": 0}  # as TrainConfig's, for library callers
DIRNAME = "ifda"  # the artefacts of a run's search live in <run dir>/ifda/
FIGURES = "figures.pt"


@dataclass
class IFDAArtefact:
    """What the search hands the strategy (and ``augkit search`` prints: ``summary``)."""

    aug: AugNet
    classifier: nn.Module
    s_val: Tensor
    costs: dict[str, dict]
    val_x: Tensor
    dir: Path
    summary: dict


def _baseline(opts: IFDAOptions):
    return base_pipeline({"base": opts.base, "padding": opts.padding, "fill": opts.fill})


def _stage0_fit(
    fit: Callable, model: nn.Module, ds: ImageDataset, split: tuple, cfg: dict, epochs: int,
    base, g: torch.Generator, device: torch.device, d: Path,
) -> None:
    """Train F with the baseline through the one loop, resuming its own checkpoint if the key matches."""
    tx, ty, vx, vy = split
    stage_ds = ImageDataset(ds.name, tx, ty, vx[:0], vy[:0], ds.classes, val_x=vx, val_y=vy)
    # the run's loop options (schedule, warmup, label smoothing, amp, layout) with the stage's budget
    base_optim = OptimConfig.from_options(cfg)
    optim = replace(base_optim, epochs=epochs, device=str(device), eval_every=epochs, drop_last=False)
    strategy = TransformStrategy("if-da-baseline", base)
    fit(model, stage_ds, strategy, optim, d, gens={"data": g, "aug": g}, config=cfg,
        resume=(d / "checkpoint.pt").exists(), evals={"val": (vx, vy)}, label="if-da stage 0")  # fmt: skip


def run_stages(
    ds: ImageDataset,
    cfg: dict[str, Any],
    opts: IFDAOptions,
    out_dir: str | Path,
    device: torch.device | str = "cpu",
    fit: Callable | None = None,
) -> IFDAArtefact:
    """Run (or resume) stages 0-3 on ``ds`` and return the learned E/G, F, s_val and costs.

    ``cfg`` holds the run options F is trained with (model, batch_size, lr, momentum, nesterov,
    weight_decay, epochs, seed, subset_seed); ``fit`` is the training loop (default ``train.fit``).
    """
    if fit is None:
        from ..train import fit
    cfg = {**asdict(OptimConfig()), **RUN_DEFAULTS, **cfg}
    device = torch.device(device)
    root = Path(out_dir)
    seed = int(cfg["seed"])
    gen = lambda k: torch.Generator().manual_seed(seed * 7919 + 104729 * k + 17)  # noqa: E731
    split = split_validation(ds, opts.val, int(cfg.get("subset_seed", 0)))
    tx, ty, vx, vy = split
    C, H, W = ds.image_shape
    base = _baseline(opts)
    f_epochs = opts.f_epochs or int(cfg["epochs"])
    data_key = [list(tx.shape), int(tx.sum()), int(ty.sum()), list(vx.shape), int(vx.sum())]
    train_keys = ("model", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "seed")
    k0 = {"data": data_key, **{k: cfg[k] for k in train_keys}, "f_epochs": f_epochs,
          "base": [opts.base, opts.padding, opts.fill]}  # fmt: skip

    def make_model() -> nn.Module:
        return build_model(cfg["model"], C, ds.num_classes, ds.mean(), ds.std(), generator=gen(0)).to(device)

    def stage0(d: Path) -> dict:
        key_file, ckpt = d / "key.json", d / "checkpoint.pt"
        if ckpt.exists() and (not key_file.exists() or json.loads(key_file.read_text()) != k0):
            ckpt.unlink()  # a stage 0 of other options: start again
        atomic_write_text(key_file, json.dumps(k0))
        model = make_model()
        _stage0_fit(fit, model, ds, split, cfg, f_epochs, base, gen(1), device, d)
        return {"model": model.state_dict()}

    art0, c0 = cached_stage(root, "0_classifier", k0, stage0, device)
    model = make_model()
    model.load_state_dict(art0["model"])
    model.eval()

    net_keys = ("tau", "mode", "combine", "width", "dropout", "pretrain", "gan_epochs", "lr_gan")
    k1 = {"prev": k0, **{k: getattr(opts, k) for k in net_keys}}

    def make_aug() -> AugNet:
        return AugNet(C, (H, W), generator=gen(2), tau_dim=opts.tau, mode=opts.mode, combine=opts.combine,
                      width=opts.width, dropout=opts.dropout).to(device)  # fmt: skip

    def stage1(d: Path) -> dict:
        aug, hist = make_aug(), []
        bs = cfg["batch_size"]
        if opts.pretrain == "gan":
            hist = gan_pretrain(aug, model, tx, lambda t, g: base(t, generator=g), epochs=opts.gan_epochs,
                                batch_size=bs, generator=gen(3), lr=opts.lr_gan, device=device)  # fmt: skip
        elif opts.pretrain == "identity":
            steps = max(1, opts.gan_epochs * math.ceil(tx.shape[0] / bs))
            hist = identity_pretrain(aug, tx, steps=steps, batch_size=bs, generator=gen(3), device=device)
        for p in model.parameters():
            p.requires_grad_(True)
        return {"aug": aug.state_dict(), "history": hist}

    art1, c1 = cached_stage(root, "1_pretrain_g", k1, stage1, device)
    k2 = {"prev": k0, "solver": opts.solver, "damping": opts.damping}
    l2 = float(cfg["weight_decay"])
    art2, c2 = cached_stage(
        root, "2_ihvp", k2, lambda d: influence_vector(model, tx, vx, vy, opts, l2, device, gen(4)), device
    )
    k3 = {"prev1": k1, "prev2": k2, "eg_epochs": opts.eg_epochs, "lr_eg": opts.lr_eg}
    if opts.trust:  # keys of earlier runs (trust 0) stay valid
        k3["trust"] = opts.trust

    def stage3(d: Path) -> dict:
        aug = make_aug()
        aug.load_state_dict(art1["aug"])
        hist = train_eg(aug, model, art2["s_val"], tx, ty, base, opts, cfg["batch_size"], gen(5), device)
        for p in model.parameters():
            p.requires_grad_(True)
        return {"aug": aug.state_dict(), "history": hist}

    art3, c3 = cached_stage(root, "3_train_eg", k3, stage3, device)
    aug = make_aug()
    aug.load_state_dict(art3["aug"])
    aug.eval()
    costs = {"0_classifier": c0, "1_pretrain_g": c1, "2_ihvp": c2, "3_train_eg": c3}
    total = {k: sum(c[k] for c in costs.values()) for k in ("wall_seconds", "cpu_minutes")}
    summary = {
        "stages": costs,
        "total": total,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "train_size": int(tx.shape[0]),
        "val_size": int(vx.shape[0]),
        "stage3_history": art3["history"],
        "val_loss_at_theta_hat": art2["val_loss"],
    }
    atomic_write_text(root / "costs.json", json.dumps(summary, indent=1))
    return IFDAArtefact(aug, model, art2["s_val"], costs, vx, root, summary)


def figure_tensors(aug: AugNet, x: Tensor, seed: int = 0, draws: int = 8, steps: int = 10) -> dict[str, Any]:
    """Fig. 3 (``draws`` dropout samples of one image) and Fig. 4 (``steps`` interpolated tau)."""
    g = torch.Generator().manual_seed(seed + 12345)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x
    with torch.no_grad():
        fig3 = aug(x.expand(draws, -1, -1, -1), generator=g)
        tau = aug.encode(x)  # series: tau_a read from the un-dropped warped image
        t0, t1 = dropout_tau(tau, aug.p, g), dropout_tau(tau, aug.p, g)
        w = torch.linspace(0, 1, steps, device=x.device).view(-1, 1)
        parts = aug.components(x.expand(steps, -1, -1, -1), tau=(1 - w) * t0 + w * t1)
    keep = ("flow", "spatial", "delta", "out")
    return {
        "image": x[0].cpu(),
        "fig3": fig3.cpu(),
        "fig4": {k: parts[k].cpu() for k in keep},
        "mode": aug.mode,
        "combine": aug.combine,
        "tau_dim": aug.tau_dim,
    }


def search(
    data: ImageDataset,
    fit: Callable,
    out_dir: str | Path,
    options: dict[str, Any],
    config: dict[str, Any],
    progress: bool = False,
) -> IFDAArtefact:
    """The ``if-da`` search entry point: stages 0-3 under ``<out_dir>/ifda/`` plus the figure tensors."""
    opts = IFDAOptions.from_dict(options)
    device = torch.device(config.get("device", "cpu"))
    root = Path(out_dir) / DIRNAME
    art = run_stages(data, config, opts, root, device=device, fit=fit)
    x = art.val_x[:1] if art.val_x.shape[0] else data.train_x[:1]
    figs = figure_tensors(art.aug, x.to(device), int(config.get("seed", 0)))
    atomic_save_torch(root / FIGURES, figs)
    return art
