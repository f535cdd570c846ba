"""Tests for augkit.evaluate: hand-computed metrics, calibration, FGSM/I-FGSM, TTA, OOD AUROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from torch import nn

from augkit.evaluate import (
    accuracy_metrics,
    auroc,
    calibration,
    evaluate_logits,
    fgsm_attack,
    fgsm_error,
    hflip,
    identity,
    ood_auroc,
    per_class_error,
    predict,
    shift_view,
    tta_error,
    tta_predict,
)
from augkit.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- accuracy
def test_accuracy_metrics_hand_case() -> None:
    p = torch.tensor(
        [
            [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # label 0 ranks 1st
            [0.3, 0.25, 0.2, 0.1, 0.05, 0.05, 0.05],  # label 2 ranks 3rd: top-1 wrong, top-5 right
            [0.3, 0.2, 0.2, 0.1, 0.1, 0.07, 0.03],  # label 6 ranks 7th: both wrong
        ],
        dtype=torch.float64,
    )
    y = torch.tensor([0, 2, 6])
    m = accuracy_metrics(p.log(), y)  # log-probabilities are valid logits
    assert m["top1_error"] == pytest.approx(2 / 3)
    assert m["top5_error"] == pytest.approx(1 / 3)
    # NLL = -(ln 0.4 + ln 0.2 + ln 0.03) / 3 = (0.9162907 + 1.6094379 + 3.5065579) / 3 = 2.0107622
    assert m["nll"] == pytest.approx(2.0107622, abs=1e-6)
    assert m["n"] == 3


def test_top5_not_above_top1_and_small_k() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=g)
    y = torch.randint(0, 10, (500,), generator=g)
    m = accuracy_metrics(logits, y)
    assert m["top5_error"] <= m["top1_error"]
    assert 0.3 < m["top5_error"] < 0.7  # ~0.5 for random logits: top-5 really uses 5 of 10
    m3 = accuracy_metrics(logits[:, :3], y.clamp(max=2))  # K < 5: top-K = all classes
    assert m3["top5_error"] == 0.0
    with pytest.raises(ValueError, match="labels"):
        accuracy_metrics(logits, y + 10)


# ----------------------------------------------------------------------------- calibration
def test_calibration_hand_case() -> None:
    # 5 bins with edges 0, .2, .4, .6, .8, 1 (Guo et al.: ((m-1)/M, m/M]).
    probs = torch.tensor(
        [
            [0.9, 0.05, 0.05],  # conf .9 -> bin 4, predicted 0, y 0: correct
            [0.05, 0.9, 0.05],  # conf .9 -> bin 4, predicted 1, y 2: wrong
            [0.2, 0.1, 0.7],  # conf .7 -> bin 3, predicted 2, y 2: correct
            [0.45, 0.55, 0.0],  # conf .55 -> bin 2, predicted 1, y 0: wrong
        ]
    )
    y = torch.tensor([0, 2, 2, 0])
    c = calibration(probs, y, n_bins=5)
    # bin 4: acc .5, conf .9; bin 3: acc 1, conf .7; bin 2: acc 0, conf .55
    # ECE = 2/4*|.5-.9| + 1/4*|1-.7| + 1/4*|0-.55| = .2 + .075 + .1375 = .4125
    assert c["ece"] == pytest.approx(0.4125, abs=1e-6)
    # OE = 2/4*.9*max(.9-.5,0) + 1/4*.7*max(.7-1,0) + 1/4*.55*max(.55-0,0) = .18 + 0 + .075625 = .255625
    assert c["oe"] == pytest.approx(0.255625, abs=1e-6)
    assert c["mce"] == pytest.approx(0.55, abs=1e-6)
    assert c["accuracy"] == pytest.approx(0.5)
    bins = c["bins"]
    assert bins["count"] == [0, 0, 1, 1, 2]
    assert bins["accuracy"][2:] == pytest.approx([0.0, 1.0, 0.5])
    assert bins["confidence"][2:] == pytest.approx([0.55, 0.7, 0.9])
    assert bins["edges"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_calibration_bin_edges_are_right_closed() -> None:
    # 4 bins, edges 0, .25, .5, .75, 1 (exact in binary).  conf .75 belongs to (.5, .75], conf 1 to (.75, 1].
    probs = torch.tensor([[0.75, 0.25], [0.0, 1.0], [0.6, 0.4]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0])  # correct, wrong, correct
    c = calibration(probs, y, n_bins=4)
    assert c["bins"]["count"] == [0, 0, 2, 1]
    # bin 2: acc 1, conf (.75 + .6)/2 = .675; bin 3: acc 0, conf 1.
    # ECE = 2/3*|1-.675| + 1/3*|0-1| = .216667 + .333333 = .55  (left-closed bins would give .383333)
    assert c["ece"] == pytest.approx(0.55, abs=1e-9)
    # OE = 2/3*.675*max(.675-1, 0) + 1/3*1*max(1-0, 0) = 1/3
    assert c["oe"] == pytest.approx(1 / 3, abs=1e-9)


def test_perfectly_calibrated_gives_zero_ece() -> None:
    # exact: in each bin the fraction correct equals the (single) confidence value
    rows, labels = [], []
    for conf, n_right in [(0.55, 11), (0.65, 13), (0.75, 15), (0.85, 17), (0.95, 19)]:
        for i in range(20):
            rows.append([conf, 1 - conf])
            labels.append(0 if i < n_right else 1)
    c = calibration(torch.tensor(rows, dtype=torch.float64), torch.tensor(labels))
    assert c["ece"] == pytest.approx(0.0, abs=1e-12)
    assert c["oe"] == pytest.approx(0.0, abs=1e-12)
    # sampled: correct with probability equal to the confidence
    rng = np.random.default_rng(0)
    n = 200_000
    conf = rng.uniform(0.1, 1.0, n)
    k = 10
    other = (1 - conf) / (k - 1)
    probs = np.repeat(other[:, None], k, axis=1)
    probs[:, 0] = conf
    probs = probs / probs.sum(1, keepdims=True)
    right = rng.uniform(size=n) < probs.max(1)
    pred = probs.argmax(1)
    y = np.where(right, pred, (pred + 1) % k)
    c = calibration(torch.from_numpy(probs), torch.from_numpy(y))
    assert c["ece"] < 0.01
    # and a miscalibrated copy (same predictions, confidences pushed towards 1) is clearly worse
    sharp = torch.softmax(3.0 * torch.from_numpy(probs).log(), dim=1)
    c_sharp = calibration(sharp, torch.from_numpy(y))
    assert c_sharp["ece"] > 0.05 and c_sharp["oe"] > 0.03


def test_oe_never_exceeds_ece_and_counts_add_up() -> None:
    g = torch.Generator().manual_seed(1)
    probs = torch.softmax(2 * torch.randn(1000, 5, generator=g), dim=1)
    y = torch.randint(0, 5, (1000,), generator=g)
    c = calibration(probs, y)
    assert 0.0 <= c["oe"] <= c["ece"] <= 1.0
    assert sum(c["bins"]["count"]) == 1000 and len(c["bins"]["edges"]) == 16
    with pytest.raises(ValueError, match="softmax"):
        calibration(torch.randn(4, 3, generator=g), torch.tensor([0, 1, 2, 0]))
    s = evaluate_logits(torch.randn(50, 5, generator=g), torch.randint(0, 5, (50,), generator=g))
    assert {"top1_error", "top5_error", "nll", "ece", "oe", "mce"} <= set(s)


def test_per_class_error_hand_case() -> None:
    logits = torch.eye(4)[[0, 1, 1, 2]]  # predictions 0, 1, 1, 2
    y = torch.tensor([0, 0, 1, 2])
    e = per_class_error(logits, y, 4)
    # class 0: 1 wrong of 2; class 1: 0 of 1; class 2: 0 of 1; class 3: absent -> NaN
    assert e[:3].tolist() == [0.5, 0.0, 0.0] and math.isnan(e[3].item())


# ----------------------------------------------------------------------------- AUROC
def test_auroc_hand_case_and_ties() -> None:
    # pairs won by positives: .9 beats 3, .8 beats 3, .4 beats .1 and ties .4 (1.5): 7.5 / 9
    assert auroc(torch.tensor([0.9, 0.8, 0.4]), torch.tensor([0.7, 0.4, 0.1])) == pytest.approx(7.5 / 9)
    assert auroc(torch.ones(5), torch.ones(7)) == pytest.approx(0.5)
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 0.0
    rng = np.random.default_rng(2)
    pos, neg = rng.integers(0, 6, 300), rng.integers(0, 5, 200)  # many ties
    ref = roc_auc_score(np.r_[np.ones(300), np.zeros(200)], np.r_[pos, neg])
    assert auroc(torch.from_numpy(pos), torch.from_numpy(neg)) == pytest.approx(ref, abs=1e-12)


class _MeanLogit(nn.Module):
    """logits = [10 * mean(x), 0]: the max softmax probability grows with |mean brightness|."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.float().mean(dim=(1, 2, 3)) * self.scale
        return torch.stack([m, torch.zeros_like(m)], dim=1)


def test_ood_auroc_with_model() -> None:
    # in: means .8, .6, .4 -> logit gaps 8, 6, 4; out: means .5, .4, 0 -> gaps 5, 4, 0.
    # Same pair count as the hand case above: (3 + 3 + 1.5) / 9, the .4/.4 pair a tie.
    x_in = torch.tensor([0.8, 0.6, 0.4]).view(3, 1, 1, 1).expand(3, 1, 4, 4).contiguous()
    x_out = torch.tensor([0.5, 0.4, 0.0]).view(3, 1, 1, 1).expand(3, 1, 4, 4).contiguous()
    assert ood_auroc(_MeanLogit(), x_in, x_out, batch_size=2) == pytest.approx(7.5 / 9)


# ----------------------------------------------------------------------------- predict / TTA
def _cnn() -> nn.Module:
    return build_model("small_cnn", 1, 4, [0.5], [0.25], generator=0)


def test_predict_batched_and_restores_mode() -> None:
    m = _cnn().train()
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    a = predict(m, x, batch_size=3)
    assert m.training  # mode restored
    m.eval()
    with torch.no_grad():
        assert torch.allclose(a, m(x), atol=1e-5)
    assert a.shape == (10, 4) and not a.requires_grad


def test_tta_identity_equals_plain_prediction_and_flip_average() -> None:
    m = _cnn()
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    plain = torch.softmax(predict(m, x).double(), dim=1).float()
    assert torch.allclose(tta_predict(m, x, [identity]), plain, atol=1e-7)
    both = tta_predict(m, x, [identity, hflip], batch_size=4)
    flipped = torch.softmax(predict(m, x.flip(-1)).double(), dim=1).float()
    assert torch.allclose(both, (plain + flipped) / 2, atol=1e-6)
    y = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(5))
    assert tta_error(m, x, y, [identity]) == pytest.approx((plain.argmax(1) != y).float().mean().item())


def test_shift_view() -> None:
    x = torch.arange(1, 10, dtype=torch.uint8).view(1, 1, 3, 3)
    right_down = shift_view(1, 1)(x)
    assert right_down.dtype == torch.uint8
    assert right_down[0, 0].tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]
    assert shift_view(-1, 0)(x)[0, 0].tolist() == [[2, 3, 0], [5, 6, 0], [8, 9, 0]]


# ----------------------------------------------------------------------------- FGSM / I-FGSM
@pytest.fixture(scope="module")
def digits_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP trained on sklearn digits (full-batch Adam, under a second) and a held-out uint8 set."""
    d = load_digits()
    x = torch.from_numpy(np.rint(d.images * 255.0 / 16.0)).to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(d.target).long()
    g = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model = model.to_empty(device="cpu")
    for layer in (model[1], model[3]):
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=g)
        nn.init.zeros_(layer.bias)
    xf = x[:1200].float() / 255.0
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        loss = nn.functional.cross_entropy(model(xf), y[:1200])
        opt.zero_grad()
        loss.backward()
        opt.step()
    opt.zero_grad()  # grads back to None, so the attack test can see that it adds none
    return model, x[1200:], y[1200:]


def test_fgsm_eps_zero_is_clean_error(digits_model) -> None:
    model, x, y = digits_model
    clean = (predict(model, x.float() / 255.0).argmax(1) != y).sum().item() / len(y)
    assert clean < 0.1  # the model is trained
    assert fgsm_error(model, x, y, 0.0, batch_size=100) == pytest.approx(clean, abs=1e-12)
    assert fgsm_error(model, x, y, 0.0, steps=5, batch_size=100) == pytest.approx(clean, abs=1e-12)


def test_fgsm_error_non_decreasing_in_eps_and_ifgsm_stronger(digits_model) -> None:
    model, x, y = digits_model
    eps_list = [0, 2, 4, 8, 16, 32]
    errors = [fgsm_error(model, x, y, e) for e in eps_list]
    assert all(b >= a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] > errors[0] + 0.3, errors  # a real attack, not noise (a sign bug would lower it)
    # uint8 input equals its float/255 version
    assert fgsm_error(model, x.float() / 255.0, y, 8) == errors[3]
    for i, eps in [(3, 8), (4, 16)]:
        iterative = fgsm_error(model, x, y, eps, steps=10)
        assert iterative >= errors[i] - 0.01, (eps, iterative, errors[i])


def test_fgsm_attack_stays_in_ball_and_leaves_model_alone(digits_model) -> None:
    model, x, y = digits_model
    model.train()
    x_adv = fgsm_attack(model, x, y, 8, steps=5, step_size=3)
    x0 = x.float() / 255.0
    assert (x_adv - x0).abs().max().item() <= 8 / 255 + 1e-6
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    assert (x_adv - x0).abs().max().item() >= 8 / 255 - 1e-6  # the budget is used
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    with pytest.raises(ValueError, match="eps_pixels"):
        fgsm_error(model, x, y, -1)
