"""IF-DA, augmentation learned through influence functions (Lee, Park, Pham & Yoo, CVPR 2020).

Strategy ``if-da`` declares the search :func:`augkit.search.ifda.search` (stages 0-3: train F
with the baseline, RaGAN-pretrain E/G, compute s_val, train E/G on I_aug, cached under
``<run dir>/ifda/``); the experiment layer runs it and hands the artefact to
:meth:`IFDAStrategy.load_artefact`.  The run's own training loop is stage 4, retraining F from
scratch: ``make_batch`` applies the baseline augmentation (pad-crop + flip by default, "on top
of the baseline" as in §5.2) and then E/G with dropout on tau kept for diversity (§4.3),
without gradients.  ``prob`` < 1 transforms only that fraction of each batch (the paper
transforms all).

Options: ``tau`` (128; the paper's ablation 32/64/128/256), ``mode`` combined|spatial|appearance
(grey images are spatial only, §4.2), ``combine`` parallel|series, ``pretrain`` gan|identity|none,
``f_epochs`` (0 = the run's epochs), ``gan_epochs``, ``eg_epochs``, ``solver`` exact|cg|lissa,
``damping``, ``val`` (hyper-validation fraction carved from training when the data has none),
``lr_gan``, ``lr_eg``, ``trust`` (stage-3 trust region, see ifda/stages.py), ``dropout``,
``width``, ``prob``, and the base options ``base``/``fill``.

Before it has its artefact (galleries are drawn from an unset strategy) ``preview`` shows the
baseline only; training without it is refused at ``setup``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import sample
from ..ifda.stages import IFDAOptions
from ..ifda.transforms import AugNet
from .base import Context, Strategy
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline

__all__ = ["IFDAStrategy", "STRATEGY_DEFS"]


class IFDAStrategy(Strategy):
    name = "if-da"

    def __init__(self, opts: IFDAOptions) -> None:
        self.opts = opts
        self.base = base_pipeline({"base": opts.base, "padding": opts.padding, "fill": opts.fill})
        self.aug: AugNet | None = None
        self.costs: dict = {}

    def load_artefact(self, artefact: Any) -> None:
        """Take the search's learned E/G (``augkit.search.ifda.IFDAArtefact``), frozen."""
        self.aug = artefact.aug.eval()
        for p in self.aug.parameters():
            p.requires_grad_(False)
        self.costs = artefact.costs

    def setup(self, ctx: Context) -> None:
        if self.aug is None:
            raise ValueError(
                "if-da trains with the E/G its search learns: run it through augkit train/compare, or "
                "call load_artefact(augkit.search.ifda.search(...)) before training"
            )
        self.aug = self.aug.to(ctx.device)

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        xb = self.base(x, generator=ctx.aug_generator)
        if self.aug is None:
            return xb
        xf = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb
        with torch.no_grad():
            out = self.aug(xf, generator=ctx.aug_generator)
        if self.opts.prob < 1.0:
            keep = sample.rand((x.shape[0],), ctx.aug_generator, x.device) >= self.opts.prob
            out = torch.where(keep.view(-1, 1, 1, 1), xf, out)
        return out

    def on_epoch_end(self, ctx: Context) -> dict:
        if ctx.epoch == 0 and self.costs:  # stage costs once, next to the run's own epoch times
            return {f"ifda_{k}_cpu_min": v["cpu_minutes"] for k, v in self.costs.items()}
        return {}


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
        search="augkit.search.ifda:search",
        figures="augkit.report.fig_ifda:figures",
        artefacts=("ifda/figures.pt", "ifda/costs.json"),
    )
}
