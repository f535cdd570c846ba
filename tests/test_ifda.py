"""IF-DA (Lee et al., CVPR 2020): influence mathematics against exact retraining, E/G plumbing, stages.

The influence checks use multinomial logistic regression (a convex model, float64) on PCA features
of scikit-learn's digits: the prediction ``(1/N) s_val . grad l(z_i)`` of Eq. 10 and
``(1/N) I_aug`` of Eq. 15 are compared with the change in validation loss after retraining to
convergence with Newton's method (the eps = -1/N and eps = 1/N perturbations themselves).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from augkit.data import ImageDataset
from augkit.ifda import influence as inf
from augkit.ifda.gan import identity_pretrain, ragan_losses
from augkit.ifda.stages import IFDAOptions
from augkit.ifda.transforms import AugNet
from augkit.models import build_model
from augkit.search.ifda import run_stages

L2 = 0.01
SLOPE_TOL = 0.2  # least-squares slope of actual on predicted must lie in [1 - tol, 1 + tol]


@pytest.fixture(scope="module")
def problem():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    Z = Xc @ vt[:20].T / 3.0  # 20 PCA features, roughly unit scale
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, va = idx[:200], idx[200:400]
    h = torch.tensor(Z[tr], dtype=torch.float64)
    yt = torch.tensor(y[tr])
    hv = torch.tensor(Z[va], dtype=torch.float64)
    yv = torch.tensor(y[va])
    W, b = inf.fit_softmax_regression(h, yt, 10, L2)
    _assert_minimiser(h, yt, W, b)
    s_val = inf.val_influence_vector(h, hv, yv, W, b, method="exact", l2=L2, l2_bias=True)
    return h, yt, hv, yv, W, b, s_val


# The ground truth is computed independently of augkit.ifda.influence: the loss is written out
# here with torch's cross-entropy, and every retrained model is certified as the minimiser by
# autograd of that objective (the library's Newton fit uses the same per-sample gradients and
# Hessian as the influence estimates, so its output alone would be a shared oracle).


def _ce(h, y, W, b, weights=None):  # noqa: ANN001, ANN202
    """(1/N) sum_i w_i CE(h_i W^T + b, y_i), N the number of rows."""
    per = F.cross_entropy(h @ W.T + b, y, reduction="none")
    return (per if weights is None else per * weights).mean()


def _assert_minimiser(h, y, W, b, weights=None) -> None:  # noqa: ANN001
    """(W, b) minimises (1/N) sum w_i l_i + (L2/2)(|W|^2 + |b|^2): its autograd gradient vanishes."""
    Wl, bl = W.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    obj = _ce(h, y, Wl, bl, weights) + 0.5 * L2 * (Wl.pow(2).sum() + bl.pow(2).sum())
    gw, gb = torch.autograd.grad(obj, (Wl, bl))
    norm = float(torch.cat([gw.flatten(), gb]).norm())
    assert norm < 1e-8, f"retrained model is not the minimiser: |grad| = {norm:.2e}"


def _check_agreement(pred: np.ndarray, actual: np.ndarray) -> None:
    r = np.corrcoef(pred, actual)[0, 1]
    slope = float(pred @ actual / (pred @ pred))
    assert r >= 0.95, f"Pearson r {r:.3f}"
    assert abs(slope - 1) <= SLOPE_TOL, f"slope {slope:.3f}"


def _picks(score: torch.Tensor, n_top: int = 12, n_rand: int = 8) -> list[int]:
    top = score.abs().argsort(descending=True)[:n_top].tolist()
    rest = [
        i
        for i in torch.randperm(score.numel(), generator=torch.Generator().manual_seed(1)).tolist()
        if i not in top
    ]
    return top + rest[:n_rand]


def test_up_loss_predicts_leave_one_out(problem):
    h, y, hv, yv, W, b, s_val = problem
    N = h.shape[0]
    base = _ce(hv, yv, W, b)
    pred_all = -inf.influence_up_loss(s_val, h, y, W, b) / N  # Eq. 10: removal changes by -(1/N) I_up
    theta0 = inf.theta_of(W, b).flatten()
    pred, actual = [], []
    for i in _picks(pred_all):
        w = torch.ones(N, dtype=h.dtype)
        w[i] = 0
        W2, b2 = inf.fit_softmax_regression(h, y, 10, L2, weights=w, theta0=theta0)
        _assert_minimiser(h, y, W2, b2, w)
        pred.append(float(pred_all[i]))
        actual.append(float(_ce(hv, yv, W2, b2) - base))
    _check_agreement(np.array(pred), np.array(actual))


def test_aug_predicts_replacement(problem):
    h, y, hv, yv, W, b, s_val = problem
    N = h.shape[0]
    base = _ce(hv, yv, W, b)
    other = h[torch.roll(torch.arange(N), 7)]
    h_aug = 0.6 * h + 0.4 * other  # z~: the feature moved toward another sample, label kept
    pred_all = inf.influence_aug(s_val, h, h_aug, y, W, b) / N  # Eq. 15: replacement changes by +(1/N) I_aug
    theta0 = inf.theta_of(W, b).flatten()
    pred, actual = [], []
    for i in _picks(pred_all):
        h2 = h.clone()
        h2[i] = h_aug[i]
        W2, b2 = inf.fit_softmax_regression(h2, y, 10, L2, theta0=theta0)
        _assert_minimiser(h2, y, W2, b2)
        pred.append(float(pred_all[i]))
        actual.append(float(_ce(hv, yv, W2, b2) - base))
    _check_agreement(np.array(pred), np.array(actual))


def test_closed_form_hessian_and_grads_match_autograd():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    W = torch.randn(3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    l2 = 0.3

    def f(theta):  # the objective written out here, not with inf.mean_loss
        Wt, bt = theta.reshape(3, 5)[:, :4], theta.reshape(3, 5)[:, 4]
        return _ce(h, y, Wt, bt) + 0.5 * l2 * (Wt * Wt).sum()

    theta = inf.theta_of(W, b).flatten()
    H_auto = torch.autograd.functional.hessian(f, theta)
    H = inf.hessian(h, W, b, l2=l2, l2_bias=False, chunk=7)
    torch.testing.assert_close(H, H_auto, rtol=1e-10, atol=1e-12)
    v = torch.randn(15, generator=g, dtype=torch.float64)
    torch.testing.assert_close(inf.hvp(h, W, b, v, l2=l2), H @ v, rtol=1e-10, atol=1e-12)
    grads = inf.per_sample_grads(h, y, W, b)
    auto = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda t, i=i: _ce(h[i : i + 1], y[i : i + 1], t.reshape(3, 5)[:, :4], t.reshape(3, 5)[:, 4]),
                theta,
            )
            for i in range(3)
        ]
    )
    torch.testing.assert_close(grads[:3], auto)
    s = torch.randn(15, generator=g, dtype=torch.float64)
    # I_up(z) = -s . grad l(z) (Eq. 10), against the autograd gradients
    torch.testing.assert_close(inf.influence_up_loss(s, h[:3], y[:3], W, b), -(auto @ s))


def test_ihvp_solvers_agree(problem):
    h, y, hv, yv, W, b, _ = problem
    v = inf.per_sample_grads(hv, yv, W, b).mean(0)
    kw = {"damping": 0.01, "l2": L2, "l2_bias": True}
    exact = inf.inverse_hvp(v, h, W, b, "exact", **kw)
    cg = inf.inverse_hvp(v, h, W, b, "cg", **kw)
    lissa = inf.inverse_hvp(v, h, W, b, "lissa", depth=3000, **kw)
    rel = lambda a: float((a - exact).norm() / exact.norm())  # noqa: E731
    assert rel(cg) < 1e-8
    assert rel(lissa) < 1e-3
    # stochastic LiSSA (minibatch HVPs, several repeats) is near, not equal
    noisy = inf.inverse_hvp(
        v,
        h,
        W,
        b,
        "lissa",
        depth=1500,
        batch_size=100,
        repeats=2,
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    assert rel(noisy) < 0.2
    with pytest.raises(ValueError, match="method"):
        inf.inverse_hvp(v, h, W, b, "newton")


def _tiny_aug(channels: int, **kw) -> AugNet:
    return AugNet(channels, (16, 16), generator=torch.Generator().manual_seed(0), tau_dim=16, width=16, **kw)


@pytest.mark.parametrize("channels,combine", [(1, "parallel"), (3, "parallel"), (3, "series")])
def test_gradients_reach_every_parameter_of_e_and_g(channels, combine):
    g = torch.Generator().manual_seed(0)
    model = build_model("small_cnn", channels, 4, [0.5] * channels, [0.25] * channels, generator=0).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    aug = _tiny_aug(channels, combine=combine)
    x = torch.rand(8, channels, 16, 16, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    W, b = model.head.fc.weight, model.head.fc.bias
    s_val = torch.randn(W.numel() + b.numel(), generator=g)
    with torch.no_grad():
        h0 = model.embed(x)
    loss = inf.influence_aug(s_val, h0, model.embed(aug(x, generator=g)), y, W, b).mean()
    loss.backward()
    names = [n for n, p in aug.named_parameters() if p.grad is None or not bool(p.grad.abs().gt(0).any())]
    assert not names, f"no gradient reached {names}"
    assert all(p.grad is None for p in model.parameters())


def test_trust_region_keeps_stage3_near_the_pretrained_transform():
    """``trust`` > 0 anchors E/G to their pretrained output; ``trust`` = 0 (the paper) drifts further."""
    from augkit.ifda.stages import train_eg

    g = torch.Generator().manual_seed(0)
    model = build_model("small_cnn", 1, 4, [0.5], [0.25], generator=0).eval()
    x = (torch.rand(32, 1, 16, 16, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 4, (32,), generator=g)
    W, b = model.head.fc.weight, model.head.fc.bias
    s_val = torch.randn(W.numel() + b.numel(), generator=g, dtype=torch.float64)
    drift = {}
    for trust in (0.0, 1e4):
        aug = _tiny_aug(1)
        pre = _tiny_aug(1).eval()
        opts = IFDAOptions(eg_epochs=20, lr_eg=1e-2, trust=trust, dropout=0.0)
        hist = train_eg(aug, model, s_val, x, y, lambda t, generator: t, opts, 16, torch.Generator(), "cpu")
        with torch.no_grad():
            xf = x.float() / 255
            drift[trust] = (aug(xf) - pre(xf)).pow(2).mean().item()
        assert len(hist) == 20 and all(torch.isfinite(torch.tensor(h["mean_I_aug"])) for h in hist)
    assert drift[1e4] < 0.25 * drift[0.0], drift


def test_identity_pretraining_gives_identity():
    g = torch.Generator().manual_seed(0)
    aug = _tiny_aug(3)
    x = (torch.rand(32, 3, 16, 16, generator=g) * 255).round().to(torch.uint8)
    xf = x.float() / 255
    aug.generators[0].last.weight.data.mul_(30)  # start far from the identity
    with torch.no_grad():
        before = float((aug(xf, generator=g) - xf).abs().mean())
    identity_pretrain(aug, x, steps=40, batch_size=16, generator=g)
    with torch.no_grad():
        after = float((aug(xf, generator=g) - xf).abs().mean())
    assert before > 0.05 and after < 0.01, (before, after)


@pytest.mark.parametrize(
    "channels,combine,mode",
    [
        (1, "parallel", "combined"),
        (3, "parallel", "combined"),
        (3, "series", "combined"),
        (3, "parallel", "spatial"),
        (3, "parallel", "appearance"),
    ],
)
def test_shapes(channels, combine, mode):
    aug = _tiny_aug(channels, combine=combine, mode=mode)
    x = torch.rand(5, channels, 16, 16, generator=torch.Generator().manual_seed(0))
    parts = aug.components(x, generator=torch.Generator().manual_seed(1))
    n_tau = 32 if (combine == "series" and channels == 3 and mode == "combined") else 16
    assert parts["tau"].shape == (5, n_tau)
    assert parts["flow"].shape == (5, 2, 16, 16)
    for k in ("spatial", "delta", "out"):
        assert parts[k].shape == x.shape
    assert parts["out"].min() >= 0 and parts["out"].max() <= 1
    assert aug.mode == ("spatial" if channels == 1 else mode)
    if mode == "appearance":
        assert bool((parts["spatial"] == x).all())
    # a given tau reproduces the dropout-free transform
    out = aug.components(x, tau=aug.encode(x))["out"]
    torch.testing.assert_close(out, aug(x))


def test_ragan_losses_sign():
    d, gl = ragan_losses(torch.tensor([5.0, 4.0]), torch.tensor([-5.0, -4.0]))
    assert float(d) < 0.01 and float(gl) > 10  # critic separates: D loss small, G loss large


def _colour_fixture(n: int = 48) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 4
    base = torch.tensor([[220, 40, 40], [40, 200, 60], [50, 60, 210], [200, 200, 40]], dtype=torch.float32)
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    blob = (((yy - 8) ** 2 + (xx - 8) ** 2) < 25).float()
    img = base[y][:, :, None, None] * blob + 20 * torch.rand(n, 3, 16, 16, generator=g)
    x = img.clamp(0, 255).round().to(torch.uint8)
    return ImageDataset("colour-fixture", x, y, x[:16], y[:16], ("r", "g", "b", "y"))


_TINY = "if-da:tau=16,width=16,f_epochs=1,gan_epochs=1,eg_epochs=1,val=0.25"


def test_end_to_end_stages_resume_and_figures(tmp_path):
    from augkit.report.fig_ifda import figures
    from augkit.runs import TrainConfig, train_run

    ds = _colour_fixture()
    cfg = TrainConfig(dataset="colour-fixture", strategy=_TINY, epochs=1, batch_size=16, device="cpu")
    cpu0 = time.process_time()
    train_run(cfg, tmp_path / "run", progress=False, dataset=ds, final_eval=False)
    cpu_run = time.process_time() - cpu0
    root = tmp_path / "run" / "ifda"
    costs = json.loads((root / "costs.json").read_text())
    assert set(costs["stages"]) == {"0_classifier", "1_pretrain_g", "2_ihvp", "3_train_eg"}
    stages = costs["stages"].values()
    assert not any(c["cached"] for c in stages)
    # every stage did work, and the stages' CPU time, in minutes, fits inside the run's
    assert all(c["cpu_minutes"] > 0 for c in stages), costs
    assert sum(c["cpu_minutes"] for c in stages) * 60 <= cpu_run + 1e-3, (costs, cpu_run)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for k, c in costs["stages"].items():  # the run's first epoch logs the same numbers
        assert metrics[0][f"ifda_{k}_cpu_min"] == c["cpu_minutes"]
    # a rerun resumes every finished stage
    from augkit.strategies.registry import parse_strategy

    res = run_stages(ds, {**cfg.__dict__}, IFDAOptions.from_dict(parse_strategy(_TINY)[1]), root)
    assert all(c["cached"] for c in res.costs.values())
    figs = figures(
        [{"strategy": _TINY, "seed": 0, "run_dir": str(tmp_path / "run"), "metrics": metrics}],
        _TINY,
        {},
        tmp_path,
    )
    assert len(figs) == 2 and all(f.png.startswith(b"\x89PNG") for f in figs)


def test_same_seed_same_bits(tmp_path):
    ds = _colour_fixture(32)
    opts = IFDAOptions(tau=8, width=8, f_epochs=1, gan_epochs=1, eg_epochs=1, val=0.25)
    cfg = {"batch_size": 16, "epochs": 1, "seed": 3}
    a = run_stages(ds, cfg, opts, tmp_path / "a")
    b = run_stages(ds, cfg, opts, tmp_path / "b")
    assert torch.equal(a.s_val, b.s_val)
    for (n, p), q in zip(a.aug.state_dict().items(), b.aug.state_dict().values(), strict=True):
        assert torch.equal(p, q), n


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    aug = _tiny_aug(3)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cpu = aug(x)
    gpu = aug.to("cuda")(x.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
    h = torch.randn(20, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    W = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    b = torch.zeros(3, dtype=torch.float64)
    v = torch.ones(18, dtype=torch.float64)
    ref = inf.inverse_hvp(v, h, W, b, "exact", damping=0.1)
    for m in inf.SOLVERS:
        out = inf.inverse_hvp(v.cuda(), h.cuda(), W.cuda(), b.cuda(), m, damping=0.1, depth=3000)
        torch.testing.assert_close(out.cpu(), ref, rtol=1e-3, atol=1e-6)


def test_stage0_trains_f_with_the_runs_loop_options(tmp_path):
    """Stage 0 takes the run's warmup, label smoothing and schedule (it once rebuilt SGD by hand and
    dropped them); only the budget, device, evaluation and ragged-batch handling are its own."""
    seen = []

    class Stop(Exception):
        pass

    def fit(model, data, strategy, optim, out_dir, **kw):
        seen.append(optim)
        raise Stop

    ds = _colour_fixture(32)
    opts = IFDAOptions(tau=8, width=8, f_epochs=3, gan_epochs=1, eg_epochs=1, val=0.25)
    cfg = {"batch_size": 16, "epochs": 7, "seed": 0, "label_smoothing": 0.1, "warmup_epochs": 1.0,
           "schedule": "step", "drop_last": True, "eval_every": 2}  # fmt: skip
    with pytest.raises(Stop):
        run_stages(ds, cfg, opts, tmp_path / "r", fit=fit)
    (o,) = seen
    assert (o.label_smoothing, o.warmup_epochs, o.schedule, o.batch_size) == (0.1, 1.0, "step", 16)
    assert (o.epochs, o.eval_every, o.drop_last, o.device) == (3, 3, False, "cpu")
