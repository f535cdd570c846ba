"""CLAMP's pre-training stage: one CycleGAN per class between its two subgroups, then every
training image translated into the other subgroup of its class (static augmentation, as the
released code does: the translations are computed once and looked up during training).

Cached under ``<run dir>/clamp/cyclegan`` by the run's data options, seed and the CycleGAN
options (:mod:`augkit.search.cache`); writes ``<run dir>/clamp_translations.png`` (per class:
originals of each subgroup above their translations) and records the final cycle loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..gallery import grid_png
from ..io import atomic_write_bytes
from ..patching.cyclegan import train_cyclegan, translate
from .cache import cached_stage, data_key

__all__ = ["PatchArtefact", "TRANSLATIONS_FILE", "group_pairs", "search"]

TRANSLATIONS_FILE = "clamp_translations.png"


@dataclass
class PatchArtefact:
    translations: Tensor  # uint8, row i = training image i translated into its class's other subgroup
    summary: dict


def group_pairs(y: Tensor, groups: Tensor) -> list[tuple[int, int, int]]:
    """``(class, group_a, group_b)`` per class, from the training labels; each class needs two subgroups."""
    pairs = []
    for c in y.unique().tolist():
        gs = groups[y == c].unique().tolist()
        if len(gs) != 2:
            raise ValueError(
                f"clamp translates between two subgroups per class; class {c} has subgroups {gs}"
            )
        pairs.append((int(c), int(gs[0]), int(gs[1])))
    shared = [g for g in groups.unique().tolist() if y[groups == g].unique().numel() > 1]
    if shared:
        raise ValueError(
            f"subgroups {shared} hold images of several classes; clamp needs class-conditional subgroups"
        )
    return pairs


def _translate_all(x: Tensor, groups: Tensor, pairs, nets: dict) -> Tensor:
    out = x.clone()
    for c, ga, gb in pairs:
        ia, ib = (groups == ga).nonzero().squeeze(1), (groups == gb).nonzero().squeeze(1)
        out[ia] = translate(nets[c].ab, x[ia])
        out[ib] = translate(nets[c].ba, x[ib])
    return out


def _gallery(x: Tensor, t: Tensor, groups: Tensor, pairs, names: tuple[str, ...]) -> bytes:
    rows = []
    for _, ga, gb in pairs:
        for g, other in ((ga, gb), (gb, ga)):
            idx = (groups == g).nonzero().squeeze(1)[:8]
            rows += [(names[g], x[idx]), (f"-> {names[other]}", t[idx])]
    return grid_png(rows)


def search(
    data: Any,
    fit: Callable,
    out_dir: str | Path,
    options: dict[str, Any],
    config: dict[str, Any],
    progress: bool = False,
) -> PatchArtefact:
    """Train (or load) the per-class CycleGANs; ``fit`` is unused (no classifier is trained here)."""
    groups = getattr(data, "train_groups", None)
    if groups is None:
        raise ValueError(
            "clamp needs subgroup labels: a GroupedDataset such as augkit patch's zigzag benchmark, "
            f"got {type(data).__name__}"
        )
    seed, pairs = int(config.get("seed", 0)), group_pairs(data.train_y, groups)
    opts = {k: options[k] for k in ("iterations", "cycle")}
    key = {**data_key(data, config), **opts, "groups": [int(v) for v in torch.bincount(groups)]}

    def stage(d: Path) -> dict:
        nets, hist = {}, {}
        for c, ga, gb in pairs:
            a, b = data.train_x[groups == ga], data.train_x[groups == gb]
            g = torch.Generator().manual_seed(seed * 1000 + c)
            nets[c], h = train_cyclegan(a, b, opts["iterations"], g, seed=seed * 1000 + c,
                                        cycle=opts["cycle"], identity=opts["cycle"] / 2)  # fmt: skip
            hist[c] = h
        last = {c: {k: sum(s[k] for s in h[-50:]) / len(h[-50:]) for k in h[0]} for c, h in hist.items()}
        return {
            "nets": {c: {"ab": n.ab.state_dict(), "ba": n.ba.state_dict()} for c, n in nets.items()},
            "translations": _translate_all(data.train_x, groups, pairs, nets),
            "final_losses": last,
            "first_losses": {c: h[0] for c, h in hist.items()},
        }

    art, cost = cached_stage(Path(out_dir) / "clamp", "cyclegan", key, stage, torch.device("cpu"))
    names = getattr(data, "group_names", tuple(str(g) for g in range(int(groups.max()) + 1)))
    png = _gallery(data.train_x, art["translations"], groups, pairs, names)
    atomic_write_bytes(Path(out_dir) / TRANSLATIONS_FILE, png)
    summary = {"final_losses": art["final_losses"], "first_losses": art["first_losses"], **cost}
    return PatchArtefact(art["translations"], summary)

