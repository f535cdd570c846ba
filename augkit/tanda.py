"""TANDA's transformation-function sequences (Ratner, Ehrenberg, Hussain, Dunnmon & Ré, "Learning
to Compose Domain-Specific Transformations for Data Augmentation", NeurIPS 2017).

A *TF* is one op at one fixed magnitude ("rotate by 0.3 of the range"); a TF sequence of length
L is applied in order to one image.  The TF set here is the 15 ops of AutoAugment's space without
SamplePairing, each op with a magnitude at three levels (0.3, 0.6, 0.9) and the three ops
without one (AutoContrast, Equalize, Invert) once: 39 TFs, none of them the identity (a sequence
model that could emit the identity would learn it, the trivial way to fool a discriminator).
Signed ops draw their sign per image (augkit's convention).

Sequence generators (the paper's two): ``mean-field`` — every position drawn independently from
one learned categorical over the TFs; ``lstm`` — an autoregressive LSTM over the L positions
(:class:`augkit.adversarial.Controller` with an L x 39 vocabulary).  Both expose ``sample``,
``log_prob_entropy`` and an ``optimizer``, which is all the TANDA trainer and strategy use.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .adversarial.controller import Controller
from .adversarial.decode import PAPER_OPS
from .policies import _PolicyModule
from .sample import rand

__all__ = ["TFS", "MeanField", "TFSequence", "make_generator"]

_NO_MAGNITUDE = ("AutoContrast", "Equalize", "Invert")
_LEVELS = (0.3, 0.6, 0.9)
_OPS = tuple(o for o in PAPER_OPS if o != "SamplePairing")
TFS: tuple[tuple[str, float], ...] = tuple(
    (o, m) for o in _OPS for m in ((0.0,) if o in _NO_MAGNITUDE else _LEVELS)
)


class MeanField(nn.Module):
    """One categorical over the TFs, shared by the L positions (zero logits: uniform at start)."""

    def __init__(self, length: int, lr: float, entropy_weight: float) -> None:
        super().__init__()
        self.length, self.entropy_weight = length, entropy_weight
        self.logits = nn.Parameter(torch.zeros(len(TFS)))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)

    @torch.no_grad()
    def sample(self, m: int, generator: torch.Generator) -> Tensor:
        cdf = self.logits.softmax(0).cumsum(0)
        u = rand((m, self.length, 1), generator, "cpu") * cdf[-1]
        return (cdf < u).sum(-1).clamp(max=len(TFS) - 1)

    def log_prob_entropy(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        logp = self.logits.log_softmax(0)
        ent = -(logp.exp() * logp).sum() * self.length
        return logp[tokens.long()].sum(1), ent.expand(tokens.shape[0])


def make_generator(kind: str, length: int, seed: int, lr: float, entropy_weight: float) -> nn.Module:
    """``mean-field`` or ``lstm`` sequence generator, initialised from ``seed``."""
    if kind == "mean-field":
        return MeanField(length, lr, entropy_weight)
    if kind == "lstm":
        g = torch.Generator().manual_seed(seed)
        return Controller(g, lr=lr, entropy_weight=entropy_weight, token_sizes=(len(TFS),) * length)
    raise ValueError(f"generator must be 'mean-field' or 'lstm', got {kind!r}")


class TFSequence(_PolicyModule):
    """Apply per-image TF sequences ``(B, L)`` (indices into :data:`TFS`) as L policy stages."""

    op_names = _OPS

    def __init__(self, fill: float | tuple = 128.0, interpolation: str = "nearest") -> None:
        super().__init__(fill, interpolation)
        self._op = torch.tensor([_OPS.index(o) for o, _ in TFS])
        self._mag = torch.tensor([m for _, m in TFS])
        self.tokens: Tensor | None = None

    def sample_batch(self, x: Tensor, generator: torch.Generator):
        if self.tokens is None or self.tokens.shape[0] != x.shape[0]:
            raise ValueError("TFSequence needs .tokens of shape (B, L) for the batch; set them first")
        t = self.tokens.to(x.device)
        ops, mag = self._op.to(x.device)[t], self._mag.to(x.device)[t]
        return self._params(x, ops, mag, torch.ones_like(t, dtype=torch.bool), generator)

    def apply_sequences(self, x: Tensor, tokens: Tensor, generator: torch.Generator) -> Tensor:
        self.tokens = tokens
        return self(x, generator=generator)

    @property
    def spec(self) -> str:
        return "tanda-sequences"
