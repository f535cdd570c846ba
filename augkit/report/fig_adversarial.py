"""Report figures for Adversarial AutoAugment (Zhang et al., ICLR 2020, Figures 2 and 6).

Reads ``policy_history.json`` from each run directory of the strategy (written every epoch by
``adversarial-autoaugment``): the distribution over op types and over magnitude levels of the
epoch's sampled policies, pooled over seeds and averaged over a sliding window of epochs (the
paper's Figure 6 averages every five epochs), drawn as stacked areas (ops) and as a heat map
(magnitudes).  The last epoch's policies applied to training images come from the run's
``policy_gallery.png``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .context import ReportFigure

__all__ = ["figures", "load_histories", "policy_distributions"]

HISTORY_FILE = "policy_history.json"
GALLERY_FILE = "policy_gallery.png"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "strategy"


def load_histories(runs: list[dict], strategy: str) -> list[dict]:
    """The parsed ``policy_history.json`` of every run of ``strategy`` that has one (seed order)."""
    out = []
    for r in sorted((r for r in runs if r.get("strategy") == strategy), key=lambda r: r.get("seed", 0)):
        path = Path(str(r.get("run_dir", ""))) / HISTORY_FILE
        if path.is_file():
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
    return out


def policy_distributions(histories: list[dict], window: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Op names, op shares (E, n_ops) and magnitude-level shares (E, levels), pooled over runs.

    Row ``e`` sums the histograms of epochs ``e - window + 1 .. e`` of every run, then
    normalises: a trailing moving average that never looks ahead.
    """
    if not histories:
        return [], np.zeros((0, 0)), np.zeros((0, 0))
    names = list(histories[0]["op_names"])
    epochs = max(len(h["epochs"]) for h in histories)
    ops = np.zeros((epochs, len(names)))
    mags = np.zeros((epochs, int(histories[0].get("levels", 10))))
    for h in histories:
        if list(h["op_names"]) != names:
            continue
        for i, e in enumerate(h["epochs"]):
            ops[i] += e["op_hist"]
            mags[i] += e["mag_hist"]
    kernel = np.ones(max(1, window))

    def smooth(a: np.ndarray) -> np.ndarray:
        s = np.stack([np.convolve(a[:, j], kernel)[: len(a)] for j in range(a.shape[1])], 1)
        return s / np.clip(s.sum(1, keepdims=True), 1e-12, None)

    return names, smooth(ops), smooth(mags)


def _dynamics_png(names: list[str], ops: np.ndarray, mags: np.ndarray, strategy: str, window: int) -> bytes:
    from .plots import _png

    x = np.arange(1, len(ops) + 1)
    fig = Figure(figsize=(13, 4.6))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    cmap = matplotlib.colormaps["tab20"]
    ax1.stackplot(x, ops.T, labels=names, colors=[cmap(i % 20) for i in range(len(names))], alpha=0.9)
    ax1.set(xlim=(1, max(len(x), 2)), ylim=(0, 1), xlabel="epoch", ylabel="share of sampled ops")
    ax1.set_title("(a) op types of the sampled policies", fontsize=10)
    ax1.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    im = ax2.imshow(
        mags.T,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(0.5, len(x) + 0.5, -0.5, mags.shape[1] - 0.5),
    )
    mean_level = (mags * np.arange(mags.shape[1])).sum(1)
    ax2.plot(x, mean_level, color="white", lw=1.5, label="mean level")
    ax2.set(xlabel="epoch", ylabel="magnitude level (0 = weakest)")
    ax2.set_title("(b) magnitude levels of the sampled ops", fontsize=10)
    ax2.legend(loc="upper left", fontsize=7)
    fig.colorbar(im, ax=ax2, label="share")
    fig.suptitle(
        f"{strategy}: policy dynamics (pooled over seeds, trailing mean of {window} epochs)", fontsize=10
    )
    fig.tight_layout()
    return _png(fig)


def _entropy_png(runs: list[dict], strategy: str) -> bytes | None:
    """The controller's entropy per epoch, one line per seed (only runs that learn log it)."""
    from .plots import _png

    curves = []
    for r in sorted((r for r in runs if r.get("strategy") == strategy), key=lambda r: r.get("seed", 0)):
        metrics = r.get("metrics") or []
        pts = [(m["epoch"], m["controller_entropy"]) for m in metrics if "controller_entropy" in m]
        if pts:
            curves.append((r.get("seed", "?"), pts))
    if not curves:
        return None
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for seed, pts in curves:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"seed {seed}")
    ax.set(xlabel="epoch (one controller update each)", ylabel="policy entropy (nats)",
           title="controller entropy")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def figures(runs: list[dict], strategy: str, specs: Mapping, out_dir: Path) -> list:
    """Figures 2/6 of the paper for ``strategy`` plus the last-epoch policy gallery (may be empty)."""
    histories = load_histories(runs, strategy)
    result: list[ReportFigure] = []
    safe = _safe(strategy)
    if histories and any(h["epochs"] for h in histories):
        epochs = max(len(h["epochs"]) for h in histories)
        window = 5 if epochs >= 20 else 1
        names, ops, mags = policy_distributions(histories, window)
        result.append(
            ReportFigure(
                f"aaa_dynamics_{safe}.png",
                f"{strategy}: sampled policies over training",
                _dynamics_png(names, ops, mags, strategy, window),
                f"Share of each op type (a) and magnitude level (b) among the sampled policies' ops, "
                f"{len(histories)} run(s) pooled (paper Figures 2 and 6). Magnitude shares count only ops "
                f"that have a magnitude.",
            )
        )
    entropy = _entropy_png(runs, strategy)
    if entropy is not None:
        result.append(
            ReportFigure(
                f"aaa_entropy_{safe}.png", f"{strategy}: controller entropy", entropy,
                "Sum over the 20 policy tokens of the controller's per-step entropy, after each epoch's "
                "REINFORCE update (uniform over the search space: 10 x (ln 16 + ln 10) = 50.8 nats).",
            )
        )  # fmt: skip
    for r in sorted((r for r in runs if r.get("strategy") == strategy), key=lambda r: r.get("seed", 0)):
        png = Path(str(r.get("run_dir", ""))) / GALLERY_FILE
        if png.is_file():
            result.append(
                ReportFigure(
                    f"aaa_gallery_{safe}.png",
                    f"{strategy}: last-epoch policies (seed {r.get('seed', '?')})",
                    png.read_bytes(),
                    "Each row applies one of the M policies of the final epoch to one training image per "
                    "class (base augmentation and Cutout omitted).",
                )
            )
            break
    return result
