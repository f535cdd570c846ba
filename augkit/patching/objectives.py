"""CLAMP's second-stage objectives (Goel et al. 2021, section 3.2; the seed's ``004_...`` part 4).

**Subgroup consistency.**  For an image x of class y and its translations into every subgroup of
y (x itself standing for its own subgroup), with predictions p_j and their mean m:
``L_t = KL(p_x || m)`` pulls the prediction on x towards the average prediction over its
subgroup versions, and ``L_s = (1/k) sum_j KL(p_j || m)`` (the generalised Jensen-Shannon
divergence) makes the versions agree with each other.  The penalty is ``(L_t + L_s) / 2``, which
for two subgroups is the released code's 0.5 / 0.25 / 0.25 weighting ("camel" consistency), times
the penalty weight (5 in the released MNIST-Correlation config).

**Class-conditional group DRO** (Sagawa et al. 2020, extended per class by Goel et al.): one
adversarial weight per subgroup, ``q_g ∝ exp(eta * sum of past adjusted losses)``, normalised
*within each class*; the objective is the classes' equal-weight average of their q-weighted
subgroup losses, so each class optimises its own worst subgroup.  The adjusted loss adds the
generalisation adjustment ``C / sqrt(n_g)`` (Sagawa et al.; C = 1 and eta = 0.01 in the released
config); the adjustment moves q only (it is constant in the weights).

Choices left open: batches are drawn at random from the whole training set (the released code
draws one batch per subgroup), so a subgroup absent from a batch keeps its q logit and gets no
weight in that step (its class's weights are renormalised over the subgroups present).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ClassConditionalGDRO", "camel_consistency"]


def camel_consistency(logits_x: Tensor, logits_versions: list[Tensor]) -> Tensor:
    """Mean over the batch of ``(KL(p_x || m) + mean_j KL(p_j || m)) / 2``; 0 when all agree."""
    logp = [F.log_softmax(z.float(), dim=1) for z in logits_versions]
    log_m = torch.logsumexp(torch.stack(logp), dim=0) - torch.log(torch.tensor(float(len(logp))))

    def kl(lp: Tensor) -> Tensor:  # KL(p || m) per sample
        return (lp.exp() * (lp - log_m)).sum(1)

    l_t = kl(F.log_softmax(logits_x.float(), dim=1))
    l_s = torch.stack([kl(lp) for lp in logp]).mean(0)
    return (0.5 * (l_t + l_s)).mean()


class ClassConditionalGDRO:
    """Online subgroup weights per class; :meth:`loss` updates them and returns the robust loss."""

    def __init__(
        self, group_class: Tensor, group_counts: Tensor, eta: float = 0.01, adjust: float = 1.0
    ) -> None:
        if group_class.shape != group_counts.shape or group_class.ndim != 1:
            raise ValueError("group_class and group_counts must be (G,) tensors of the same length")
        if not eta >= 0 or not adjust >= 0:
            raise ValueError(f"eta and adjust must be >= 0, got {eta!r} and {adjust!r}")
        self.group_class = group_class.long()
        self.adj = adjust / group_counts.float().clamp_min(1).sqrt()
        self.eta = float(eta)
        self.logits = torch.zeros(group_class.shape[0])

    def weights(self, present: Tensor | None = None) -> Tensor:
        """q: per-class softmax of the logits over the subgroups ``present`` (all by default)."""
        present = torch.ones_like(self.logits, dtype=torch.bool) if present is None else present
        z = self.logits.masked_fill(~present, -torch.inf)
        k = int(self.group_class.max()) + 1
        cls_max = torch.full((k,), -torch.inf).scatter_reduce(0, self.group_class, z, "amax")
        e = (z - cls_max[self.group_class].nan_to_num(neginf=0.0)).exp()
        norm = torch.zeros(k).index_add(0, self.group_class, e)
        return e / norm[self.group_class].clamp_min(1e-30)

    def loss(self, per_sample: Tensor, groups: Tensor) -> Tensor:
        """Robust loss of one batch (``per_sample`` losses, each sample's subgroup id)."""
        dev, g_all = per_sample.device, self.logits.shape[0]
        groups = groups.to(dev)
        counts = torch.zeros(g_all, device=dev).index_add(0, groups, torch.ones_like(per_sample))
        sums = torch.zeros(g_all, device=dev, dtype=per_sample.dtype).index_add(0, groups, per_sample)
        group_loss = sums / counts.clamp_min(1)
        present = (counts > 0).cpu()
        with torch.no_grad():
            self.logits[present] += self.eta * (group_loss.detach().cpu() + self.adj)[present]
        q = self.weights(present).to(dev)
        classes = self.group_class[present].unique()
        cls_of = self.group_class.to(dev)
        per_class = torch.zeros(int(self.group_class.max()) + 1, device=dev, dtype=per_sample.dtype)
        per_class = per_class.index_add(0, cls_of, q * group_loss)
        return per_class[classes.to(dev)].mean()

    def state_dict(self) -> dict:
        return {"logits": self.logits.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.logits = state["logits"].clone().float()
