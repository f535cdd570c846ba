"""Population Based Augmentation's policy and its schedule (Ho, Liang, Stoica, Abbeel & Chen,
"Population Based Augmentation: Efficient Learning of Augmentation Policy Schedules", ICML 2019).

A PBA policy is 30 slots — each of the 15 ops of AutoAugment's space without SamplePairing
appears twice — each slot with a probability level (0..10, ``/10``) and a magnitude level
(0..9, ``/10`` of the op's range, augkit's AutoAugment convention).  Per image (the paper's
Algorithm 1): draw how many ops to apply, 0, 1 or 2 with probabilities 0.2, 0.3, 0.5; walk the
30 slots in a random order, applying each with its probability until that many have been
applied.  Batched: a per-image random permutation (argsort of uniform keys), per-slot Bernoulli
draws and a cumulative count select at most two slots per image, which then run as two policy
stages through :func:`augkit.stages.run_stages` — no loop over images.

A *schedule* is the policy over training: ``[{"epoch": e, "levels": [[p, m] x 30]}, ...]``, entry
``e`` in force from epoch ``e`` (0-based) on (``pba-schedule`` JSON, read by
:func:`read_schedule`, replayed by strategy ``pba:file=...``).  :func:`explore` is the paper's
Algorithm 3 on these levels.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from .adversarial.decode import PAPER_OPS
from .io import atomic_write_text
from .policies import _PolicyModule
from .sample import rand

__all__ = ["PBA_OPS", "PBAPolicy", "SLOTS", "explore", "read_schedule", "write_schedule"]

PBA_OPS: tuple[str, ...] = tuple(o for o in PAPER_OPS if o != "SamplePairing")
SLOTS = 2 * len(PBA_OPS)
PROB_MAX, MAG_MAX = 10, 9
COUNT_PROBS = (0.2, 0.3, 0.5)  # 0, 1 or 2 ops per image


def _check_levels(levels: object, where: str) -> Tensor:
    t = torch.as_tensor(levels, dtype=torch.int64) if isinstance(levels, (list, tuple, Tensor)) else None
    if t is None or t.shape != (SLOTS, 2):
        raise ValueError(f"{where}: levels must be {SLOTS} [probability, magnitude] integer pairs")
    if bool((t < 0).any() | (t[:, 0] > PROB_MAX).any() | (t[:, 1] > MAG_MAX).any()):
        raise ValueError(
            f"{where}: probability levels must be in 0..{PROB_MAX} and magnitudes in 0..{MAG_MAX}"
        )
    return t


class PBAPolicy(_PolicyModule):
    """The PBA policy for one set of 30 (probability, magnitude) levels; all zero = identity."""

    op_names = PBA_OPS

    def __init__(
        self,
        levels: object = None,
        fill: float | tuple = 128.0,
        interpolation: str = "nearest",
        seed: int = 0,
    ) -> None:
        super().__init__(fill, interpolation, seed)
        self.set_levels(torch.zeros(SLOTS, 2, dtype=torch.int64) if levels is None else levels)
        self._slot_op = torch.arange(SLOTS) % len(PBA_OPS)

    def set_levels(self, levels: object) -> None:
        t = _check_levels(levels, "PBAPolicy")
        self.levels = t
        self._prob, self._mag = t[:, 0].float() / PROB_MAX, t[:, 1].float() / 10.0

    def sample_batch(self, x: Tensor, generator: torch.Generator):
        b, dev = x.shape[0], x.device
        u = rand((b,), generator, dev)
        count = (u >= COUNT_PROBS[0]).long() + (u >= COUNT_PROBS[0] + COUNT_PROBS[1]).long()
        order = rand((b, SLOTS), generator, dev).argsort(dim=1)  # a random walk over the slots
        fire = rand((b, SLOTS), generator, dev) < self._prob.to(dev)[order]
        take = fire & (fire.long().cumsum(1) <= count[:, None])
        first = (~take).long().argsort(dim=1, stable=True)[:, :2]  # the taken slots, in walk order
        slots = order.gather(1, first)
        applied = take.gather(1, first)
        ops, mag = self._slot_op.to(dev)[slots], self._mag.to(dev)[slots]
        return self._params(x, ops, mag, applied, generator)

    @property
    def spec(self) -> str:
        return "pba"

    def to_json(self) -> dict:
        return {"type": "pba", "levels": self.levels.tolist(), **self._settings_json()}


def explore(levels: Tensor, generator: torch.Generator, resample: float = 0.2) -> Tensor:
    """Algorithm 3: per level, resample uniformly with probability 0.2, else shift by 0-3 up or down."""
    levels = _check_levels(levels, "explore")
    hi = torch.tensor([PROB_MAX, MAG_MAX])
    u = rand((SLOTS, 2), generator, "cpu")
    uniform = (rand((SLOTS, 2), generator, "cpu") * (hi + 1)).long().clamp(max=hi)
    amount = (rand((SLOTS, 2), generator, "cpu") * 4).long().clamp(max=3)
    sign = torch.where(rand((SLOTS, 2), generator, "cpu") < 0.5, -1, 1)
    shifted = (levels + sign * amount).clamp(min=torch.zeros(2, dtype=torch.long), max=hi)
    return torch.where(u < resample, uniform, shifted)


def write_schedule(path: str | Path, entries: list[dict]) -> None:
    """``entries``: ``[{"epoch": e, "levels": [[p, m] x 30]}, ...]`` in epoch order."""
    for e in entries:
        _check_levels(e["levels"], f"schedule epoch {e['epoch']}")
    atomic_write_text(path, json.dumps({"type": "pba-schedule", "ops": list(PBA_OPS), "epochs": entries}))


def read_schedule(path: str | Path) -> list[tuple[int, Tensor]]:
    """The schedule's (start epoch, levels) entries; errors name the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"PBA schedule {path} is not readable JSON: {e}") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "pba-schedule"
        or not isinstance(data.get("epochs"), list)
    ):
        raise ValueError(
            f"PBA schedule {path}: expected an object with type 'pba-schedule' and an epochs list"
        )
    if data.get("ops") != list(PBA_OPS):
        raise ValueError(f"PBA schedule {path}: ops must be the 15 PBA ops in order {list(PBA_OPS)}")
    out = []
    for i, e in enumerate(data["epochs"]):
        if not isinstance(e, dict) or not isinstance(e.get("epoch"), int) or e["epoch"] < 0:
            raise ValueError(f"PBA schedule {path}: entry {i} needs a non-negative int 'epoch'")
        out.append((e["epoch"], _check_levels(e.get("levels"), f"PBA schedule {path} entry {i}")))
    if not out or [p[0] for p in out] != sorted({p[0] for p in out}) or out[0][0] != 0:
        raise ValueError(f"PBA schedule {path}: epochs must start at 0 and increase")
    return out
