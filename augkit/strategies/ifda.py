"""IF-DA, augmentation learned through influence functions (Lee, Park, Pham & Yoo, CVPR 2020).

Strategy ``if-da``: ``setup`` runs (or resumes) stages 0-3 of :mod:`augkit.ifda.stages` on
``ctx.data`` under ``<run dir>/ifda/`` (train F with the baseline, RaGAN-pretrain E/G, compute
s_val, train E/G on I_aug); the run's own training loop is stage 4, retraining F from scratch:
``make_batch`` applies the baseline augmentation (pad-crop + flip by default, "on top of the
baseline" as in §5.2) and then E/G with dropout on tau kept for diversity (§4.3), without
gradients.  ``prob`` < 1 transforms only that fraction of each batch (the paper transforms all).

Options: ``tau`` (128; the paper's ablation 32/64/128/256), ``mode`` combined|spatial|appearance
(grey images are spatial only, §4.2), ``combine`` parallel|series, ``pretrain`` gan|identity|none,
``f_epochs`` (0 = the run's epochs), ``gan_epochs``, ``eg_epochs``, ``solver`` exact|cg|lissa,
``damping``, ``val`` (hyper-validation fraction carved from training when the data has none),
``lr_gan``, ``lr_eg``,
``trust`` (stage-3 trust region, see ifda/stages.py), ``dropout``, ``width``, ``prob``, and the
base options ``base``/``fill``.

Before ``setup`` (galleries are drawn from an unset strategy) ``preview`` shows the baseline only.
At the end of ``setup`` the strategy saves ``ifda/figures.pt`` (Fig. 3 and Fig. 4 tensors) for
:mod:`augkit.report.fig_ifda`.  ``search(cfg_dict, out_dir)`` runs stages 0-3 standalone.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import transforms
from ..ifda.stages import IFDAOptions, run_stages
from ..ifda.transforms import AugNet, dropout_tau
from ..io import atomic_write_bytes
from .base import Context, Strategy
from .spec import BASE_OPTIONS, StrategyDef, base_augments

__all__ = ["IFDAStrategy", "STRATEGY_DEFS", "figure_tensors", "search"]


class IFDAStrategy(Strategy):
    name = "if-da"

    def __init__(self, opts: IFDAOptions) -> None:
        self.opts = opts
        self.base = transforms.Compose(
            base_augments({"base": opts.base, "padding": opts.padding, "fill": opts.fill})
        )
        self.aug: AugNet | None = None
        self.costs: dict = {}

    def setup(self, ctx: Context) -> None:
        if ctx.data is None:
            raise ValueError("if-da needs ctx.data (an ImageDataset) to run its stages")
        root = Path(ctx.out_dir) if ctx.out_dir is not None else Path(tempfile.mkdtemp(prefix="ifda-"))
        res = run_stages(ctx.data, ctx.config, self.opts, root / "ifda", device=ctx.device)
        self.aug = res.aug.to(ctx.device).eval()
        for p in self.aug.parameters():
            p.requires_grad_(False)
        self.costs = res.costs
        x = res.val_x[:1] if res.val_x.shape[0] else ctx.data.train_x[:1]
        seed = int(ctx.config.get("seed", 0)) if ctx.config else 0
        save_figure_tensors(self.aug, x.to(ctx.device), root / "ifda" / "figures.pt", seed)

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        xb = self.base(x, generator=ctx.aug_generator)
        if self.aug is None:
            return xb
        xf = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb
        with torch.no_grad():
            out = self.aug(xf, generator=ctx.aug_generator)
        if self.opts.prob < 1.0:
            from .. import sample

            keep = sample.rand((x.shape[0],), ctx.aug_generator, x.device) >= self.opts.prob
            out = torch.where(keep.view(-1, 1, 1, 1), xf, out)
        return out

    def on_epoch_end(self, ctx: Context) -> dict:
        if ctx.epoch == 0 and self.costs:  # stage costs once, next to the run's own epoch times
            return {f"ifda_{k}_cpu_min": v["cpu_minutes"] for k, v in self.costs.items()}
        return {}


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


def save_figure_tensors(aug: AugNet, x: Tensor, path: Path, seed: int = 0) -> None:
    buf = io.BytesIO()
    torch.save(figure_tensors(aug, x, seed), buf)
    atomic_write_bytes(path, buf.getvalue())


def search(cfg_dict: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Run stages 0-3 standalone (``augkit search if-da``); returns the costs summary.

    ``cfg_dict`` is a TrainConfig dict; its ``strategy`` (``if-da:...``) supplies the options
    (another strategy name means the defaults).  Artefacts go to ``<out_dir>/ifda/``.
    """
    from ..strategies.registry import parse_strategy
    from ..train import TrainConfig, prepare_data

    cfg = TrainConfig.from_dict(cfg_dict)
    name, opts = parse_strategy(cfg.strategy)
    ifda_opts = IFDAOptions.from_dict(opts if name == "if-da" else {})
    ds = prepare_data(cfg)
    root = Path(out_dir)
    res = run_stages(ds, dataclasses.asdict(cfg), ifda_opts, root / "ifda", device=cfg.device)
    x = res.val_x[:1] if res.val_x.shape[0] else ds.train_x[:1]
    save_figure_tensors(res.aug, x.to(cfg.device), root / "ifda" / "figures.pt", cfg.seed)
    return json.loads((root / "ifda" / "costs.json").read_text())


def _build(o: dict[str, Any]) -> Strategy:
    return IFDAStrategy(IFDAOptions.from_dict(o))


_D = IFDAOptions()
STRATEGY_DEFS: dict[str, StrategyDef] = {
    "if-da": StrategyDef(
        _build,
        {
            "tau": (int, _D.tau),
            "mode": (str, _D.mode),
            "combine": (str, _D.combine),
            "pretrain": (str, _D.pretrain),
            "f_epochs": (int, _D.f_epochs),
            "gan_epochs": (int, _D.gan_epochs),
            "eg_epochs": (int, _D.eg_epochs),
            "solver": (str, _D.solver),
            "damping": (float, _D.damping),
            "val": (float, _D.val),
            "lr_gan": (float, _D.lr_gan),
            "lr_eg": (float, _D.lr_eg),
            "trust": (float, _D.trust),
            "dropout": (float, _D.dropout),
            "width": (int, _D.width),
            "prob": (float, _D.prob),
            "padding": (int, _D.padding),
            **BASE_OPTIONS,
        },
        "IF-DA (Lee et al. 2020): E/G learned via influence functions, on top of the base pipeline",
    )
}
