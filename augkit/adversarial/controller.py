"""The augmentation policy network of Adversarial AutoAugment (Zhang et al., ICLR 2020, §3.3, §4.1).

A one-layer LSTM (hidden 100, embedding 32) emits the 20 tokens of a policy one at a time
(paper Figure 3): at every step a softmax head for that position's vocabulary (16 op types
or 10 magnitude levels) predicts a token, whose embedding is the next step's input.  The
first input is a learned start embedding (the paper does not say; ENAS/AutoAugment-style
controllers do the same).  Adam with learning rate 0.00035 and an entropy term of weight
1e-5 (§4.1, "to avoid unexpected rapid convergence": the entropy is *rewarded*, i.e. the
loss subtracts ``1e-5 * entropy``).

REINFORCE (Eq. 8-9): ``grad J = 1/M sum_m L~_m grad log p_m``, ascended.  ``L~_m`` are the
per-policy training losses averaged over the epoch and normalised across the M policies
(done by the caller, :func:`normalise`); normalising (subtracting the mean over the M
policies) is the baseline: the paper uses no separate critic or moving-average baseline.

Log-probabilities for the update are recomputed by teacher forcing on the stored tokens (the
parameters have not changed since sampling, so they equal the sampling-time values); the
controller therefore needs no autograd graph kept across an epoch, and a checkpoint of the
tokens, weights and Adam state resumes the run exactly.

Randomness: parameters are initialised uniform(-0.1, 0.1) from an explicit generator
(modules are built on the meta device, so the global RNG is never touched) and tokens are
drawn by inverse-CDF sampling with :func:`augkit.sample.rand`.  The controller lives on the
CPU: it is tiny and its generator is the CPU augmentation stream.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sample import rand
from .decode import TOKEN_SIZES

__all__ = ["Controller", "normalise"]


class Controller(nn.Module):
    """LSTM policy network over the 20-token policy string."""

    def __init__(
        self,
        generator: torch.Generator,
        hidden: int = 100,
        embedding: int = 32,
        lr: float = 0.00035,
        entropy_weight: float = 1e-5,
        init_range: float = 0.1,
        token_sizes: tuple[int, ...] = TOKEN_SIZES,
    ) -> None:
        """``token_sizes``: the vocabulary of each position (default: Adversarial AutoAugment's 20;
        AutoAugment's search uses 30: op, probability level, magnitude level per op)."""
        super().__init__()
        if not token_sizes or any(not isinstance(v, int) or v < 2 for v in token_sizes):
            raise ValueError(f"token_sizes must be a non-empty tuple of ints >= 2, got {token_sizes!r}")
        self.token_sizes = tuple(token_sizes)
        for name, v in (("hidden", hidden), ("embedding", embedding)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight!r}")
        self.entropy_weight = float(entropy_weight)
        kinds = sorted(set(self.token_sizes), reverse=True)  # (16, 10): op type, magnitude
        self._kind_of = [kinds.index(s) for s in self.token_sizes]
        meta = torch.device("meta")
        self.cell = nn.LSTMCell(embedding, hidden, device=meta)
        self.start = nn.Parameter(torch.empty(1, embedding, device=meta))
        self.embed = nn.ModuleList(nn.Embedding(s, embedding, device=meta) for s in kinds)
        self.heads = nn.ModuleList(nn.Linear(hidden, s, device=meta) for s in kinds)
        self.to_empty(device="cpu")
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init_range, init_range, generator=generator)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)

    def _logits(
        self, tokens: Tensor | None, m: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """Run the 20 steps; sample (tokens None) or teacher-force. Returns tokens, log-softmax list."""
        inp = self.start.expand(m, -1)
        h = c = torch.zeros(m, self.cell.hidden_size)
        out_tokens, logps = [], []
        for t in range(len(self.token_sizes)):
            h, c = self.cell(inp, (h, c))
            k = self._kind_of[t]
            logp = F.log_softmax(self.heads[k](h), dim=1)
            if tokens is None:
                cdf = logp.detach().exp().cumsum(1)
                u = rand((m, 1), generator, "cpu") * cdf[:, -1:]
                tok = (cdf < u).sum(1).clamp(max=self.token_sizes[t] - 1)
            else:
                tok = tokens[:, t]
            out_tokens.append(tok)
            logps.append(logp)
            inp = self.embed[k](tok)
        return torch.stack(out_tokens, 1), logps

    @torch.no_grad()
    def sample(self, m: int, generator: torch.Generator) -> Tensor:
        """M policies as (M, len(token_sizes)) int64 tokens, drawn from ``generator``."""
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"m must be a positive int, got {m!r}")
        return self._logits(None, m, generator)[0]

    def log_prob_entropy(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Per-policy log p_m (sum over 20 tokens) and entropy (sum of per-step entropies), (M,)."""
        return self._lp_ent(tokens)[:2]

    def _lp_ent(self, tokens: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        tokens = tokens.long().cpu()
        _, logps = self._logits(tokens, tokens.shape[0], None)
        lp = torch.stack([lp.gather(1, tokens[:, t : t + 1])[:, 0] for t, lp in enumerate(logps)], 1).sum(1)
        ent = torch.stack([-(lp.exp() * lp).sum(1) for lp in logps], 1).sum(1)
        return lp, ent, logps

    def probabilities(self, tokens: Tensor) -> list[Tensor]:
        """Per-step softmax probabilities (M, vocab) given the prefixes in ``tokens``."""
        with torch.no_grad():
            return [lp.exp() for lp in self._logits(tokens.long().cpu(), tokens.shape[0], None)[1]]

    def reinforce(self, tokens: Tensor, rewards: Tensor) -> dict:
        """One Adam step of Eq. 9: ascend ``1/M sum_m r_m log p_m`` plus the entropy bonus.

        Returns the loss, mean entropy and log-probability, and ``probs``: the per-step token
        probabilities *before* the step (the same forward pass; no extra controller run).
        """
        rewards = rewards.detach().float().cpu()
        if rewards.shape != (tokens.shape[0],):
            raise ValueError(f"rewards must have shape ({tokens.shape[0]},), got {tuple(rewards.shape)}")
        lp, ent, logps = self._lp_ent(tokens)
        loss = -(rewards * lp).mean() - self.entropy_weight * ent.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {
            "controller_loss": loss.item(),
            "entropy": ent.detach().mean().item(),
            "log_prob": lp.detach().mean().item(),
            "probs": [q.detach().exp() for q in logps],
        }

    def full_state(self) -> dict:
        """Weights and Adam state, deep-copied (Adam's state dict aliases its live moment tensors)."""
        return copy.deepcopy({"model": self.state_dict(), "optimizer": self.optimizer.state_dict()})

    def load_full_state(self, state: dict) -> None:
        self.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def normalise(losses: Tensor, eps: float = 1e-8) -> Tensor:
    """Normalise per-policy losses across the M instances: zero mean, unit std (population).

    With M = 1, or identical losses, every reward is 0 and the update moves only the entropy.
    """
    losses = losses.float()
    centred = losses - losses.mean()
    std = centred.pow(2).mean().sqrt()
    return centred / (std + eps)
