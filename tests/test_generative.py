"""Texture synthesis and style transfer on random-filter features (issue 15, first part)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from augkit.generative import RandomFeatures, gram, style_transfer, synthesize_texture


def _texture(name: str, side: int = 32) -> torch.Tensor:
    import skimage.data
    from PIL import Image

    im = np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize((side, side), Image.BILINEAR))
    return torch.from_numpy(im.copy())[None, None]


def test_gram_matches_a_direct_computation():
    f = torch.rand(2, 5, 4, 3, generator=torch.Generator().manual_seed(0))

    def one(b: int) -> torch.Tensor:
        return torch.tensor([[float((f[b, i] * f[b, j]).sum()) / 12 for j in range(5)] for i in range(5)])

    direct = torch.stack([one(0), one(1)])
    assert torch.allclose(gram(f), direct, atol=1e-6)


def test_random_features_are_seeded_and_zero_mean_unit_norm():
    a, b = RandomFeatures(1, 3), RandomFeatures(1, 3)
    assert all(torch.equal(x, y) for x, y in zip(a.buffers(), b.buffers(), strict=True))
    w = a.w0.flatten(1)
    assert torch.allclose(w.mean(1), torch.zeros(64), atol=1e-6)
    assert torch.allclose(w.norm(dim=1), torch.ones(64))
    with pytest.raises(ValueError, match="odd positive"):
        RandomFeatures(1, 0, scales=(4,))


def test_texture_synthesis_lowers_the_gram_loss_steadily_and_matches_its_own_target():
    targets = torch.cat([_texture("grass"), _texture("camera")])  # a texture and a photograph
    g = torch.Generator().manual_seed(0)
    feats = RandomFeatures(1, g)
    out, hist = synthesize_texture(targets, (32, 32), 80, g, features=feats)
    assert out.shape == (2, 1, 32, 32) and out.dtype == torch.uint8
    chunks = [float(np.mean(hist[i : i + 10])) for i in range(0, 80, 10)]
    assert all(b < a for a, b in zip(chunks, chunks[1:], strict=False)), chunks
    assert hist[-1] < 0.2 * hist[0]
    with torch.no_grad():  # each synthesised texture's statistics are closer to its own target's
        tg = [[gram(f) for f in feats(t.float() / 255)] for t in (targets[:1], targets[1:])]
        xg = [[gram(f) for f in feats(out[i : i + 1].float() / 255)] for i in range(2)]
        dist = lambda a, b: sum(float((p - q).pow(2).sum()) for p, q in zip(a, b, strict=True))  # noqa: E731
        own, other = [dist(xg[i], tg[i]) for i in range(2)], [dist(xg[i], tg[1 - i]) for i in range(2)]
    assert own[0] < other[0] and own[1] < other[1], (own, other)


def test_style_transfer_with_zero_style_weight_is_the_identity():
    content = _texture("camera")
    out, hist = style_transfer(content, _texture("brick"), 0.0, 20, torch.Generator().manual_seed(0))
    assert (out.int() - content.int()).abs().max() <= 1 and hist[-1] < 1e-8


def test_style_transfer_moves_towards_the_style_and_is_deterministic():
    content, style = _texture("camera"), _texture("brick")
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a, hist = style_transfer(content, style, 5.0, 40, g())
    b, _ = style_transfer(content, style, 5.0, 40, g())
    assert torch.equal(a, b) and hist[-1] < hist[0]
    with pytest.raises(ValueError, match="same batch and channels"):
        style_transfer(content, torch.cat([style, style]), 1.0, 1, g())


# --- AdaIN style network and style augmentation ------------------------------------------------


def test_adain_matches_the_target_statistics_and_style_crops_are_seeded():
    from augkit.generative.adain import adain, style_crops

    c = torch.rand(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor([[1.0, 2, 3, 4]] * 2), torch.tensor([[0.5, 1, 2, 3]] * 2)
    out = adain(c, mean, std)
    assert torch.allclose(out.mean(dim=(2, 3)), mean, atol=1e-4)
    assert torch.allclose(out.var(dim=(2, 3), unbiased=False).sqrt(), std, atol=1e-2)
    a, b = style_crops(6, (1, 12, 12), seed=3), style_crops(6, (1, 12, 12), seed=3)
    assert a.shape == (6, 1, 12, 12) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert style_crops(4, (3, 12, 12)).shape == (4, 3, 12, 12)


def test_style_search_trains_caches_and_the_strategy_keeps_shape_dtype_range(tmp_path):
    from augkit.runs import TrainConfig, prepare_data
    from augkit.search.style import search
    from augkit.strategies import build_strategy
    from augkit.strategies.base import Context

    ds = prepare_data(TrainConfig(dataset="digits", subset=200, val=0))
    opts = {"iterations": 30, "style_weight": 10.0, "crops": 16}
    art = search(ds, None, tmp_path, opts, {"seed": 0, "dataset": "digits"})
    assert art.summary["cached"] is False and art.chol.shape == (128, 128)
    again = search(ds, None, tmp_path, opts, {"seed": 0, "dataset": "digits"})
    assert again.summary["cached"] is True
    assert all(torch.equal(p, q) for p, q in zip(art.net.parameters(), again.net.parameters(), strict=True))
    s = build_strategy("style:alpha=1,p=1,base=none")
    s.load_artefact(art)
    ctx = Context(None, torch.device("cpu"), 10, torch.Generator().manual_seed(0), 0.0, epochs=1)
    s.setup(ctx)
    x = ds.train_x[:16]
    out = s.augment(x, ctx)
    assert out.shape == x.shape and out.dtype == torch.uint8 and not torch.equal(out, x)
    ctx.aug_generator = torch.Generator().manual_seed(0)
    assert torch.equal(out, s.augment(x, ctx))  # same generator state, same images
    off = build_strategy("style:p=0,base=none")
    off.load_artefact(art)
    assert torch.equal(off.augment(x, ctx), x)


# --- data distillation -------------------------------------------------------------------------


def test_unlabeled_pool_is_the_rest_of_the_training_set():
    from augkit.data import load_dataset
    from augkit.data.prepare import prepare_data, unlabeled_pool

    full = load_dataset("digits").train_x.shape[0]
    ds = prepare_data("digits", subset=300, val=100, subset_seed=2)
    pool = unlabeled_pool("digits", subset=300, val=100, subset_seed=2)
    assert pool.shape[0] + ds.train_x.shape[0] + ds.val_x.shape[0] == full
    assert torch.equal(pool, unlabeled_pool("digits", subset=300, val=100, subset_seed=2))
    assert unlabeled_pool("digits").shape[0] == 0  # no subset, nothing left out


def test_pseudo_labels_of_a_perfect_teacher_are_the_true_labels():
    from augkit.search.distill import pseudo_labels

    y = torch.arange(40) % 10
    x = (y * 20 + 10).to(torch.uint8)[:, None, None, None].expand(-1, 1, 8, 8).contiguous()

    class Oracle(torch.nn.Module):  # reads the class off the (flip-invariant) mean intensity
        def forward(self, x):
            m = x.float().mean(dim=(1, 2, 3)) * (255.0 if x.dtype != torch.uint8 else 1.0)
            return -((m[:, None] - (torch.arange(10) * 20 + 10)) ** 2)

    keep, labels, conf = pseudo_labels(Oracle(), x, "flip", threshold=0.0)
    assert torch.equal(labels, y) and keep.numel() == 40 and bool((conf > 0.99).all())
    keep, _, _ = pseudo_labels(Oracle(), x, "flip", threshold=1.01)
    assert keep.numel() == 0


def test_distill_trains_a_student_on_labels_and_pseudo_labels(tmp_path):
    from augkit.cli import main

    out = tmp_path / "d"
    rc = main(["train", "--strategy", "distill:unlabeled=200", "--dataset", "digits", "--subset", "200",
               "--val", "100", "--epochs", "2", "--threads", "1", "--adv-images", "50",
               "--tta-policy-views", "1", "--quiet", "--out", str(out)])  # fmt: skip
    assert rc == 0 and (out / "final.json").is_file()
    for stage in ("0_teacher", "1_labels"):
        assert (out / "distill" / stage / "done.json").is_file()


# --- GAN augmentation --------------------------------------------------------------------------


def test_conditional_gan_is_seeded_and_samples_in_range():
    from augkit.generative.gan import ConditionalGAN

    a, b = ConditionalGAN(1, 8, 10, seed=3), ConditionalGAN(1, 8, 10, seed=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    labels = torch.arange(10)
    x = a.sample(labels, torch.Generator().manual_seed(0))
    assert x.shape == (10, 1, 8, 8) and x.dtype == torch.uint8
    assert torch.equal(x, b.sample(labels, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="divisible by 4"):
        ConditionalGAN(1, 10, 10)


def test_gan_training_moves_samples_towards_the_data(tmp_path):
    """On digits, a few hundred steps bring the generated images' statistics far closer to the real ones."""
    from augkit.generative.gan import ConditionalGAN, frechet_distance, train_gan
    from augkit.runs import TrainConfig, prepare_data

    ds = prepare_data(TrainConfig(dataset="digits", subset=400, val=0))
    gan, hist = train_gan(ds.train_x, ds.train_y, 10, 150, torch.Generator().manual_seed(0), batch=32)
    untrained = ConditionalGAN(1, 8, 10).sample(ds.train_y[:200], torch.Generator().manual_seed(1))
    trained = gan.sample(ds.train_y[:200], torch.Generator().manual_seed(1))
    assert frechet_distance(ds.train_x[:200], trained) < 0.5 * frechet_distance(ds.train_x[:200], untrained)
    assert len(hist) == 150 and all(np.isfinite(h["d_loss"]) for h in hist)


def test_gan_strategy_trains_through_its_search(tmp_path):
    from augkit.cli import main

    out = tmp_path / "g"
    rc = main(["train", "--strategy", "gan:iterations=20,ratio=0.5,fid_epochs=30", "--dataset", "digits",
               "--subset", "400", "--val", "100", "--epochs", "2", "--threads", "1", "--adv-images", "50",
               "--tta-policy-views", "1", "--quiet", "--out", str(out)])  # fmt: skip
    assert rc == 0 and (out / "final.json").is_file() and (out / "gan_samples.png").stat().st_size > 0
    assert (out / "gan" / "dcgan" / "done.json").is_file()
    fr = json.loads((out / "gan_frechet.json").read_text())
    t = fr["trained_features"]
    assert t["held_out"] == "validation" and t["images"] == 100
    assert t["feature_net_error"] < 0.5  # the feature net learned the classes (chance is 0.9)
    # 20 GAN iterations are far from the data; real training images are close to held-out ones
    assert t["generated_vs_held_out"] > 3 * t["train_vs_held_out"] > 0
    assert set(fr["random_features"]) == {"generated_vs_real", "real_vs_real"}
    assert fr["costs"]["features"]["cpu_minutes"] > 0 and not fr["costs"]["features"]["cached"]


def test_frechet_matches_the_closed_form_of_gaussians():
    """FID's formula: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2); for b = 2a + m: |m|^2 + tr(S1)."""
    from augkit.generative.gan import frechet

    a = torch.randn(4000, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = a - a.mean(0)
    m = torch.tensor([1.0, -2.0, 0.5, 0.0, 0.0, 3.0], dtype=torch.float64)
    s1 = torch.cov(a.T)
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet(a, 2 * a + m) == pytest.approx(float((m**2).sum() + torch.trace(s1)), rel=1e-6)


def test_compare_draws_galleries_of_searched_strategies_from_their_artefact(tmp_path):
    """A style/GAN gallery needs the trained network: compare draws it after the runs (it once crashed)."""
    from PIL import Image

    from augkit.experiment import CompareConfig, compare
    from augkit.runs import TrainConfig

    train = TrainConfig(dataset="digits", test_subset=100, epochs=1, batch_size=64, adv_images=16,
                        tta_policy_views=1, threads=1)  # fmt: skip
    specs = ["style:iterations=3,crops=4", "gan:iterations=3"]
    cfg = CompareConfig(strategies=specs, seeds=1, out=str(tmp_path / "cmp"), train=train, budget_check="off")
    compare(cfg, progress=False)
    for s in ("style_iterations_3_crops_4", "gan_iterations_3"):
        im = Image.open(tmp_path / "cmp" / s / "gallery.png")
        assert im.size[0] > 8 * 8 and im.size[1] > 4 * 8  # 8 classes x (original + 3 draws)
        assert (tmp_path / "cmp" / s / "seed0" / "final.json").exists()
