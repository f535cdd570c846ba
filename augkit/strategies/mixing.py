"""Multi-image mixing strategies (issue 5), each on top of the base pipeline (``base=standard``).

* ``mixup`` -- Zhang et al., ICLR 2018 (``alpha``, ``mode=batch|pair|elem`` as timm); mixed in
  float [0, 1] so that targets are exact.
* ``cutmix`` -- Yun et al., ICCV 2019 (``alpha``, per-image coin ``p``, default 0.5 as the
  reference's CIFAR command).
* ``manifold-mixup`` -- Verma et al., "Manifold Mixup", ICML 2019: one stage ``k`` per step,
  uniform over ``layers`` (default ``-1/0/1``: the input and the outputs of the first two
  stages, the reference code's ``{0, 1, 2}`` for PreAct ResNets), ``alpha = 2``, one ``lam``
  per batch and a permutation partner (reference code).  ``features(x, upto=k)`` -> mix ->
  ``forward_from``.  Departure: soft-target cross-entropy instead of the reference's BCE on
  softmax outputs (same minimiser, the loss every other strategy here uses).
* ``augmix`` -- Hendrycks et al., ICLR 2020: the batch carries clean + two AugMix views
  (``3B`` images, BatchNorm sees all, as in the reference); loss = CE(clean) + 12 JSD.
  ``jsd=false``: one AugMix view and plain CE.
* ``samplepairing`` -- Inoue 2018, with the on/off schedule (:func:`samplepairing_schedule`).
* ``ricap`` -- Takahashi et al., ACML 2018 (``beta = 0.3``); ``mosaic`` -- YOLOv4 (``cmin``).
* ``bc`` -- Tokozume et al., CVPR 2018: BC+ mix (``plus=true``) and the KL-divergence loss
  ``KL(t || softmax(z))``.
* ``label-smoothing`` -- Szegedy et al., CVPR 2016, on the base pipeline (``eps``).

Every target-producing method takes ``smoothing=`` (default: the run's ``label_smoothing``);
smoothing is applied to each source's one-hot before mixing (timm's order).  Every draw uses
``ctx.aug_generator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..mix.augmix import AugMix, jsd_loss
from ..mix.common import check_pair_batch, mix_targets
from ..mix.mixers import RICAP, BCMix, CutMix, Mixup, Mosaic, SamplePairingMix, to_targets
from ..sample import randint
from .base import Batch, Context, Strategy, soft_cross_entropy
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, parse_bool

__all__ = ["STRATEGY_DEFS", "samplepairing_schedule"]


def _eps(o: dict[str, Any], ctx: Context) -> float:
    return ctx.label_smoothing if o.get("smoothing") is None else float(o["smoothing"])


class _Base(Strategy):
    """Base pipeline + targets; subclasses mix."""

    def __init__(self, name: str, o: dict[str, Any]) -> None:
        # validated here, not at the first batch, and under the option's own name
        if o.get("smoothing") is not None and not 0 <= o["smoothing"] < 1:
            raise ValueError(f"smoothing must lie in [0, 1), got {o['smoothing']!r}")
        if "eps" in o and not 0 <= o["eps"] < 1:
            raise ValueError(f"eps (label smoothing) must lie in [0, 1), got {o['eps']!r}")
        self.name, self.opts = name, o
        self.base = base_pipeline(o)
        self._lam: list[float] = []

    def base_batch(self, x: Tensor, y: Tensor, ctx: Context) -> tuple[Tensor, Tensor]:
        check_pair_batch(x, y, ctx.num_classes)
        xb = self.base(x, generator=ctx.aug_generator) if len(self.base.transforms) else x
        return xb, to_targets(y, ctx.num_classes, _eps(self.opts, ctx))

    def on_epoch_end(self, ctx: Context) -> dict:
        out = {"mix_lam_mean": sum(self._lam) / len(self._lam)} if self._lam else {}
        self._lam = []
        return out


class MixerStrategy(_Base):
    """Base pipeline, then one batch mixer (Mixup, CutMix, RICAP, Mosaic, BC, SamplePairing)."""

    def __init__(self, name: str, o: dict[str, Any], mixer: Any, to_float: bool = False) -> None:
        super().__init__(name, o)
        self.mixer, self.to_float, self.last = mixer, to_float, None

    def mix(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xb, t = self.base_batch(x, y, ctx)
        if self.to_float and xb.dtype == torch.uint8:
            xb = xb.float() / 255.0
        xm, tm, params = self.mixer(xb, t, ctx.aug_generator)
        self.last = params
        self._lam.append(float(params.lam.float().mean()))
        return Batch(xm, tm)

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        return self.mix(x, y, ctx)


class BCStrategy(MixerStrategy):
    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        return kl_loss(model(batch.x), batch.y)


def kl_loss(logits: Tensor, target: Tensor) -> Tensor:
    """``KL(target || softmax(logits))``, batch mean (BC learning's loss; 0 log 0 = 0)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return (torch.xlogy(target, target) - target * logp).sum(1).mean()


def samplepairing_schedule(
    epochs: int, start: float = 0.1, end: float = 0.2, cycle: float = 0.1, on: float = 0.8
) -> list[bool]:
    """Which epochs SamplePairing is enabled in, Inoue (2018) Sec. 3 scaled to ``epochs``.

    Inoue: (1) train without SamplePairing first (100 epochs on CIFAR), (2) enable it,
    (3) intermittently disable it (8 epochs on, 2 off), (4) disable it for the final
    fine-tuning once loss and accuracy are "mostly stable".  Scaled version: off for the first
    ``round(start * E)`` epochs and the last ``round(end * E)`` epochs; in between, cycles of
    ``P = max(2, round(cycle * E))`` epochs, the first ``P - max(1, round((1 - on) P))`` on
    and the rest off (8:2 at ``on = 0.8``).  E = 30: off 0-2, on 3-4, off 5, on 6-7, off 8, ...,
    on 21-22, off 23, off 24-29 (0-based).
    """
    if epochs < 1 or not (
        0 <= start < 1 and 0 <= end < 1 and start + end < 1 and 0 < cycle <= 1 and 0 < on <= 1
    ):
        raise ValueError(
            f"invalid SamplePairing schedule: epochs={epochs}, start={start}, end={end}, "
            f"cycle={cycle}, on={on} (need 0 <= start, end; start + end < 1; 0 < cycle, on <= 1)"
        )
    first, last = round(start * epochs), epochs - round(end * epochs)
    period = max(2, round(cycle * epochs))
    n_on = period - max(1, round((1 - on) * period)) if on < 1 else period
    return [first <= e < last and (e - first) % period < n_on for e in range(epochs)]


class SamplePairingStrategy(MixerStrategy):
    def __init__(self, o: dict[str, Any]) -> None:
        super().__init__("samplepairing", o, SamplePairingMix(o["weight"], o["p"]))
        self.on = True

    def on_epoch_start(self, ctx: Context) -> None:
        if self.opts["schedule"]:
            sched = samplepairing_schedule(
                ctx.epochs, self.opts["start"], self.opts["end"], self.opts["cycle"]
            )
            self.on = sched[min(ctx.epoch, len(sched) - 1)]

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        if self.on:
            return self.mix(x, y, ctx)
        xb, t = self.base_batch(x, y, ctx)
        return Batch(xb, t)

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self.mix(x, y, ctx).x

    def on_epoch_end(self, ctx: Context) -> dict:
        return {**super().on_epoch_end(ctx), "samplepairing_on": float(self.on)}


def _layers(text: str) -> tuple[int, ...]:
    if text == "auto":
        return ()
    try:
        out = tuple(int(t) for t in text.split("/"))
    except ValueError:
        raise ValueError(
            f"layers must be 'auto' or stage indices separated by '/', e.g. -1/0/1, got {text!r}"
        ) from None
    if not out:
        raise ValueError("layers must name at least one stage")
    return out


class ManifoldMixupStrategy(_Base):
    def __init__(self, o: dict[str, Any]) -> None:
        super().__init__("manifold-mixup", o)
        self.mixer, self.layers, self.last = Mixup(o["alpha"], o["mode"]), _layers(o["layers"]), None

    def _stages(self, model: nn.Module) -> tuple[int, ...]:
        if self.layers:
            return self.layers
        return tuple(range(-1, min(2, model.num_stages - 1)))  # input + first two stages

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xb, t = self.base_batch(x, y, ctx)
        return Batch(xb, t)

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        stages = self._stages(model)
        k = stages[int(randint(len(stages), (1,), ctx.aug_generator, "cpu"))]
        h = model.features(batch.x, upto=k)
        params = self.mixer.sample(h, batch.y, ctx.aug_generator)
        index, lam = params.index[:, 1], params.lam.to(h.dtype)
        hm = torch.lerp(h[index], h, lam.view(-1, *([1] * (h.ndim - 1))))
        self.last = (k, params)
        self._lam.append(float(lam.mean()))
        target = mix_targets(batch.y, index, params.lam)
        logits = model.forward_from(hm, k)
        return soft_cross_entropy(logits, target)

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        xb, t = self.base_batch(x, y, ctx)
        xf = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb
        return self.mixer(xf, t, ctx.aug_generator)[0]


class AugMixStrategy(_Base):
    def __init__(self, o: dict[str, Any]) -> None:
        super().__init__("augmix", o)
        self.augmix = AugMix(o["width"], o["depth"], o["severity"], o["alpha"])
        self.jsd, self.lam_jsd = o["jsd"], o["lambda"]
        self._jsd: list[float] = []

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xb, t = self.base_batch(x, y, ctx)
        v1 = self.augmix(xb, ctx.aug_generator)
        if not self.jsd:
            return Batch(v1, t)
        clean = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
        return Batch(torch.cat([clean, v1, self.augmix(xb, ctx.aug_generator)]), t)

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        logits = model(batch.x)
        if not self.jsd:
            return soft_cross_entropy(logits, batch.y)
        z = logits.chunk(3)
        ce = soft_cross_entropy(z[0], batch.y)
        j = jsd_loss(*z)
        self._jsd.append(float(j.detach()))
        return ce + self.lam_jsd * j

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        out = self.make_batch(x, y, ctx).x
        return out[x.shape[0] : 2 * x.shape[0]] if self.jsd else out

    def on_epoch_end(self, ctx: Context) -> dict:
        out = {"augmix_jsd": sum(self._jsd) / len(self._jsd)} if self._jsd else {}
        self._jsd = []
        return out


class LabelSmoothingStrategy(_Base):
    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xb = self.base(x, generator=ctx.aug_generator) if len(self.base.transforms) else x
        return Batch(xb, to_targets(y, ctx.num_classes, self.opts["eps"]))


def _mixer(name: str, make: Callable[[dict[str, Any]], Any], to_float: bool = False) -> Callable:
    return lambda o: MixerStrategy(name, o, make(o), to_float)


_S = {"smoothing": (float, None), **BASE_OPTIONS}
_MODE = (str, "batch")

STRATEGY_DEFS: dict[str, StrategyDef] = {
    "mixup": StrategyDef(
        _mixer("mixup", lambda o: Mixup(o["alpha"], o["mode"]), to_float=True),
        {"alpha": (float, 1.0), "mode": _MODE, **_S},
        "mixup (Zhang et al. 2018): lam ~ Beta(alpha, alpha), mode batch|pair|elem",
    ),
    "cutmix": StrategyDef(
        _mixer("cutmix", lambda o: CutMix(o["alpha"], o["p"])),
        {"alpha": (float, 1.0), "p": (float, 0.5), **_S},
        "CutMix (Yun et al. 2019): per-image boxes, lam = true pasted fraction",
    ),
    "manifold-mixup": StrategyDef(
        ManifoldMixupStrategy,
        {"alpha": (float, 2.0), "mode": _MODE, "layers": (str, "auto"), **_S},
        "Manifold Mixup (Verma et al. 2019): mix hidden states at a random stage",
        ddp_refusal="its loss runs the model's stages directly, outside DistributedDataParallel's "
        "forward, so the gradients would not be averaged across ranks",
    ),
    "augmix": StrategyDef(
        AugMixStrategy,
        {
            "width": (int, 3),
            "depth": (int, -1),
            "severity": (float, 3.0),
            "alpha": (float, 1.0),
            "jsd": (parse_bool, True),
            "lambda": (float, 12.0),
            **_S,
        },
        "AugMix (Hendrycks et al. 2020) with the Jensen-Shannon consistency loss",
    ),
    "samplepairing": StrategyDef(
        SamplePairingStrategy,
        {
            "weight": (float, 0.5),
            "p": (float, 1.0),
            "schedule": (parse_bool, True),
            "start": (float, 0.1),
            "end": (float, 0.2),
            "cycle": (float, 0.1),
            **_S,
        },
        "SamplePairing (Inoue 2018) with its on/off training schedule, first label kept",
    ),
    "ricap": StrategyDef(
        _mixer("ricap", lambda o: RICAP(o["beta"])),
        {"beta": (float, 0.3), **_S},
        "RICAP (Takahashi et al. 2018): 4 crops, area-weighted labels",
    ),
    "mosaic": StrategyDef(
        _mixer("mosaic", lambda o: Mosaic(o["cmin"])),
        {"cmin": (float, 0.25), **_S},
        "Mosaic (Bochkovskiy et al. 2020): 2x2 tiles around a random centre, area-weighted labels",
    ),
    "bc": StrategyDef(
        lambda o: BCStrategy("bc", o, BCMix(o["plus"])),
        {"plus": (parse_bool, True), **_S},
        "between-class learning (Tokozume et al. 2018), BC+ mixing and KL loss",
    ),
    "label-smoothing": StrategyDef(
        lambda o: LabelSmoothingStrategy("label-smoothing", o),
        {"eps": (float, 0.1), **BASE_OPTIONS},
        "label smoothing (Szegedy et al. 2016) on the base pipeline",
    ),
}
