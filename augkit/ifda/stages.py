"""IF-DA's stage computations (Lee et al., CVPR 2020, §3.4 and §4.3); :mod:`augkit.search.ifda` runs them.

§4.3: "Given F, the learning steps for training E and G are: (1) pretrain G in the GAN framework,
(2) compute iHVPs, and (3) train E and G to maximize the influence.  Classification model F is
retrained using augmented samples from learned E and G thereafter."  The directories follow that
numbering, with F's own training as stage 0 because the feature discriminator of (1) and the
influence of (2)-(3) both need a trained F:

    0_classifier   train F with the baseline augmentation on the training split
    1_pretrain_g   RaGAN pretraining of E and G to mimic the baseline (or identity / none)
    2_ihvp         s_val = (H + lambda I)^-1 grad_theta L(z_val) for theta = F's last FC layer
    3_train_eg     train E and G to minimise I_aug (see influence.py for the signs)
    (4)            retrain F from scratch with baseline + E/G samples: the run's own training loop

The stages are cached by :func:`augkit.search.cache.cached_stage` (a rerun with the same options
loads each artefact); ``costs.json`` sums up their costs.  Stage 0 trains F through the project's
one training loop (``augkit.train.fit``) with the baseline as a plain transform strategy.

Choices the paper leaves open:

* Validation split: the dataset's own, else a stratified ``val`` fraction (0.1) carved from the
  training images with the config's ``subset_seed`` (the paper's "hyper-validation set", §5.3).
  Stages 0-3 see only the rest; stage 4 (the run) trains on the whole training set as given.
* F in stage 0: the run's model architecture and loop options (lr, momentum, Nesterov, weight
  decay on weights only, schedule, warmup, label smoothing, amp, layout; every batch kept),
  ``f_epochs`` epochs (0: the run's epochs); one generator drives data order and augmentation.
* The Hessian is taken over the un-augmented training split's features at theta-hat (a
  deterministic empirical risk), with the weight decay as l2 on W and damping lambda = 0.01
  (Koh & Liang's value); all influence algebra is done in float64.
* How z~ is formed in stage 3: z = the baseline-augmented image, z~ = G(z, dropout(E(z))) with
  the same label; F is frozen in eval mode; the loss for E and G is the batch mean of
  ``I_aug(z, z~, z_val)`` (minimised: a negative value predicts a lower validation loss); Adam,
  lr ``lr_eg`` = 1e-4, betas (0.5, 0.999), ``eg_epochs`` passes over the training split.
* Trust region (departure, option ``trust``): the paper names no regulariser for stage 3, but
  I_aug is a first-order prediction, valid only for z~ near the samples F was fitted on; with
  nothing holding E/G back, minimising it on Fashion-MNIST drove the transforms to 90-degree
  rotations and heavy zooms (mean |x~ - x| 0.16 after pretraining -> 0.29 after stage 3, and
  57 % test error after retraining, docs/RESULTS.md).  ``trust = mu > 0`` adds
  ``mu * mean((x~ - x~_pre)^2)``, the squared distance to the pretrained model's output for the
  same image and dropout draw, so the influence steers the transform inside the region the
  pretrained G (a mimic of the baseline) already covers.  ``trust=0`` is the paper as written.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import sample
from ..data import ImageDataset
from ..data.subsets import train_val_split
from .influence import SOLVERS, influence_aug, mean_loss, val_influence_vector
from .transforms import COMBINES, MODES, AugNet

__all__ = ["PRETRAINS", "IFDAOptions", "embed", "influence_vector", "split_validation", "train_eg"]

PRETRAINS = ("gan", "identity", "none")


@dataclass
class IFDAOptions:
    tau: int = 128
    mode: str = "combined"  # combined | spatial | appearance (grey images: spatial)
    combine: str = "parallel"  # parallel | series
    pretrain: str = "gan"  # gan | identity | none
    f_epochs: int = 0  # 0 = the run's epochs
    gan_epochs: int = 5
    eg_epochs: int = 5
    solver: str = "exact"
    damping: float = 0.01
    val: float = 0.1
    lr_gan: float = 2e-4
    lr_eg: float = 1e-4
    trust: float = 0.0  # stage-3 trust region toward the pretrained G (0 = the paper as written)
    dropout: float = 0.5
    width: int = 64
    prob: float = 1.0  # fraction of each stage-4 batch transformed by E/G
    base: str = "standard"
    padding: int = 4
    fill: float = 0.0

    def __post_init__(self) -> None:
        choices = {"mode": MODES, "combine": COMBINES, "pretrain": PRETRAINS, "solver": SOLVERS}
        for k, valid in choices.items():
            if getattr(self, k) not in valid:
                raise ValueError(f"{k} must be one of {valid}, got {getattr(self, k)!r}")
        for k in ("tau", "width"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be a positive int, got {getattr(self, k)!r}")
        for k in ("f_epochs", "gan_epochs", "eg_epochs"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)!r}")
        if not 0 <= self.prob <= 1 or not 0 <= self.dropout < 1 or self.damping < 0 or not 0 < self.val:
            raise ValueError(
                f"invalid prob/dropout/damping/val: {self.prob}, {self.dropout}, {self.damping}, {self.val}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IFDAOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def split_validation(ds: ImageDataset, val: float, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train_x, train_y, val_x, val_y): the dataset's validation split, else a stratified carve-out."""
    if ds.val_x is not None and ds.val_x.shape[0]:
        return ds.train_x, ds.train_y, ds.val_x, ds.val_y
    size = int(val) if val >= 1 else val
    tr, va = train_val_split(ds.train_y, size, torch.Generator().manual_seed(seed))
    return ds.train_x[tr], ds.train_y[tr], ds.train_x[va], ds.train_y[va]


@torch.no_grad()
def embed(model: nn.Module, x: Tensor, device: torch.device, batch_size: int = 500) -> Tensor:
    """F's last-layer features (input of head.fc) for uint8 or float images, in eval mode."""
    model.eval()
    return torch.cat(
        [model.embed(x[i : i + batch_size].to(device)) for i in range(0, x.shape[0], batch_size)]
    )


def train_eg(
    aug: AugNet, model: nn.Module, s_val: Tensor, x: Tensor, y: Tensor, base, opts, bs: int, g, device
) -> list[dict]:
    """Stage 3: minimise the batch mean of I_aug(z, z~, z_val) over E and G (F frozen).

    With ``opts.trust > 0`` a frozen copy of the pretrained E/G anchors the transform (module doc).
    """
    anchor = copy.deepcopy(aug).eval() if opts.trust > 0 else None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    W, b = model.head.fc.weight, model.head.fc.bias
    s = s_val.to(device=device, dtype=W.dtype)
    opt = torch.optim.Adam(aug.parameters(), lr=opts.lr_eg, betas=(0.5, 0.999))
    history = []
    for epoch in range(opts.eg_epochs):
        total, n = 0.0, 0
        perm = sample.permutation(x.shape[0], g, "cpu")
        for i in range(0, x.shape[0], bs):
            idx = perm[i : i + bs]
            xb = base(x[idx].to(device), generator=g).float() / 255.0
            yb = y[idx].to(device)
            with torch.no_grad():
                h0 = model.embed(xb)
            state = g.get_state()  # the anchor sees the same dropout draw as the trained model
            xt = aug(xb, generator=g)
            h1 = model.embed(xt)
            i_aug = influence_aug(s, h0, h1, yb, W, b)
            loss = i_aug.mean()
            if anchor is not None:
                after = g.get_state()
                g.set_state(state)
                with torch.no_grad():
                    x_pre = anchor.train()(xb, generator=g)
                g.set_state(after)
                loss = loss + opts.trust * (xt - x_pre).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(i_aug.detach().sum())
            n += idx.numel()
        history.append({"epoch": epoch + 1, "mean_I_aug": total / max(n, 1)})
    return history



def influence_vector(
    model: nn.Module, tx: Tensor, vx: Tensor, vy: Tensor, opts: IFDAOptions, l2: float, device, generator
) -> dict:
    """Stage 2: ``s_val`` for F's last FC layer at theta-hat, in float64 (module doc)."""
    fc = model.head.fc
    Wd, bd = fc.weight.detach().double(), fc.bias.detach().double()
    h_tr = embed(model, tx, device).double()
    h_va = embed(model, vx, device).double()
    solver = {"method": opts.solver, "damping": opts.damping, "l2": l2}
    if opts.solver == "lissa":
        solver.update(depth=2000, batch_size=min(256, h_tr.shape[0]), generator=generator)
    s_val = val_influence_vector(h_tr, h_va, vy.to(device), Wd, bd, **solver)
    return {
        "s_val": s_val.cpu(),
        "val_loss": float(mean_loss(h_va, vy.to(device), Wd, bd)),
        "solver": solver.get("method"),
    }
