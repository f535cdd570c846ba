"""IF-DA report figures (Lee et al., CVPR 2020, Fig. 3 and Fig. 4) from a run's ``ifda/figures.pt``.

Fig. 3: one training image and several transforms of it, the diversity coming only from dropout
on tau.  Fig. 4: ten linearly interpolated tau applied to the same image, rows (i) the image,
(ii) the spatial model's output drawn as the flow field (quiver over the flow magnitude),
(iii) the spatially transformed image, (iv) the appearance model's output ``delta x`` shown as
``0.5 + delta x``, (v) the final image.  The strategy writes the tensors at the end of ``setup``
(see :func:`augkit.search.ifda.figure_tensors`); the first complete run of the strategy with
the file is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ..io import load_torch
from .context import ReportFigure
from .plots import _png

__all__ = ["figures"]


def _img(t: torch.Tensor):
    t = t.detach().float().clamp(0, 1)
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()


def _show(ax, t: torch.Tensor) -> None:
    ax.imshow(_img(t), cmap="gray" if t.shape[0] == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _fig3(d: dict) -> bytes:
    imgs = [d["image"], *d["fig3"]]
    fig = Figure(figsize=(1.3 * len(imgs), 1.6))
    for i, t in enumerate(imgs):
        ax = fig.add_subplot(1, len(imgs), i + 1)
        _show(ax, t)
        ax.set_title("input" if i == 0 else f"draw {i}", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _fig4(d: dict) -> bytes:
    f4 = d["fig4"]
    n = f4["out"].shape[0]
    rows = ["image", "spatial output (flow)", "spatially transformed", "appearance output", "final"]
    fig = Figure(figsize=(1.2 * n, 1.3 * len(rows)))
    for j in range(n):
        flow = f4["flow"][j]
        cells = [d["image"], None, f4["spatial"][j], (0.5 + f4["delta"][j]), f4["out"][j]]
        for i, t in enumerate(cells):
            ax = fig.add_subplot(len(rows), n, i * n + j + 1)
            if t is None:
                H, W = flow.shape[1:]
                mag = flow.norm(dim=0).numpy()
                ax.imshow(mag, cmap="viridis", interpolation="nearest")
                step = max(1, H // 8)
                yy, xx = torch.meshgrid(torch.arange(0, H, step), torch.arange(0, W, step), indexing="ij")
                f = flow[:, ::step, ::step]
                ax.quiver(xx.numpy(), yy.numpy(), f[0].numpy(), -f[1].numpy(), color="w", scale=None)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                _show(ax, t)
            if j == 0:
                ax.set_ylabel(rows[i], fontsize=6)
    fig.tight_layout()
    return _png(fig)


def figures(runs: list[dict], strategy: str, specs: Mapping, out_dir: Path) -> list[ReportFigure]:
    """Fig. 3 and Fig. 4 for ``strategy`` from the first of its runs that saved ``ifda/figures.pt``."""
    for run in runs:
        if run.get("strategy") != strategy or not run.get("run_dir"):
            continue
        path = Path(run["run_dir"]) / "ifda" / "figures.pt"
        if not path.exists():
            continue
        d = load_torch(path, map_location="cpu")  # tensors, numbers and strings only: runs no code
        tag = f"{d['mode']}, {d['combine']}, tau {d['tau_dim']}, seed {run.get('seed', '?')}"
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", strategy).strip("_")  # one pair of figures per strategy
        return [
            ReportFigure(
                f"ifda_fig3_{safe}.png",
                f"IF-DA: diverse transforms from dropout on tau ({strategy})",
                _fig3(d),
                f"One image and {d['fig3'].shape[0]} draws of the learned E/G (dropout p=0.5 on tau; {tag}).",
            ),
            ReportFigure(
                f"ifda_fig4_{safe}.png",
                f"IF-DA: ten interpolated tau ({strategy})",
                _fig4(d),
                "Rows: image; spatial model output (flow magnitude, arrows in pixels); spatially transformed "
                f"image; appearance output (0.5 + delta x); final image ({tag}).",
            ),
        ]
    return []
