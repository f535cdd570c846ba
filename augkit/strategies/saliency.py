"""Saliency-guided mixing strategies (issue 5): SaliencyMix, Attentive CutMix, PuzzleMix, Co-Mixup.

Each runs on top of the base pipeline (``base=standard``: pad-crop + flip, as the policy
strategies), then mixes the batch with partners drawn from ``ctx.aug_generator``; targets are
soft ``(B, K)`` rows with label smoothing folded in before mixing, so rows sum to 1.

- ``saliencymix`` (Uddin et al., ICLR 2021): spectral-residual saliency of the *source*
  (partner) image, a box of area ``(1 - lam)`` around its peak pasted at the same place;
  ``lam ~ Beta(alpha, alpha)``.  One box **per image** (the official code computes one saliency
  map and box for the whole batch from the first partner): with per-image boxes every pasted
  patch is centred on its own source's salient object, which is the method's premise; the
  batched spectral residual costs the same either way.  ``p`` = 0.5 is the probability an image
  is mixed (official CIFAR ``salmix_prob``).
- ``attentive-cutmix`` (Walawalkar et al., ICASSP 2020): the ``k = 6`` most attended cells of
  a ``7 x 7`` grid of the partner (channel mean of the last feature map of the model in
  training, or of a frozen model from ``checkpoint=PATH``) pasted into the image; ``p = 1``
  (the paper does not state a probability).
- ``puzzlemix`` (Kim, Choo & Song, ICML 2020): see :mod:`augkit.saliency.puzzlemix`; defaults are
  the official CIFAR ones (alpha 1, 3 labels, beta 1.2, gamma 0.5, eta 0.2, neigh 4, t_eps 0.8).
- ``comixup-simplified`` (Kim et al., ICLR 2021): see :mod:`augkit.saliency.comixup` for exactly
  what is simplified; defaults as the official CIFAR run (alpha 2, m_part 20, 4x4 blocks,
  beta 0.32, gamma 1, eta 0.05, thres 0.83).
- ``comixup`` (Kim et al., ICLR 2021): the full method, see :mod:`augkit.saliency.comixup_full`
  (alpha-beta swap solves with mixed labels, compatibility matrix, resolve step); defaults as
  the official CIFAR run (the above plus omega 1e-3, 4 outer iterations).

PuzzleMix and Co-Mixup need an input-gradient pass of the current model; it runs inside
``make_batch`` in eval mode with ``torch.autograd.grad`` w.r.t. the input only, so no parameter
keeps a ``.grad`` and the model's mode is restored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..io import load_torch
from ..mix.common import check_alpha, check_pair_batch, mix_targets, partners
from ..saliency import boxes, maps
from ..saliency.comixup import comixup
from ..saliency.comixup_full import comixup_full
from ..saliency.puzzlemix import block_candidates, puzzlemix
from ..sample import beta, rand, randint
from .base import Batch, Context, Strategy, one_hot
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, parse_bool

__all__ = ["STRATEGY_DEFS", "SaliencyMixing"]


class SaliencyMixing(Strategy):
    """Base pipeline, then a saliency-guided mix ``mix(x, targets, ctx) -> (x, targets)``."""

    def __init__(self, name: str, opts: dict[str, Any], mix: Callable) -> None:
        self.name, self.opts, self._mix = name, dict(opts), mix
        self.base = base_pipeline(opts)
        p = opts.get("p", 1.0)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        if "alpha" in opts:
            check_alpha(opts["alpha"])
        if "grid" in opts:  # Attentive CutMix: validated here, under the option's own name
            grid = opts["grid"]
            if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
                raise ValueError(f"grid must be an int >= 1 (cells per side), got {grid!r}")
            if not 0 <= opts.get("k", 0) <= grid * grid:
                raise ValueError(f"k must be an int in [0, {grid * grid}] for grid={grid}, got {opts['k']!r}")
        self.frozen: nn.Module | None = None
        self._ratio = float("nan")

    def setup(self, ctx: Context) -> None:
        path = self.opts.get("checkpoint", "")
        if path:  # Attentive CutMix with a given (pretrained) model of the run's architecture
            state = load_torch(path, map_location=ctx.device)  # tensors and plain containers only
            model = copy.deepcopy(ctx.model)
            model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
            self.frozen = model.eval().requires_grad_(False)

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        return self.base(x, generator=ctx.aug_generator)

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        check_pair_batch(x, y, ctx.num_classes)
        xb = self.augment(x, ctx)
        t = one_hot(y, ctx.num_classes, ctx.label_smoothing) if y.ndim == 1 else y.float()
        mixed, target = self._mix(self, xb, t, ctx)
        keep = rand((x.shape[0],), ctx.aug_generator, x.device) >= self.opts.get("p", 1.0)
        mixed = torch.where(keep.view(-1, 1, 1, 1), xb, mixed)
        target = torch.where(keep.view(-1, 1), t, target)
        self._ratio = float((target * t).sum(1).div(t.pow(2).sum(1)).mean())
        return Batch(mixed, target)

    def on_step_end(self, ctx: Context, stats: dict) -> dict:
        return {"own_label_share": self._ratio}  # mean weight of each image's own label

    def tta_transform(self):
        return self.base


def _saliencymix(s: SaliencyMixing, x: Tensor, t: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
    g, b = ctx.aug_generator, x.shape[0]
    index = partners(b, g, x.device)
    lam = beta((b,), s.opts["alpha"], s.opts["alpha"], g, x.device)
    sal = maps.spectral_residual(x)
    mixed, lam = boxes.paste(x, index, boxes.peak_box_mask(sal[index], lam))
    return mixed, mix_targets(t, index, lam)


def _attentive(s: SaliencyMixing, x: Tensor, t: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
    index = partners(x.shape[0], ctx.aug_generator, x.device)
    att = maps.feature_attention(s.frozen if s.frozen is not None else ctx.model, x, s.opts["grid"])
    mask = boxes.topk_grid_mask(att[index], s.opts["k"], x.shape[-2], x.shape[-1])
    mixed, lam = boxes.paste(x, index, mask)
    return mixed, mix_targets(t, index, lam)


def _grid(s: SaliencyMixing, x: Tensor, ctx: Context) -> int:
    if s.opts["blocks"]:
        return s.opts["blocks"]
    cands = block_candidates(x.shape[-2], x.shape[-1])
    return cands[int(randint(len(cands), (1,), ctx.aug_generator, "cpu"))]


def _puzzlemix(s: SaliencyMixing, x: Tensor, t: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
    g, b, o = ctx.aug_generator, x.shape[0], s.opts
    index = partners(b, g, x.device)
    lam = beta((b,), o["alpha"], o["alpha"], g, x.device)
    n = _grid(s, x, ctx)
    sal = maps.input_gradient_saliency(ctx.model, x, t)
    kw = {k: o[k] for k in ("beta", "gamma", "eta", "neigh", "n_labels")}
    mixed, ratio, _ = puzzlemix(x, sal, index, lam, n, do_transport=o["transport"], t_eps=o["t_eps"], **kw)
    return mixed, mix_targets(t, index, ratio)


def _comixup(s: SaliencyMixing, x: Tensor, t: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
    o = s.opts
    sal = maps.input_gradient_saliency(ctx.model, x, t)
    kw = {k: o[k] for k in ("m_part", "alpha", "beta", "gamma", "eta", "thres", "iters", "sweeps")}
    mixed, target, _ = comixup(x, t, sal, _grid(s, x, ctx), ctx.aug_generator, **kw)
    return mixed, target


def _comixup_full(s: SaliencyMixing, x: Tensor, t: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
    o = s.opts
    sal = maps.input_gradient_saliency(ctx.model, x, t)
    keys = ("m_part", "alpha", "beta", "gamma", "eta", "thres", "omega", "iters", "resolve", "cycles")
    mixed, target, _ = comixup_full(x, t, sal, _grid(s, x, ctx), ctx.aug_generator, **{k: o[k] for k in keys})
    return mixed, target


def _build(name: str, mix: Callable) -> Callable[[dict[str, Any]], Strategy]:
    return lambda o: SaliencyMixing(name, o, mix)


_PUZZLE_OPTS = {
    "alpha": (float, 1.0),
    "blocks": (int, 0),  # 0: drawn per batch from the sizes nearest to (2, 4, 8, 16)
    "n_labels": (int, 3),
    "beta": (float, 1.2),
    "gamma": (float, 0.5),
    "eta": (float, 0.2),
    "neigh": (int, 4),
    "transport": (parse_bool, True),
    "t_eps": (float, 0.8),
    "p": (float, 1.0),
}
_COMIX_OPTS = {
    "alpha": (float, 2.0),
    "blocks": (int, 4),
    "m_part": (int, 20),
    "beta": (float, 0.32),
    "gamma": (float, 1.0),
    "eta": (float, 0.05),
    "thres": (float, 0.83),
    "iters": (int, 3),
    "sweeps": (int, 2),
    "p": (float, 1.0),
}

_COMIX_FULL_OPTS = {
    **{k: v for k, v in _COMIX_OPTS.items() if k not in ("iters", "sweeps")},
    "omega": (float, 1e-3),
    "iters": (int, 4),
    "resolve": (parse_bool, True),
    "cycles": (int, 4),
}

STRATEGY_DEFS: dict[str, StrategyDef] = {
    "saliencymix": StrategyDef(
        _build("saliencymix", _saliencymix),
        {"alpha": (float, 1.0), "p": (float, 0.5), **BASE_OPTIONS},
        "SaliencyMix (Uddin et al. 2021): box around the source's spectral-residual saliency peak",
    ),
    "attentive-cutmix": StrategyDef(
        _build("attentive-cutmix", _attentive),
        {"grid": (int, 7), "k": (int, 6), "checkpoint": (str, ""), "p": (float, 1.0), **BASE_OPTIONS},
        "Attentive CutMix (Walawalkar et al. 2020): top-k attended grid cells of the partner pasted",
    ),
    "puzzlemix": StrategyDef(
        _build("puzzlemix", _puzzlemix),
        {**_PUZZLE_OPTS, **BASE_OPTIONS},
        "PuzzleMix (Kim et al. 2020): graph-cut block mask from input-gradient saliency + transport",
    ),
    "comixup-simplified": StrategyDef(
        _build("comixup-simplified", _comixup),
        {**_COMIX_OPTS, **BASE_OPTIONS},
        "Co-Mixup (Kim et al. 2021), simplified solver (ICM, no mixed labels; see augkit.saliency.comixup)",
    ),
    "comixup": StrategyDef(
        _build("comixup", _comixup_full),
        {**_COMIX_FULL_OPTS, **BASE_OPTIONS},
        "Co-Mixup (Kim et al. 2021): swap graph cuts with mixed labels, compatibility, resolve step",
    ),
}
