"""Adversarial AutoAugment (Zhang, Wang, Zhang & Zhong, "Adversarial AutoAugment", ICLR 2020).

Strategy ``adversarial-autoaugment:m=8,mode=adversarial``.  Every epoch the controller
(:mod:`augkit.adversarial.controller`) samples M policies (5 sub-policies x 2 ops, no
probabilities); every loader batch of N images is copied M times and copy ``m`` is augmented
by policy ``m``: standard pad-crop + flip, then the policy, then Cutout, in that order (paper
§4.2).  The target network minimises the mean loss over the M*N batch (Eq. 4-6); the
per-policy losses L_m (Eq. 5) are averaged over the epoch, normalised across the M policies
and the controller takes one REINFORCE step that *raises* the training loss (Eq. 7-9,
Algorithm 1).  The epoch's policies, op / magnitude histograms and the controller's mean
token probabilities go to ``policy_history.json``; the whole schedule goes to
``policy_schedule.json`` (replay it with ``policy-schedule:file=...``); the last epoch's
policies applied to a few training images go to ``policy_gallery.png``.

``mode`` reproduces the ablation of Table 4: ``adversarial`` (ours), ``random`` (M policies
drawn uniformly from the search space every epoch, no controller), ``fixed`` (standard
augmentation on M copies) and ``baseline`` (standard augmentation, M = 1).

Choices the paper leaves open, and why:

- **What an epoch is.**  The train loop counts optimizer steps over N-image loader batches;
  each step here sees the M*N batch.  A run therefore has exactly as many optimizer steps (and
  learning-rate schedule points) as a plain run with the same ``--batch-size``, and M times
  the forward/backward work.  This is the paper's accounting (Algorithm 1 loops over the T
  batches of an epoch; Table 7 lists the batch size as N*M; the learning rate is not changed,
  §3.3 "without changing the learning rate").  The equal-wall-time comparison divides
  ``--epochs`` by the measured cost ratio.
- **BatchNorm over the M copies.**  One forward pass over the whole M*N batch, so batch
  statistics are computed over all copies (the paper trains the large batch on 64 GPUs, where
  each device normalises its own shard; with one device, one pass is the faithful large batch).
- **Moving average of L_m.**  Footnote 2: "the length of the moving average is fixed to an
  epoch": L^_m is the mean of the epoch's per-step L_m (reset every epoch, Algorithm 1 line 2).
  ``ma=k`` keeps only the last k steps of the epoch instead.
- **Normalisation across the M instances.**  Zero mean, unit (population) standard deviation;
  subtracting the mean is the REINFORCE baseline, the paper uses no other.
- **When the controller updates.**  Once per epoch, after the epoch's last step (Algorithm 1
  line 10: theta_e -> theta_{e+1}); the next epoch's policies are sampled from the updated
  controller at the epoch's start.
- **Magnitude mapping and op ranges.**  See :mod:`augkit.adversarial.decode`: ``ops=paper``
  (AutoAugment Table 6 ranges) and ``scale=code`` (level / 10, the released AutoAugment code's
  mapping, "a moderate range") by default; signed ops draw a random sign per image.
- **Cutout size.**  ``cutout=0.5``: a square half the shorter side, the paper's 16 px on 32 px
  CIFAR, proportional for 28 px Fashion-MNIST; ``cutout=16`` gives 16 px.  Cutout and the
  base pipeline are applied in every mode, so the ablation differs only in the policy and M.
- **Per-policy losses** use the same soft targets (label smoothing included) as the loss
  that is minimised.
- **Randomness.**  Policy tokens, sub-policy choices and every augmentation draw come from
  ``ctx.aug_generator`` (checkpointed by the loop); the controller's initial weights come from
  a generator seeded by the run seed (five initialisations = five seeds, as in §4.1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import transforms
from ..adversarial import Controller, apply_policies, decode, normalise, op_names, random_tokens, split_tokens
from ..adversarial.decode import MAG_SCALES, NUM_LEVELS, PAPER_OPS, level_to_magnitude
from ..io import atomic_write_bytes, atomic_write_text
from ..losses import soft_cross_entropy, weighted_mean
from ..sample import randint
from ..space import OPS
from .base import Batch, Context, Strategy, one_hot
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, parse_bool

__all__ = [
    "MODES",
    "AdversarialAutoAugment",
    "PolicySchedule",
    "PolicyTables",
    "STRATEGY_DEFS",
    "schedule_strategy",
]

HISTORY_FILE = "policy_history.json"
SCHEDULE_FILE = "policy_schedule.json"
GALLERY_FILE = "policy_gallery.png"


@dataclass(frozen=True)
class Mode:
    copies_m: bool  # M copies of every batch (else 1)
    policies: str | None  # where the epoch's policies come from: "controller", "random", None
    learn: bool  # REINFORCE update of the controller at the epoch's end


MODES: dict[str, Mode] = {
    "adversarial": Mode(True, "controller", True),
    "random": Mode(True, "random", False),
    "fixed": Mode(True, None, False),
    "baseline": Mode(False, None, False),
}


@dataclass(frozen=True)
class PolicyTables:
    """P policies as tensors: op index into ``names``, magnitude, probability (None = 1), (P, S, K)."""

    names: tuple[str, ...]
    ops: Tensor
    mags: Tensor
    probs: Tensor | None = None

    @classmethod
    def from_tokens(cls, tokens: Tensor, ops: str, scale: str) -> PolicyTables:
        op_idx, lvl = split_tokens(tokens)
        return cls(op_names(ops), op_idx, level_to_magnitude(lvl, scale))

    @classmethod
    def from_json(cls, tables: list, where: str) -> PolicyTables:
        """``[[[op, prob, mag], ...] per sub-policy] per policy`` (the schedule file's entries)."""
        try:
            rows = [[[(str(o), float(p), float(m)) for o, p, m in sp] for sp in pol] for pol in tables]
        except (TypeError, ValueError):
            raise ValueError(f"{where}: policies must be lists of sub-policies of [op, prob, mag]") from None
        shapes = {(len(pol), len(sp)) for pol in rows for sp in pol}
        if not rows or len(shapes) != 1:
            raise ValueError(f"{where}: every policy needs the same number of sub-policies and stages")
        names = tuple(sorted({o for pol in rows for sp in pol for o, _, _ in sp}))
        for o in names:
            if o not in OPS:
                raise ValueError(f"{where}: op {o!r} is unknown; valid: {', '.join(sorted(OPS))}")
        vals = [(p, m) for pol in rows for sp in pol for _, p, m in sp]
        if not all(0 <= p <= 1 and 0 <= m <= 1 for p, m in vals):
            raise ValueError(f"{where}: probabilities and magnitudes must lie in [0, 1]")
        ops = torch.tensor([[[names.index(o) for o, _, _ in sp] for sp in pol] for pol in rows])
        probs = torch.tensor([[[p for _, p, _ in sp] for sp in pol] for pol in rows])
        mags = torch.tensor([[[m for _, _, m in sp] for sp in pol] for pol in rows])
        return cls(names, ops, mags, None if bool((probs == 1).all()) else probs)


class _PolicyBatches(Strategy):
    """Shared batch construction: base pipeline, then per-image policies, then Cutout, on C copies."""

    def __init__(self, o: dict[str, Any]) -> None:
        if not isinstance(o["cutout"], (int, float)) or o["cutout"] < 0:
            raise ValueError(
                f"cutout must be >= 0 (pixels, or a fraction of the side if < 1), got {o['cutout']!r}"
            )
        self.base = base_pipeline(o)
        self.cutout = transforms.Cutout(o["cutout"], fill=0.0) if o["cutout"] else None  # paper: zeros
        self.fill = float(o["fill"])
        self.copies = 1
        self.tables: PolicyTables | None = None

    def _augment(self, x: Tensor, copies: int, g: torch.Generator, owner: Tensor | None = None) -> Tensor:
        n = x.shape[0]
        xr = x.repeat(copies, 1, 1, 1) if copies > 1 else x
        xr = self.base(xr, generator=g)
        t = self.tables
        if t is not None:
            p = t.ops.shape[0]
            if owner is None and copies == p:  # copy m -> policy m, contiguous blocks of N
                owner = torch.arange(p, device=x.device).repeat_interleave(n)
            elif owner is None:  # each image draws one of the policies
                owner = randint(p, (xr.shape[0],), g, x.device)
            xr = apply_policies(xr, t.names, t.ops, t.mags, owner, g, t.probs, fill=self.fill)
        return self.cutout(xr, generator=g) if self.cutout is not None else xr

    def make_batch(self, x: Tensor, y: Tensor, ctx: Context) -> Batch:
        xb = self._augment(x, self.copies, ctx.aug_generator)
        yb = one_hot(y, ctx.num_classes, ctx.label_smoothing)
        return Batch(xb, yb.repeat(self.copies, 1) if self.copies > 1 else yb)


class AdversarialAutoAugment(_PolicyBatches):
    """The ``adversarial-autoaugment`` strategy (see the module docstring)."""

    name = "adversarial-autoaugment"

    def __init__(self, o: dict[str, Any]) -> None:
        super().__init__(o)
        if o["mode"] not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {o['mode']!r}")
        if not isinstance(o["m"], int) or o["m"] < 1:
            raise ValueError(f"m must be a positive int, got {o['m']!r}")
        if o["scale"] not in MAG_SCALES:
            raise ValueError(f"scale must be one of {sorted(MAG_SCALES)}, got {o['scale']!r}")
        if o["ma"] < 0:
            raise ValueError(f"ma must be >= 0 (0 = the whole epoch), got {o['ma']!r}")
        self.mode, self.m, self.opts = MODES[o["mode"]], o["m"], dict(o)
        self.mode_name = o["mode"]
        self.names = op_names(o["ops"])  # validates ops
        self.copies = self.m if self.mode.copies_m else 1
        self.controller: Controller | None = None
        self.tokens: Tensor | None = None
        self.history: list[dict] = []
        self._step_losses: list[Tensor] = []
        self._out: Path | None = None

    # --- hooks -------------------------------------------------------------------------------
    def setup(self, ctx: Context) -> None:
        self._out = ctx.out_dir
        if self.mode.policies == "controller":
            seed = int(ctx.config.get("seed", 0))
            g = torch.Generator().manual_seed(7919 * (seed + 1))  # own stream: controller init
            self.controller = Controller(g, lr=self.opts["clr"], entropy_weight=self.opts["entropy"])

    def _new_tokens(self, g: torch.Generator) -> Tensor | None:
        draw = {
            "controller": lambda: (
                self.controller.sample(self.m, g) if self.controller else random_tokens(self.m, g)
            ),
            "random": lambda: random_tokens(self.m, g),
            None: lambda: None,
        }
        return draw[self.mode.policies]()

    def _set_tokens(self, tokens: Tensor | None) -> None:
        self.tokens = tokens
        self.tables = (
            None if tokens is None else PolicyTables.from_tokens(tokens, self.opts["ops"], self.opts["scale"])
        )

    def on_epoch_start(self, ctx: Context) -> None:
        self._set_tokens(self._new_tokens(ctx.aug_generator))
        self._step_losses = []

    def loss(self, model: nn.Module, batch: Batch, ctx: Context) -> Tensor:
        per = soft_cross_entropy(model(batch.x), batch.y, reduction="none")
        if per.shape[0] % self.copies == 0:  # L_m (Eq. 5): copy m is rows m*N .. (m+1)*N - 1
            self._step_losses.append(per.detach().view(self.copies, -1).mean(1))
        return weighted_mean(per, batch.weight)

    def policy_losses(self) -> Tensor | None:
        """L^_m: the moving average over the epoch (or its last ``ma`` steps), (copies,)."""
        if not self._step_losses:
            return None
        window = self._step_losses[-self.opts["ma"] :] if self.opts["ma"] else self._step_losses
        return torch.stack(window).float().mean(0).cpu()

    def on_epoch_end(self, ctx: Context) -> dict:
        rec: dict[str, float] = {}
        lhat = self.policy_losses()
        if lhat is not None and lhat.numel() > 1:
            rec.update(policy_loss_mean=lhat.mean().item(), policy_loss_std=lhat.std(unbiased=False).item())
            rec["policy_loss_spread"] = (lhat.max() - lhat.min()).item()
        entry: dict[str, Any] = {
            "epoch": ctx.epoch + 1,
            "policy_losses": None if lhat is None else lhat.tolist(),
        }
        probs = None
        if self.mode.learn and self.controller is not None and self.tokens is not None and lhat is not None:
            stats = self.controller.reinforce(self.tokens, normalise(lhat))
            rec.update(controller_loss=stats["controller_loss"], controller_entropy=stats["entropy"])
            probs = stats["probs"]  # pre-update probabilities of this epoch's policies: no extra forward
        if self.tokens is not None:
            entry.update(self._describe(self.tokens, probs))
        if self.tokens is not None:
            self.history.append(entry)
            self._write(ctx)
        self._step_losses = []
        return rec

    # --- visibility ------------------------------------------------------------------------
    def _describe(self, tokens: Tensor, probs: list[Tensor] | None = None) -> dict[str, Any]:
        ops, lvl = split_tokens(tokens)
        has_mag = torch.tensor([OPS[n].has_magnitude for n in self.names])[ops]
        entry = {
            "tokens": tokens.tolist(),
            "policies": decode(tokens, self.opts["ops"], self.opts["scale"]),
            "op_hist": torch.bincount(ops.flatten(), minlength=len(self.names)).tolist(),
            "mag_hist": torch.bincount(lvl[has_mag], minlength=NUM_LEVELS).tolist(),
        }
        if self.controller is not None:  # the controller's mean distributions at the sampled prefixes
            probs = self.controller.probabilities(tokens) if probs is None else probs
            entry["op_prob"] = torch.stack(probs[0::2]).mean((0, 1)).tolist()
            entry["mag_prob"] = torch.stack(probs[1::2]).mean((0, 1)).tolist()
        return entry

    def schedule_json(self) -> dict:
        return {
            "type": "policy-schedule",
            "version": 1,
            "source": getattr(self, "spec", self.name),
            "ops": list(PAPER_OPS) if self.opts["ops"] == "paper" else list(self.names),
            "copies": self.copies,
            "epochs": [{"epoch": h["epoch"], "policies": h["policies"]} for h in self.history],
        }

    def _write(self, ctx: Context) -> None:
        if self._out is None and ctx.out_dir is None:
            return
        out = Path(ctx.out_dir or self._out)
        meta = {"strategy": getattr(self, "spec", self.name), "mode": self.mode_name, "m": self.m}
        meta.update(op_names=list(self.names), levels=NUM_LEVELS, scale=self.opts["scale"])
        atomic_write_text(out / HISTORY_FILE, json.dumps({**meta, "epochs": self.history}))
        atomic_write_text(out / SCHEDULE_FILE, json.dumps(self.schedule_json()))
        if ctx.epoch + 1 == ctx.epochs and ctx.data is not None:
            atomic_write_bytes(out / GALLERY_FILE, self.gallery_png(ctx.data.train_x, ctx.data.train_y))

    def gallery_png(self, x_all: Tensor, y_all: Tensor) -> bytes:
        """The current policies applied to one training image per class (a private generator)."""
        from ..gallery import grid_png

        classes = torch.unique(y_all)[:8]
        x = x_all[torch.stack([(y_all == c).nonzero()[0, 0] for c in classes])].cpu()
        rgb = (lambda t: t.expand(-1, 3, -1, -1)) if x.shape[1] == 1 else (lambda t: t)
        rows = [("original", rgb(x))]
        t, g = self.tables, torch.Generator().manual_seed(0)
        for p in range(0 if t is None else t.ops.shape[0]):
            owner = torch.full((x.shape[0],), p)
            rows.append(
                (
                    f"policy {p + 1}",
                    rgb(apply_policies(x, t.names, t.ops, t.mags, owner, g, t.probs, fill=self.fill)),
                )
            )
        return grid_png(rows)

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        """One image per input: image i gets policy i mod M (fresh draws if none yet)."""
        saved = self.tables
        if self.tables is None and self.mode.policies is not None:
            self._set_tokens(self._new_tokens(ctx.aug_generator))
        try:
            p = 1 if self.tables is None else self.tables.ops.shape[0]
            return self._augment(x, 1, ctx.aug_generator, torch.arange(x.shape[0], device=x.device) % p)
        finally:
            self.tables = saved

    # --- resume ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "controller": None if self.controller is None else self.controller.full_state(),
            "tokens": self.tokens,
            "history": self.history,
            "step_losses": [t.cpu() for t in self._step_losses],
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("controller") is not None:
            if self.controller is None:
                self.controller = Controller(
                    torch.Generator(), lr=self.opts["clr"], entropy_weight=self.opts["entropy"]
                )
            self.controller.load_full_state(state["controller"])
        self._set_tokens(state.get("tokens"))
        self.history = list(state.get("history", []))
        self._step_losses = list(state.get("step_losses", []))


class PolicySchedule(_PolicyBatches):
    """Replay a per-epoch policy schedule (``policy_schedule.json``) with ordinary training.

    Paper §4.6 ("policy transfer"): the learned dynamic policies train a model regularly,
    i.e. M = 1 by default: each image draws one of the epoch's policies, then one of its
    sub-policies.  ``copies=M`` with M equal to the schedule's policy count replays the
    M-copy batch instead.  ``stretch`` maps the schedule's epochs onto the run's epochs
    proportionally (else epoch e uses entry e, the last entry past the end).
    """

    name = "policy-schedule"

    def __init__(self, path: str | Path, o: dict[str, Any]) -> None:
        super().__init__(o)
        if not isinstance(o["copies"], int) or o["copies"] < 1:
            raise ValueError(f"copies must be a positive int, got {o['copies']!r}")
        self.path, self.copies, self.stretch = Path(path), o["copies"], o["stretch"]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"file {str(path)!r} is not a readable policy-schedule JSON: {e}") from None
        if not isinstance(data, dict) or data.get("type") != "policy-schedule" or not data.get("epochs"):
            raise ValueError(
                f"file {str(path)!r}: expected a JSON object with type 'policy-schedule' and epochs"
            )
        self.schedule = [
            PolicyTables.from_json(e["policies"], f"{path} epoch {e.get('epoch', i + 1)}")
            for i, e in enumerate(data["epochs"])
        ]
        self.tables = self.schedule[0]

    def entry_for(self, epoch: int, epochs: int) -> int:
        k = len(self.schedule)
        i = math.floor(epoch * k / max(epochs, 1)) if self.stretch else epoch
        return min(max(i, 0), k - 1)

    def on_epoch_start(self, ctx: Context) -> None:
        self.tables = self.schedule[self.entry_for(ctx.epoch, ctx.epochs)]

    def preview(self, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        return self._augment(x, 1, ctx.aug_generator)


def schedule_strategy(
    path: str | Path,
    copies: int = 1,
    stretch: bool = True,
    cutout: float = 0.5,
    base: str = "standard",
    fill: float = 0.0,
) -> PolicySchedule:
    """Load a ``policy_schedule.json`` (as written by ``adversarial-autoaugment``) for replay."""
    return PolicySchedule(
        path, {"copies": copies, "stretch": stretch, "cutout": cutout, "base": base, "fill": fill}
    )


class _MissingSchedule(Strategy):
    """``policy-schedule`` without ``file=``: builds (as every strategy must), fails at setup."""

    name = "policy-schedule"

    def setup(self, ctx: Context) -> None:
        raise ValueError("strategy policy-schedule needs file=PATH (a policy_schedule.json written by a run)")


def _schedule_build(o: dict[str, Any]) -> Strategy:
    return PolicySchedule(o["file"], o) if o["file"] else _MissingSchedule()


_COMMON = {"cutout": (float, 0.5), **BASE_OPTIONS}

STRATEGY_DEFS: dict[str, StrategyDef] = {
    "adversarial-autoaugment": StrategyDef(
        AdversarialAutoAugment,
        {
            "m": (int, 8),
            "mode": (str, "adversarial"),
            "ops": (str, "paper"),
            "scale": (str, "code"),
            "clr": (float, 0.00035),
            "entropy": (float, 1e-5),
            "ma": (int, 0),
            **_COMMON,
        },
        "Adversarial AutoAugment (Zhang et al. 2020): M policies per batch from an LSTM controller "
        "trained by REINFORCE to raise the loss; mode=adversarial|random|fixed|baseline (Table 4)",
        figures="augkit.report.fig_adversarial:figures",
        artefacts=(HISTORY_FILE, SCHEDULE_FILE, GALLERY_FILE),
        ddp_refusal="its controller draws the M policies from each rank's own stream and learns from "
        "that rank's policy losses, so the ranks would train different policies",
    ),
    "policy-schedule": StrategyDef(
        _schedule_build,
        {"file": (str, ""), "copies": (int, 1), "stretch": (parse_bool, True), **_COMMON},
        "replay a per-epoch policy schedule JSON (e.g. adversarial-autoaugment's policy_schedule.json)",
    ),
}
