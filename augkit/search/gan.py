"""GAN augmentation's pre-training stage: a class-conditional DCGAN on the run's training images.

Cached under ``<run dir>/gan/dcgan`` by the options it depends on (:mod:`augkit.search.cache`);
writes ``<run dir>/gan_samples.png`` (one row of samples per class) and records the Fréchet
distance of generated vs real images on random-filter features (:func:`augkit.generative.gan.
frechet_distance`) next to the same distance between two halves of the real images.

Stage ``features`` (option ``fid_epochs`` > 0): a classifier of the run's model trained here on
the real training images only (``standard`` augmentation, ``fid_epochs`` epochs of the run's
optimiser) embeds held-out real images (the validation split, else the second half of the
training images), generated images of the same labels, and training images; the Fréchet
distances generated-vs-held-out and training-vs-held-out (the real-data floor) go to
``<run dir>/gan_frechet.json`` with the feature net's held-out error.  The issue asks for the
project's own trained features; FID's Inception net cannot be downloaded here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset
from ..gallery import grid_png
from ..generative.gan import ConditionalGAN, frechet, frechet_distance, train_gan
from ..io import atomic_write_bytes, atomic_write_text
from ..models import build_model
from ..strategies.registry import build_strategy
from ..train import OptimConfig, streams
from .cache import cached_stage, data_key

__all__ = ["FRECHET_FILE", "GANArtefact", "SAMPLES_FILE", "search"]

SAMPLES_FILE = "gan_samples.png"
FRECHET_FILE = "gan_frechet.json"
RUN_KEYS = ("model", "batch_size", "lr", "weight_decay")


@dataclass
class GANArtefact:
    gan: ConditionalGAN
    summary: dict


def search(
    data: ImageDataset,
    fit: Callable,
    out_dir: str | Path,
    options: dict[str, Any],
    config: dict[str, Any],
    progress: bool = False,
) -> GANArtefact:
    """Train (or load) the DCGAN, then the trained-feature Fréchet check (``fit`` trains its net)."""
    seed, (c, h, w) = int(config.get("seed", 0)), tuple(int(v) for v in data.train_x.shape[1:])
    if h != w:
        raise ValueError(f"gan needs square images, got {h}x{w}")
    key = {**data_key(data, config), "iterations": options["iterations"]}

    def stage(d: Path) -> dict:
        gan, hist = train_gan(
            data.train_x,
            data.train_y,
            data.num_classes,
            options["iterations"],
            torch.Generator().manual_seed(seed),
            seed=seed,
        )
        n = min(500, data.train_x.shape[0] // 2)
        fake = gan.sample(data.train_y[:n], torch.Generator().manual_seed(seed + 1))
        fd = {
            "generated_vs_real": frechet_distance(data.train_x[:n], fake),
            "real_vs_real": frechet_distance(data.train_x[:n], data.train_x[n : 2 * n]),
        }
        return {"G": gan.G.state_dict(), "history": hist[-100:], "frechet": fd}

    art, cost = cached_stage(Path(out_dir) / "gan", "dcgan", key, stage, torch.device("cpu"))
    gan = ConditionalGAN(c, h, data.num_classes, seed)
    gan.G.load_state_dict(art["G"])
    labels = torch.arange(data.num_classes).repeat_interleave(8)
    imgs = gan.sample(labels, torch.Generator().manual_seed(0))
    rows = [(data.classes[k][:14], imgs[labels == k]) for k in range(data.num_classes)]
    atomic_write_bytes(Path(out_dir) / SAMPLES_FILE, grid_png(rows))
    summary = {"frechet": art["frechet"], **cost}
    if options.get("fid_epochs", 0) > 0:
        summary["frechet_trained"] = _frechet_stage(gan, data, fit, out_dir, options, config, key, art, cost)
    return GANArtefact(gan, summary)


def _frechet_stage(
    gan: ConditionalGAN,
    data: ImageDataset,
    fit: Callable,
    out_dir: str | Path,
    options: dict,
    config: dict,
    key: dict,
    art: dict,
    cost: dict,
) -> dict:
    """Cached trained-feature Fréchet check; writes ``FRECHET_FILE`` (both checks and their costs)."""
    fkey = {**key, "fid_epochs": options["fid_epochs"], **{k: config.get(k) for k in RUN_KEYS}}
    trained, fcost = cached_stage(
        Path(out_dir) / "gan",
        "features",
        fkey,
        lambda d: _trained_frechet(gan, data, fit, d, options, config),
        torch.device("cpu"),
    )
    record = {
        "trained_features": trained,
        "random_features": art["frechet"],
        "costs": {"dcgan": cost, "features": fcost},
    }
    atomic_write_text(Path(out_dir) / FRECHET_FILE, json.dumps(record, indent=1))
    return trained


def _held_out(data: ImageDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(held-out images, their labels, training images to compare, name of the held-out set)."""
    if data.val_x is not None and data.val_x.shape[0] >= 20:
        n = min(1000, data.val_x.shape[0], data.train_x.shape[0])
        return data.val_x[:n], data.val_y[:n], data.train_x[:n], "validation"
    n = data.train_x.shape[0] // 2
    return data.train_x[n : 2 * n], data.train_y[n : 2 * n], data.train_x[:n], "training second half"


def _trained_frechet(
    gan: ConditionalGAN, data: ImageDataset, fit: Callable, d: Path, options: dict, config: dict
) -> dict:
    """Train the feature net on the real images, then the Fréchet distances in its embedding."""
    seed, c = int(config.get("seed", 0)), data.train_x.shape[1]
    model = build_model(config.get("model", "small_cnn"), c, data.num_classes, data.mean(), data.std(),
                        generator=streams(seed)["init"])  # fmt: skip
    run = {**config, "epochs": options["fid_epochs"], "device": "cpu"}
    optim = OptimConfig.from_options(run)
    fit(model, data, build_strategy("standard"), optim, d, gens=streams(seed), config=run, resume=True)
    ref_x, ref_y, train_x, name = _held_out(data)
    fake = gan.sample(ref_y, torch.Generator().manual_seed(seed + 2))
    model.eval()
    with torch.no_grad():
        emb = [_batched(model.embed, t) for t in (ref_x, fake, train_x)]
        err = float((_batched(model, ref_x).argmax(1) != ref_y).float().mean())
    return {
        "held_out": name,
        "images": int(ref_x.shape[0]),
        "generated_vs_held_out": frechet(emb[1], emb[0]),
        "train_vs_held_out": frechet(emb[2], emb[0]),
        "feature_net_error": err,
    }


def _batched(fn: Callable, x: torch.Tensor, size: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[i : i + size]) for i in range(0, x.shape[0], size)])
