"""Strategy ``tanda``: augment with a trained TANDA TF-sequence generator (Ratner et al., NeurIPS 2017).

``tanda:file=OUT/tanda.pt`` (written by ``augkit search tanda``; loaded weights-only) samples one
TF sequence per training image from the generator, with the run's augmentation generator, and
applies it after the base pipeline (``base=standard``).  Without ``file=`` the generator is the
untrained one — uniform random TF sequences of ``length`` (the paper's random-sequence baseline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from ..io import load_torch
from ..tanda import TFS, TFSequence, make_generator
from .base import Context, Strategy
from .spec import BASE_OPTIONS, StrategyDef, base_pipeline, int_at_least

__all__ = ["STRATEGY_DEFS", "TandaStrategy"]


class TandaStrategy(Strategy):
    """Base pipeline, then a sequence drawn from the generator per image."""

    name = "tanda"

    def __init__(self, o: dict[str, Any]) -> None:
        kind, length, weights = o["generator"], o["length"], None
        if o["file"]:
            if not Path(o["file"]).is_file():
                raise ValueError(f"file {o['file']!r} does not exist (a tanda.pt from augkit search tanda)")
            art = load_torch(o["file"])
            if not isinstance(art, dict) or [list(t) for t in TFS] != art.get("tfs"):
                raise ValueError(
                    f"file {o['file']!r} is not a TANDA generator written by augkit search tanda"
                )
            kind, length, weights = art["kind"], art["length"], art["weights"]
        self.generator = make_generator(kind, length, 0, 1e-3, 0.0)
        if weights is not None:
            self.generator.load_state_dict(weights)
        self.base, self.seqs = base_pipeline(o), TFSequence(fill=o["fill"])

    def augment(self, x: Tensor, ctx: Context) -> Tensor:
        tokens = self.generator.sample(x.shape[0], ctx.aug_generator)
        return self.seqs.apply_sequences(self.base(x, generator=ctx.aug_generator), tokens, ctx.aug_generator)


STRATEGY_DEFS: dict[str, StrategyDef] = {
    "tanda": StrategyDef(
        TandaStrategy,
        {"file": (str, ""), "generator": (str, "lstm"), "length": (int_at_least(1), 5), **BASE_OPTIONS},
        "TANDA (Ratner et al. 2017): TF sequences from a trained generator (file= from augkit search tanda); "
        "without file, uniform random sequences",
    ),
}
