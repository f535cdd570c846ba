"""TANDA search (Ratner et al., NeurIPS 2017, §3): a TF-sequence generator trained adversarially.

``augkit search tanda --out DIR --options generator=lstm,length=5,iterations=2000``.  Each
iteration draws a batch of training images and one TF sequence per image from the generator
G (:mod:`augkit.tanda`); the discriminator D (``--model``, one logit) learns to output "real"
for another batch of training images and "augmented" for the transformed ones (the paper's
Eq. 1, binary cross-entropy); G, whose TFs are not differentiable, is trained by REINFORCE with
reward ``log D(h_tau(x))`` — it is rewarded for augmented images D takes for real — minus the
batch mean as baseline, plus an entropy bonus.  The trained generator (``tanda.pt``: weights
only) is the strategy ``tanda:file=DIR/tanda.pt``, which samples a sequence per training image.

Choices the paper leaves open (augkit's answer):

- TF set and length: 39 non-identity TFs (:data:`augkit.tanda.TFS`), L = 5 (the paper's image
  experiments used short sequences of user TFs; its CIFAR TFs were rotations, shifts, zooms,
  shears, swirls, colour and brightness changes).
- Optimisers: Adam, G learning rate 0.001 and entropy weight 0.01, D learning rate 0.0005;
  batch 64; one D step and one G step per iteration.  The paper's optional regularisers
  (a diversity term) are not implemented.
- The discriminator sees base-augmented (pad-crop + flip) images on both sides when
  ``base=standard``, so it cannot tell "transformed" from the base pipeline.

Resumable (``tanda_state.pt`` every ``save_every`` iterations, weights-only); same seed, same
generator.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..gallery import grid_png
from ..io import atomic_save_torch, atomic_write_bytes, atomic_write_text, load_torch
from ..models import build_model
from ..runs import TrainConfig, prepare_data
from ..sample import randint
from ..strategies.spec import base_pipeline, int_at_least
from ..tanda import TFS, TFSequence, make_generator
from .common import check_resumable

__all__ = ["OPTIONS", "search"]

STATE_FILE, RESULT_FILE = "tanda_state.pt", "tanda.pt"

OPTIONS: dict[str, tuple[Any, Any]] = {
    "generator": (str, "lstm"),
    "length": (int_at_least(1), 5),
    "iterations": (int_at_least(1), 2000),
    "batch": (int_at_least(2), 64),
    "lr": (float, 0.001),
    "d_lr": (float, 0.0005),
    "entropy": (float, 0.01),
    "save_every": (int_at_least(1), 100),
    "base": (str, "standard"),
}


def _parts(cfg: TrainConfig, o: dict, ds) -> dict:
    c = ds.train_x.shape[1]
    disc = build_model(cfg.model, c, 1, ds.mean(), ds.std(), generator=cfg.seed + 1)
    gen = make_generator(o["generator"], o["length"], cfg.seed, o["lr"], o["entropy"])
    return {"G": gen, "D": disc, "D_opt": torch.optim.Adam(disc.parameters(), lr=o["d_lr"])}


def _step(p: dict, x_real: torch.Tensor, x_src: torch.Tensor, seqs: TFSequence, base, g) -> dict[str, float]:
    """One discriminator step, then one REINFORCE step of the generator."""
    tokens = p["G"].sample(x_src.shape[0], g)
    fake = seqs.apply_sequences(base(x_src, generator=g), tokens, g)
    real = base(x_real, generator=g)
    d, opt = p["D"], p["D_opt"]
    d.train()
    logits = d(torch.cat([real, fake]))[:, 0]
    target = torch.cat([torch.ones(real.shape[0]), torch.zeros(fake.shape[0])])
    d_loss = F.binary_cross_entropy_with_logits(logits, target)
    opt.zero_grad(set_to_none=True)
    d_loss.backward()
    opt.step()
    with torch.no_grad():
        d.eval()
        reward = F.logsigmoid(d(fake)[:, 0])  # log D(h(x)): "looks real"
    lp, ent = p["G"].log_prob_entropy(tokens)
    g_loss = -((reward - reward.mean()) * lp).mean() - p["G"].entropy_weight * ent.mean()
    p["G"].optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    p["G"].optimizer.step()
    return {"d_loss": d_loss.item(), "reward": reward.mean().item(), "entropy": ent.mean().item()}


def _key(o: dict) -> dict:
    return {k: v for k, v in o.items() if k not in ("iterations", "save_every")}


def _state(p: dict, it: int, gen: torch.Generator, history: list, o: dict, cost: dict | None) -> dict:
    return {
        "key": _key(o),
        "cost": cost,  # CPU and wall seconds of every call so far (None: a state saved before timing)
        "iteration": it,
        "generator": gen.get_state(),
        "history": history,
        "G": p["G"].state_dict(),
        "G_opt": p["G"].optimizer.state_dict(),
        "D": p["D"].state_dict(),
        "D_opt": p["D_opt"].state_dict(),
    }


def _restore(p: dict, st: dict) -> None:
    p["G"].load_state_dict(st["G"])
    p["G"].optimizer.load_state_dict(st["G_opt"])
    p["D"].load_state_dict(st["D"])
    p["D_opt"].load_state_dict(st["D_opt"])


def search(cfg: TrainConfig, out: Path, options: dict, trial_opts: dict, progress: bool) -> dict:
    """Train G against D; write ``tanda.pt`` (the generator), a gallery and the summary."""
    o, ds = options, prepare_data(cfg)
    p = _parts(cfg, o, ds)
    seqs, base = TFSequence(), base_pipeline({"base": o["base"]})
    gen, it, history, before = (
        torch.Generator().manual_seed(cfg.seed),
        0,
        [],
        {"cpu_seconds": 0.0, "wall_seconds": 0.0},
    )
    if (out / STATE_FILE).is_file():
        st = load_torch(out / STATE_FILE)
        check_resumable(st.get("key"), _key(o), out)
        _restore(p, st)
        gen.set_state(st["generator"])
        it, history, before = st["iteration"], st["history"], st.get("cost")
    t0, c0, n = time.perf_counter(), time.process_time(), ds.train_x.shape[0]
    total = before  # the cost stored with the state: a finished search re-called adds nothing

    def spent() -> dict | None:  # all calls' training time, as of now
        if before is None:
            return None
        return {"cpu_seconds": before["cpu_seconds"] + time.process_time() - c0,
                "wall_seconds": before["wall_seconds"] + time.perf_counter() - t0}  # fmt: skip

    while it < o["iterations"]:
        idx = randint(n, (2, o["batch"]), gen, "cpu")
        history.append(_step(p, ds.train_x[idx[0]], ds.train_x[idx[1]], seqs, base, gen))
        it += 1
        if it % o["save_every"] == 0 or it == o["iterations"]:
            total = spent()
            atomic_save_torch(out / STATE_FILE, _state(p, it, gen, history, o, total))
            if progress:
                h = history[-1]
                print(
                    f"tanda: iteration {it}/{o['iterations']}, D loss {h['d_loss']:.3f}, "
                    f"reward {h['reward']:.3f}, entropy {h['entropy']:.2f}"
                )
    result = {
        "kind": o["generator"],
        "length": o["length"],
        "weights": p["G"].state_dict(),
        "tfs": [list(t) for t in TFS],
    }
    atomic_save_torch(out / RESULT_FILE, result)
    tokens = p["G"].sample(8, torch.Generator().manual_seed(0))
    shown = [("original", ds.train_x[:8])]
    shown += [
        (f"draw {k + 1}", seqs.apply_sequences(ds.train_x[:8], tokens, torch.Generator().manual_seed(k)))
        for k in range(3)
    ]
    atomic_write_bytes(out / "policy_gallery.png", grid_png(shown))
    summary = {
        "method": "tanda",
        "options": o,
        "generator_file": str(out / RESULT_FILE),
        "replay": f"tanda:file={out / RESULT_FILE}",
        "iterations": it,
        "final": history[-1],
        "cost": _cost(total, time.process_time() - c0, time.perf_counter() - t0),
        "gallery_written": True,
    }
    atomic_write_text(out / "search.json", json.dumps({**summary, "history": history[-50:]}, indent=1))
    return summary


def _cost(total: dict | None, cpu_now: float, wall_now: float) -> dict:
    """The search's cost over all its calls (None if its state predates timing) and this call's."""
    return {
        "cpu_minutes": None if total is None else total["cpu_seconds"] / 60,
        "wall_minutes": None if total is None else total["wall_seconds"] / 60,
        "cpu_minutes_this_call": cpu_now / 60,
        "wall_minutes_this_call": wall_now / 60,
    }
