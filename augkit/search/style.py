"""The pre-training stage of style augmentation: the AdaIN decoder and the style-embedding normal.

Trained on the run's training images (content) and :func:`augkit.generative.adain.style_crops`
(styles), cached under ``<run dir>/style/style_net`` by every option it depends on
(:mod:`augkit.search.cache`), so seeds and resumes reuse it.  The artefact holds tensors and
numbers only (loaded weights-only).  See :mod:`augkit.generative.adain` for the method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset
from ..generative.adain import StyleNet, style_crops, train_style_net
from .cache import cached_stage, data_key

__all__ = ["StyleArtefact", "fit_embeddings", "search"]

RIDGE = 1e-4  # added to the covariance's diagonal so its Cholesky factor exists


@dataclass
class StyleArtefact:
    net: StyleNet
    mean: torch.Tensor
    chol: torch.Tensor
    summary: dict


def fit_embeddings(net: StyleNet, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and Cholesky factor of the style crops' embeddings (the multivariate normal)."""
    with torch.no_grad():
        z = net.embed(styles.float() / 255 if styles.dtype == torch.uint8 else styles.float())
    mean = z.mean(0)
    cov = torch.cov(z.T) + RIDGE * torch.eye(z.shape[1])
    return mean, torch.linalg.cholesky(cov)


def search(
    data: ImageDataset,
    fit: Callable,
    out_dir: str | Path,
    options: dict[str, Any],
    config: dict[str, Any],
    progress: bool = False,
) -> StyleArtefact:
    """Train (or load) the decoder and fit the style normal; ``fit`` is unused (nothing is classified)."""
    seed = int(config.get("seed", 0))
    shape = tuple(int(v) for v in data.train_x.shape[1:])
    key = {**data_key(data, config), **{k: options[k] for k in ("iterations", "style_weight", "crops")}}

    def stage(d: Path) -> dict:
        styles = style_crops(options["crops"], shape, seed)
        net, hist = train_style_net(
            data.train_x,
            styles,
            options["iterations"],
            torch.Generator().manual_seed(seed),
            net_seed=seed,
            style_weight=options["style_weight"],
        )
        mean, chol = fit_embeddings(net, styles)
        return {"decoder": net.dec.state_dict(), "mean": mean, "chol": chol, "history": hist}

    art, cost = cached_stage(Path(out_dir) / "style", "style_net", key, stage, torch.device("cpu"))
    net = StyleNet(shape[0], seed)
    net.dec.load_state_dict(art["decoder"])
    summary = {"stage": "style_net", "final_loss": art["history"][-1], **cost}
    return StyleArtefact(net.eval(), art["mean"], art["chol"], summary)
