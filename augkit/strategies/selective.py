"""Sample-selective augmentation (issue 8): self-paced augmentation and uncertainty-based sampling.

``spa:lambda=0.1,aug=flip`` — self-paced augmentation (SPA): Takase, Karakida & Asoh,
"Self-paced data augmentation for training neural networks", Neurocomputing 442 (2021)
296-306 (reviewed in ``shared/seeds/000_...``, Fig. 2/3/5, Tables 1 and 3).  Per minibatch
(Fig. 2): (1) compute every sample's loss with the current weights, without updating them;
(2) augment exactly the samples whose loss is ``>= lambda`` and train on the resulting batch.
``lambda=0`` is conventional augmentation (CA, every sample), ``lambda=inf`` none (NA).

``uncertainty:l=4,c=1,select=topc`` — uncertainty-based sampling: Wu, Zhang, Valiant & Ré,
"On the generalization effects of linear transformations in data augmentation", ICML 2020
(blog part III in ``shared/seeds/004_...``).  Every example gets L random compositions of
2 ops from the 16-op AutoAugment space; the L·B copies' losses come from one batched
forward pass without gradients; training uses the C highest-loss copies per example
(``select=topc``, the paper) or C copies drawn with probability proportional to their loss
(``select=proportional``, the released code).

Choices the papers leave open (augkit's answer)
------------------------------------------------
- Loss scale of lambda: the per-sample cross-entropy in nats of the *unaugmented* image
  against its hard label (no label smoothing, so lambda means the same with and without
  ``--label-smoothing``); ``loss >= 0.1`` means p(true class) <= exp(-0.1) ~ 0.905.
- lambda = 0 and lambda = inf: the selection is known without a loss pass (cross-entropy is
  >= 0 and finite), so the pass is skipped; CA then costs what the inner augmentation costs
  and gives the same bits as training with the inner strategy directly.
- No sample passes the threshold: the batch trains unaugmented and the inner strategy is not
  called (so it draws no random numbers that step).
- Train or eval mode of the loss pass (``mode=``): ``eval`` by default (the paper scores
  samples with the network as a predictor; BatchNorm uses its running statistics, and
  nothing in the model changes).  ``mode=train`` scores with batch statistics, as the
  gradient step will; it updates BatchNorm running statistics and advances any dropout
  generator, so every buffer and module extra state is snapshotted and restored.
- ``aug=``: a name from :data:`SPA_AUGMENTATIONS` (``flip+crop`` may be written ``flipcrop``,
  ``translation+rotation`` ``transrot``) or ANY registered strategy spec with ``;`` in place
  of ``,`` (``aug=cutout:size=8;base=none``; on the ``augkit compare --strategies`` command
  line, which starts a new strategy at every token holding ``:``, write
  ``aug=cutout/size=8;base=none``).  The aliases run the augmentation alone
  (``base=none``), as in the paper's tables, so NA is truly unaugmented.  ``flip`` is a
  horizontal flip with probability 0.5 and ``translation`` a shift of up to 4 px per axis
  with zero fill (pad-4 crop), the usual Keras/CIFAR settings; the paper does not give them.
- Generic wrapping: the inner strategy's ``make_batch`` runs on the selected rows only and its
  output rows replace them; unselected rows keep one-hot targets and weight 1.  For mixing
  strategies (Mixup, RICAP) the selected samples therefore mix among themselves only (a
  lone selected sample mixes with itself).  Images are promoted to float in [0, 1] when the
  inner strategy returns float.  An inner strategy that returns a different number of rows
  (multi-view methods) has its rows appended after the unselected ones.  Strategies whose
  training signal lives in ``loss()`` (Manifold Mixup, AugMix's JSD) cannot be wrapped and
  are refused at construction.
- Loss instability (Fig. 5): the variance over the epoch of the per-step training loss that
  the loop reports (``spa_loss_variance``), logged with the fraction of samples augmented
  (``spa_fraction_augmented``) and the mean pre-update sample loss.
- Uncertainty sampling: the 16 ops are AutoAugment's Table 6 set (ShearX/Y, TranslateX/Y,
  Rotate, AutoContrast, Invert, Equalize, Solarize, Posterize, Contrast, Color, Brightness,
  Sharpness, Cutout, SamplePairing) with the paper ranges of :mod:`augkit.space`; both ops
  are drawn uniformly with replacement, each with its own magnitude uniform in [0, 1]
  (continuous; signs random for signed ops), both always applied.  The default
  augmentation (``base=standard``: pad-crop + flip) is drawn independently for each of the L
  copies *before* the two ops (the registry's base-then-policy order).  SamplePairing's
  partner is any of the L·B copies.  ``select=proportional`` draws the C copies without
  replacement (Gumbel-top-k, so C = 1 is exactly probability proportional to loss); losses
  are floored at 1e-12 so an all-zero row is uniform.  The selection pass uses ``mode=eval``
  by default, like SPA.  The training batch is the B·C selected copies, example-major.
- Overhead: ``uncertainty_select_seconds`` (the no-grad selection forward, per step) and
  ``uncertainty_batch_seconds`` (all of make_batch: L copies, ops and selection) per epoch;
  SPA logs ``spa_select_seconds``.

Departures: the paper's SPA trains Keras models; here the loss pass honours AMP and
channels-last when the run uses them (it is a no-grad pass; only its speed changes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from .. import transforms
from ..selective import MODES as _MODES
from ..selective import SELECT as _SELECT
from ..selective import UNCERTAINTY_OPS, loss_pass, random_compositions, select_copies
from ..selective import sync as _sync
from .base import Batch, Context, Strategy, TransformStrategy, one_hot
from .spec import BASE_OPTIONS, StrategyDef, base_augments

__all__ = [
    "SPA_AUGMENTATIONS",
    "SelfPacedAugmentation",
    "UncertaintySampling",
]


# alias -> builder of the inner strategy (the augmentation alone, no base pipeline); registered
# strategies are built through the registry's own builder, which SPA's declaration receives
Build = Callable[[str], Strategy]
SPA_AUGMENTATIONS: dict[str, Callable[[], Strategy]] = {
    "flip": lambda: TransformStrategy("flip", transforms.RandomFlip(0.5)),
    "translation": lambda: TransformStrategy("translation", transforms.PadCrop(4)),
    "flip+crop": lambda: TransformStrategy("flip+crop", transforms.standard(4)),
    "translation+rotation": lambda: TransformStrategy(
        "translation+rotation",
        transforms.RandomAffine(degrees=15.0, translate=(4 / 28, 4 / 28), interpolation="bilinear"),
    ),
}
SPA_ALONE = ("cutout", "erasing", "mixup", "ricap", "randaugment")  # registered, run without their base
_ALIASES = {
    "flipcrop": "flip+crop",
    "transrot": "translation+rotation",
    "translation+rotate": "translation+rotation",
}


def _alone(name: str, build: Build, table: dict) -> Strategy:
    """A registered strategy without its base pipeline (``base=none`` where it has that option)."""
    if name not in table:
        raise ValueError(f"spa: aug={name!r} needs the strategy {name!r}, which is not registered")
    return build(name + (":base=none" if "base" in table[name].options else ""))


def _build_inner(aug: str, build: Build, table: dict) -> Strategy:
    key = _ALIASES.get(aug, aug)
    if ":" not in key and "/" in key:  # ``cutout/size=8;base=none``: no ':' so the CLI keeps it whole
        key = key.replace("/", ":", 1)
    if key in SPA_AUGMENTATIONS:
        return SPA_AUGMENTATIONS[key]()
    if key in SPA_ALONE:
        return _alone(key, build, table)
    try:
        inner = build(key.replace(";", ","))
    except ValueError as e:
        names = ", ".join([*SPA_AUGMENTATIONS, *SPA_ALONE, *_ALIASES])
        raise ValueError(
            f"spa: aug={aug!r} is neither an alias ({names}) "
            f"nor a registered strategy spec (write ';' for ',' inside it): {e}"
        ) from None
    if isinstance(inner, SelfPacedAugmentation):
        raise ValueError("spa: aug must not itself be an spa strategy")
    return inner


# --- the loss pass ------------------------------------------------------------------------


def _merge(x: Tensor, y_soft: Tensor, sel: Tensor, inner: Batch) -> Batch:
    """Replace rows ``sel`` of (x, y_soft) by the inner strategy's batch (see module docstring)."""
    xs, ys = inner.x, inner.y
    if xs.is_floating_point() and not x.is_floating_point():
        x = x.float() / 255.0
    xs = xs.to(x.dtype)
    w = inner.weight
    if xs.shape[0] == sel.numel():
        out_x, out_y = x.clone(), y_soft.clone()
        out_x.index_copy_(0, sel, xs)
        out_y.index_copy_(0, sel, ys.to(out_y.dtype))
        out_w = None
        if w is not None:
            out_w = torch.ones(x.shape[0], device=w.device, dtype=w.dtype).index_copy_(0, sel, w)
        return Batch(out_x, out_y, out_w)
    keep = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    keep[sel] = False
    out_w = None
    if w is not None:
        out_w = torch.cat([torch.ones(int(keep.sum()), device=w.device, dtype=w.dtype), w])
    return Batch(torch.cat([x[keep], xs]), torch.cat([y_soft[keep], ys.to(y_soft.dtype)]), out_w)


class _EpochStats:
    """Running sums for per-epoch logging (reset at epoch start, part of the state dict)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    def add(self, **kv: float) -> None:
        for k, v in kv.items():
            self.s[k] = self.s.get(k, 0.0) + float(v)

    def get(self, k: str) -> float:
        return self.s.get(k, 0.0)


class SelfPacedAugmentation(Strategy):
    """SPA: augment the samples whose pre-update loss is ``>= lam`` with ``inner``."""

    name = "spa"

    def __init__(self, lam: float, inner: Strategy, mode: str = "eval") -> None:
        if not isinstance(lam, (int, float)) or math.isnan(lam) or lam < 0:
            raise ValueError(f"spa: lambda must be a number >= 0 (inf = no augmentation), got {lam!r}")
        if mode not in _MODES:
            raise ValueError(f"spa: mode must be one of {_MODES}, got {mode!r}")
        if type(inner).loss is not Strategy.loss:
            raise ValueError(
                f"spa: the inner strategy {getattr(inner, 'name', inner)!r} trains through its own loss(); "
                "spa can wrap only strategies that augment in make_batch"
            )
        self.lam, self.inner, self.mode = float(lam), inner, mode
        self.stats = _EpochStats()

    def setup(self, ctx: Context) -> None:
        self.inner.setup(ctx)

    def on_epoch_start(self, ctx: Context) -> None:
        self.stats = _EpochStats()
        self.inner.on_epoch_start(ctx)

    def select(self, x: Tensor, y: Tensor, ctx: Context) -> tuple[Tensor, Tensor | None]:
        """Boolean mask of the samples to augment and their losses (None where not computed)."""
        b = x.shape[0]
        if self.lam == 0.0 or math.isinf(self.lam):
            return torch.full((b,), self.lam == 0.0, dtype=torch.bool, device=x.device), None
        losses = loss_pass(ctx.model, x, y, self.mode, ctx.config)
        return losses >= self.lam, losses

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        t0 = time.perf_counter()
        mask, losses = self.select(x, y, ctx)
        _sync(x)
        self.stats.add(select_seconds=time.perf_counter() - t0, steps=1)
        sel = mask.nonzero().squeeze(1)
        self.stats.add(selected=sel.numel(), seen=x.shape[0])
        if losses is not None:
            self.stats.add(loss_sum=losses.sum().item(), loss_n=losses.numel())
        y_soft = one_hot(y, ctx.num_classes, ctx.label_smoothing)
        if sel.numel() == 0:
            return Batch(x, y_soft)
        inner = self.inner.make_batch(x.index_select(0, sel), y.index_select(0, sel), ctx)
        if sel.numel() == x.shape[0]:
            return inner
        return _merge(x, y_soft, sel, inner)

    def on_step_end(self, ctx: Context, stats: dict) -> dict:
        loss = float(stats.get("loss", float("nan")))
        self.stats.add(step_loss=loss, step_loss2=loss * loss, step_n=1)
        return self.inner.on_step_end(ctx, stats)

    def on_epoch_end(self, ctx: Context) -> dict:
        s = self.stats
        n = s.get("step_n")
        mean = s.get("step_loss") / max(n, 1)
        var = max(s.get("step_loss2") / max(n, 1) - mean * mean, 0.0) * (n / (n - 1) if n > 1 else 1.0)
        out = {
            "spa_fraction_augmented": s.get("selected") / max(s.get("seen"), 1),
            "spa_loss_variance": var,
            "spa_select_seconds": s.get("select_seconds") / max(s.get("steps"), 1),
        }
        if s.get("loss_n"):
            out["spa_mean_sample_loss"] = s.get("loss_sum") / s.get("loss_n")
        return {**self.inner.on_epoch_end(ctx), **out}

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "stats": dict(self.stats.s)}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state.get("inner", {}))
        self.stats.s = dict(state.get("stats", {}))

    def tta_transform(self):
        return self.inner.tta_transform()

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self.inner.preview(x, y, ctx)  # what an augmented sample looks like


# --- uncertainty-based sampling ------------------------------------------------------------


class UncertaintySampling(Strategy):
    """L random 2-op compositions per example, train on C of them chosen by loss."""

    name = "uncertainty"

    def __init__(
        self,
        l_copies: int = 4,
        c_keep: int = 1,
        select: str = "topc",
        mode: str = "eval",
        base: list | None = None,
        fill: float = 0.0,
        ops: tuple[str, ...] = UNCERTAINTY_OPS,
    ) -> None:
        if isinstance(l_copies, bool) or not isinstance(l_copies, int) or l_copies < 1:
            raise ValueError(f"uncertainty: l must be an int >= 1, got {l_copies!r}")
        if isinstance(c_keep, bool) or not isinstance(c_keep, int) or not 1 <= c_keep <= l_copies:
            raise ValueError(f"uncertainty: c must be an int in [1, l={l_copies}], got {c_keep!r}")
        if select not in _SELECT:
            raise ValueError(f"uncertainty: select must be one of {_SELECT}, got {select!r}")
        if mode not in _MODES:
            raise ValueError(f"uncertainty: mode must be one of {_MODES}, got {mode!r}")
        if not 0 <= fill <= 255:
            raise ValueError(f"uncertainty: fill must be in [0, 255] (8-bit scale), got {fill!r}")
        self.l, self.c, self.select, self.mode = l_copies, c_keep, select, mode
        self.base = transforms.Compose(base or [])
        self.fill, self.ops = float(fill), tuple(ops)
        self.stats = _EpochStats()

    def on_epoch_start(self, ctx: Context) -> None:
        self.stats = _EpochStats()

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        t0 = time.perf_counter()
        b = x.shape[0]
        xa = random_compositions(x, self.l, ctx.aug_generator, self.base, self.fill, self.ops)
        ya = y.repeat_interleave(self.l, dim=0)
        _sync(xa)
        t1 = time.perf_counter()
        losses = loss_pass(ctx.model, xa, ya, self.mode, ctx.config).view(b, self.l)
        idx = select_copies(losses, self.c, self.select, ctx.aug_generator).to(x.device)
        _sync(xa)
        t2 = time.perf_counter()
        flat = (torch.arange(b, device=x.device).unsqueeze(1) * self.l + idx).reshape(-1)
        chosen = losses.gather(1, idx.to(losses.device))
        self.stats.add(
            select_seconds=t2 - t1,
            batch_seconds=time.perf_counter() - t0,
            steps=1,
            loss_sum=losses.sum().item(),
            loss_n=losses.numel(),
            chosen_sum=chosen.sum().item(),
            chosen_n=chosen.numel(),
        )
        return Batch(
            xa.index_select(0, flat), one_hot(ya.index_select(0, flat), ctx.num_classes, ctx.label_smoothing)
        )

    def on_epoch_end(self, ctx: Context) -> dict:
        s, n = self.stats, max(self.stats.get("steps"), 1)
        return {
            "uncertainty_select_seconds": s.get("select_seconds") / n,
            "uncertainty_batch_seconds": s.get("batch_seconds") / n,
            "uncertainty_mean_loss": s.get("loss_sum") / max(s.get("loss_n"), 1),
            "uncertainty_chosen_loss": s.get("chosen_sum") / max(s.get("chosen_n"), 1),
        }

    def state_dict(self) -> dict:
        return {"stats": dict(self.stats.s)}

    def load_state_dict(self, state: dict) -> None:
        self.stats.s = dict(state.get("stats", {}))

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self.make_batch(x, y, ctx).x[:: self.c]  # the first chosen copy of each example


def _lam(v: str) -> float:
    lam = float(v)  # accepts "inf"
    if math.isnan(lam) or lam < 0:
        raise ValueError(f"expected a number >= 0 or inf, got {v!r}")
    return lam


def _choice(valid: tuple[str, ...]) -> Callable[[str], str]:
    def parse(v: str) -> str:
        if v not in valid:
            raise ValueError(f"expected one of {valid}, got {v!r}")
        return v

    return parse


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "spa": StrategyDef(
        lambda o, build, table: SelfPacedAugmentation(
            o["lambda"], _build_inner(o["aug"], build, table), o["mode"]
        ),
        {"lambda": (_lam, 0.1), "aug": (str, "flip"), "mode": (_choice(_MODES), "eval")},
        "self-paced augmentation (Takase et al. 2021): augment samples with loss >= lambda; "
        "aug = flip|translation|flip+crop|translation+rotation|cutout|erasing|mixup|ricap|randaugment "
        "or any strategy spec with ';' for ','",
        figures="augkit.report.fig_selective:figures",
        composite=True,
    ),
    "uncertainty": StrategyDef(
        lambda o: UncertaintySampling(o["l"], o["c"], o["select"], o["mode"], base_augments(o), o["fill"]),
        {
            "l": (int, 4),
            "c": (int, 1),
            "select": (_choice(_SELECT), "topc"),
            "mode": (_choice(_MODES), "eval"),
            **BASE_OPTIONS,
        },
        "uncertainty-based sampling (Wu et al. 2020): L random 2-op AutoAugment compositions per "
        "example, train on the C highest-loss (topc) or loss-proportional copies",
    ),
}
