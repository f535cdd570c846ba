"""GAN augmentation's pre-training stage: a class-conditional DCGAN on the run's training images.

Cached under ``<run dir>/gan/dcgan`` by the options it depends on (:mod:`augkit.search.cache`);
writes ``<run dir>/gan_samples.png`` (one row of samples per class) and records the Fréchet
distance of generated vs real images on random-filter features (:func:`augkit.generative.gan.
frechet_distance`) next to the same distance between two halves of the real images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset
from ..gallery import grid_png
from ..generative.gan import ConditionalGAN, frechet_distance, train_gan
from ..io import atomic_write_bytes
from .cache import cached_stage, data_key

__all__ = ["GANArtefact", "SAMPLES_FILE", "search"]

SAMPLES_FILE = "gan_samples.png"


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
    """Train (or load) the DCGAN; ``fit`` is unused (no classifier is trained here)."""
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
    return GANArtefact(gan, {"frechet": art["frechet"], **cost})
