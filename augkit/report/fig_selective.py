"""Report figure for self-paced augmentation (Takase et al. 2021, Neurocomputing 442).

For an ``spa:...`` strategy: the fraction of samples augmented per epoch and the training-loss
instability (variance of the per-step training loss over the epoch, the paper's Fig. 5) side
by side, for every ``spa`` run of the comparison that uses the same ``aug=`` (so SPA, CA
``lambda=0`` and NA ``lambda=inf`` share the axes); mean ± std over seeds.  Other strategies
get no dedicated figure (their signals are in the generic "logged signals" plot).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from .collect import curve_stats
from .context import MethodSpec, ReportFigure
from .plots import _band, _colors, _png, _wrap

__all__ = ["figures"]

_PANELS = (
    ("spa_fraction_augmented", "fraction of samples augmented"),
    ("spa_loss_variance", "variance of the per-step training loss"),
)


def figures(
    runs: list[dict], strategy: str, specs: Mapping[str, MethodSpec], out_dir: Path
) -> list[ReportFigure]:
    """The fraction / instability panels for every run that shares ``strategy``'s figure and ``aug``."""
    mine = specs[strategy]
    aug = mine.options.get("aug")
    same = {s for s, m in specs.items() if m.figures is mine.figures and m.options.get("aug") == aug}
    peers = [r for r in runs if r["strategy"] in same]
    names = list(dict.fromkeys(r["strategy"] for r in peers))
    colors = _colors(names)
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    drawn = False
    for ax, (key, title) in zip(axes, _PANELS, strict=True):
        curves = curve_stats(peers, key, complete_only=False)
        for name in names:
            if name in curves:
                _band(ax, curves[name], colors[name], _wrap(name, 40))
                drawn = True
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if not drawn:
        return []
    axes[1].legend(fontsize=7)
    fig.suptitle(_wrap(f"self-paced augmentation, aug={aug} (mean ± std over seeds)", 80), fontsize=10)
    fig.tight_layout()
    safe = "".join(c if c.isalnum() else "_" for c in aug)
    return [
        ReportFigure(
            f"spa_{safe}_fraction_and_instability.png",
            f"SPA ({aug}): fraction augmented and training-loss instability",
            _png(fig),
            "Left: share of samples whose pre-update loss reached lambda (1 for CA, 0 for NA). "
            "Right: variance over each epoch of the per-step training loss (Takase et al. 2021, Fig. 5).",
        )
    ]
