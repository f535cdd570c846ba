"""AutoAugment search (Cubuk, Zoph, Mané, Vasudevan & Le, "AutoAugment: Learning Augmentation
Strategies from Data", CVPR 2019, §3).

``augkit search autoaugment --out DIR --options iterations=20,batch=8 ...``.  An LSTM controller
(:class:`augkit.adversarial.Controller`, one layer of 100 units, weights uniform in
[-0.1, 0.1]) emits a policy of 5 sub-policies x 2 ops, each op three softmax decisions: its
type (16 ops of the paper's Table 6 space), its probability (11 levels 0, 0.1, ..., 1) and its
magnitude (10 levels 0..9 -> magnitude ``level / 10``, the released code's PARAMETER_MAX).
Every sampled policy is one *child*: an ordinary augkit training run on the reduced dataset
given by the run flags (``--subset``, ``--val``, ``--epochs``, ``--model``) with strategy
``policy:file=<its policy.json>`` (standard pad-crop + flip first, as the paper's CIFAR
children); the reward is the child's validation accuracy.  Children of one controller batch
run in parallel as Ray Tune trials (:mod:`augkit.policy_search.trials`).  The controller is
trained with PPO, learning rate 0.00035, entropy bonus 1e-5, and a baseline that is an
exponential moving average of previous rewards with weight 0.95 (all from §3).  The final
policy concatenates the sub-policies of the ``top`` (5) best policies, as the paper does for
its 25-sub-policy CIFAR-10 policy.

Choices the paper leaves open (augkit's answer):

- PPO's clipping and epochs: clip ratio 0.2 and 4 passes over each batch (Schulman et al. 2017's
  defaults); the paper states neither.  ``clip=``, ``ppo_epochs=``.
- Controller batch: ``batch=`` children per update (the paper trains ~15,000 children with
  hundreds in parallel; that scale is a cluster's, so the default here is 8) and
  ``iterations=`` updates.
- Baseline start: the first batch's mean reward (an EMA needs a first value); the EMA is updated
  reward by reward in trial order after each batch's advantages are computed.
- Child seed: every child uses the run seed, so two children differ only by their policy.
- Child budget: whatever the run flags say (the paper's 120 epochs of WRN-40-2 on 4,000
  images is hours of GPU per child); Fashion-MNIST images are grey, so Color is a no-op there.
- SamplePairing: partners are drawn from the same batch (augkit's op); the paper does not say.

Resumable: after sampling a batch its tokens are saved (``controller.pt``: tensors and numbers
only, loaded weights-only), so a killed search resumes with the same children, and children
that finished are not re-run.  Same seed, same children, same policy.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..adversarial.controller import Controller
from ..adversarial.decode import PAPER_OPS
from ..io import atomic_save_torch, atomic_write_text, load_torch
from ..policies import Policy
from ..policy_io import save_policy
from ..runs import TrainConfig
from ..strategies.spec import int_at_least
from .common import check_resumable, write_report
from .trials import run_trials, train_trial, trial_spec

__all__ = ["AA_TOKEN_SIZES", "decode_policy", "ppo_step", "search"]

SUBS, OPS_PER_SUB = 5, 2
PROB_LEVELS, MAG_LEVELS = 11, 10
# per op: type, probability level, magnitude level; 5 sub-policies x 2 ops = 30 decisions
AA_TOKEN_SIZES: tuple[int, ...] = (len(PAPER_OPS), PROB_LEVELS, MAG_LEVELS) * (SUBS * OPS_PER_SUB)
STATE_FILE = "controller.pt"


def decode_policy(tokens: torch.Tensor) -> list[list[tuple[str, float, float]]]:
    """30 tokens -> 5 sub-policies of 2 ``(op, probability, magnitude)``."""
    t = [int(v) for v in tokens.tolist()]
    if len(t) != len(AA_TOKEN_SIZES) or any(not 0 <= v < s for v, s in zip(t, AA_TOKEN_SIZES, strict=True)):
        raise ValueError(f"tokens must be {len(AA_TOKEN_SIZES)} values within {AA_TOKEN_SIZES}, got {t}")
    ops = [
        (PAPER_OPS[t[i]], t[i + 1] / (PROB_LEVELS - 1), t[i + 2] / MAG_LEVELS) for i in range(0, len(t), 3)
    ]
    return [ops[s * OPS_PER_SUB : (s + 1) * OPS_PER_SUB] for s in range(SUBS)]


def ppo_step(
    controller: Controller,
    tokens: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    clip: float,
    epochs: int,
) -> dict[str, float]:
    """``epochs`` Adam steps on PPO's clipped surrogate (ascended) plus the entropy bonus."""
    adv = advantages.detach().float()
    stats: dict[str, float] = {}
    for _ in range(epochs):
        lp, ent = controller.log_prob_entropy(tokens)
        ratio = (lp - old_logp).exp()
        surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
        loss = -surrogate.mean() - controller.entropy_weight * ent.mean()
        controller.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        controller.optimizer.step()
        stats = {"ppo_loss": loss.item(), "entropy": ent.mean().item(), "ratio_max": ratio.max().item()}
    return stats


OPTIONS: dict[str, tuple[Any, Any]] = {
    "iterations": (int_at_least(1), 10),
    "batch": (int_at_least(2), 8),
    "top": (int_at_least(1), 5),
    "lr": (float, 0.00035),
    "entropy": (float, 1e-5),
    "ema": (float, 0.95),
    "clip": (float, 0.2),
    "ppo_epochs": (int_at_least(1), 4),
}


def _load_state(out: Path, controller: Controller, seed: int) -> dict:
    f = out / STATE_FILE
    if not f.is_file():
        return {
            "iteration": 0,
            "baseline": None,
            "pending": None,
            "history": [],
            "generator": torch.Generator().manual_seed(seed).get_state(),
        }
    state = load_torch(f)
    controller.load_full_state(state["controller"])
    return state


def _save_state(out: Path, controller: Controller, state: dict) -> None:
    atomic_save_torch(out / STATE_FILE, {**state, "controller": controller.full_state()})


def _children(out: Path, cfg: TrainConfig, it: int, tokens: torch.Tensor) -> list[dict]:
    specs = []
    for k in range(tokens.shape[0]):
        name = f"it{it:03d}-child{k}"
        pfile = out / "trials" / name / "policy.json"
        pfile.parent.mkdir(parents=True, exist_ok=True)
        save_policy(Policy(decode_policy(tokens[k]), name=name), str(pfile))
        specs.append(trial_spec(out, name, replace(cfg, strategy=f"policy:file={pfile}")))
    return specs


def search(cfg: TrainConfig, out: Path, options: dict, trial_opts: dict, progress: bool) -> dict:
    """Run the controller loop; write the concatenated top policies and the search report."""
    o = options
    gen = torch.Generator().manual_seed(cfg.seed)
    controller = Controller(gen, lr=o["lr"], entropy_weight=o["entropy"], token_sizes=AA_TOKEN_SIZES)
    state = _load_state(out, controller, cfg.seed)
    key = {k: v for k, v in o.items() if k not in ("iterations", "top")}
    check_resumable(state.setdefault("key", key), key, out)
    gen.set_state(state["generator"])
    for it in range(state["iteration"], o["iterations"]):
        if state["pending"] is None:  # sample, then save before any child trains
            state["pending"] = controller.sample(o["batch"], gen)
            state["generator"] = gen.get_state()
            _save_state(out, controller, state)
        tokens = state["pending"]
        results = run_trials(
            train_trial, _children(out, cfg, it, tokens), out, progress=progress, **trial_opts
        )
        rewards = torch.tensor([1.0 - r["val_error"] for r in results])
        baseline = float(rewards.mean()) if state["baseline"] is None else state["baseline"]
        with torch.no_grad():
            old_logp = controller.log_prob_entropy(tokens)[0]
        stats = ppo_step(controller, tokens, old_logp, rewards - baseline, o["clip"], o["ppo_epochs"])
        for r in rewards.tolist():
            baseline = o["ema"] * baseline + (1 - o["ema"]) * r
        state["history"].append(
            {
                "iteration": it,
                "tokens": tokens.tolist(),
                "rewards": rewards.tolist(),
                "baseline": baseline,
                **stats,
            }
        )
        state.update(iteration=it + 1, baseline=baseline, pending=None)
        _save_state(out, controller, state)
        if progress:
            best = max(max(h["rewards"]) for h in state["history"])
            print(
                f"autoaugment search: iteration {it + 1}/{o['iterations']}, "
                f"{len(state['history']) * o['batch']} children, "
                f"best validation error {100 * (1 - best):.2f} %, entropy {stats['entropy']:.2f}"
            )
    return _finish(out, o, state)


def _finish(out: Path, o: dict, state: dict) -> dict:
    """Concatenate the sub-policies of the ``top`` best children; write the report."""
    scored = [
        (r, tok, f"it{h['iteration']:03d}-child{k}")
        for h in state["history"]
        for k, (r, tok) in enumerate(zip(h["rewards"], h["tokens"], strict=True))
    ]
    trials = [json.loads((out / "trials" / name / "trial.json").read_text()) for _, _, name in scored]
    best = sorted(scored, key=lambda p: -p[0])[: o["top"]]
    subs = [sp for _, tok, _ in best for sp in decode_policy(torch.tensor(tok))]
    policy = Policy(subs, name=f"autoaugment-search-top{o['top']}")
    atomic_write_text(out / "controller_history.json", json.dumps(state["history"], indent=1))
    extra = {
        "controller_updates": len(state["history"]),
        "entropy": [h["entropy"] for h in state["history"]],
        "top_children": [name for _, _, name in best],
    }
    return write_report(out, "autoaugment", o, trials, policy, extra)
