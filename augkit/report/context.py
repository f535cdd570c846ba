"""What the report renderers share: figures, the per-strategy method specs and the loaded context.

Kept apart from :mod:`augkit.report.build` so that the renderers and the method-figure modules
import these records without importing the builder (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MethodSpec", "ReportContext", "ReportFigure"]


@dataclass
class ReportFigure:
    """A report figure: file name under ``figures/``, title, caption and PNG bytes."""

    name: str
    title: str
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """What the experiment layer tells the report about one strategy of the comparison.

    ``figures(runs, strategy, specs, out_dir) -> list[ReportFigure]`` is the method family's own
    figure function (already imported by the caller: the report imports no method family).
    """

    name: str
    options: dict[str, Any]
    figures: Callable[..., list[ReportFigure]] | None = None
    artefacts: tuple[str, ...] = ()


@dataclass
class ReportContext:
    """Everything the Markdown and HTML renderers need; built once by ``build_context``."""

    out_dir: Path
    config: dict
    runs: list[dict]
    summary: dict
    paired: dict
    incomplete: list[dict]
    figures: dict[str, ReportFigure] = field(default_factory=dict)  # section key -> figure
    dynamics: dict[str, ReportFigure] = field(default_factory=dict)  # strategy -> figure
    galleries: dict[str, Path] = field(default_factory=dict)  # strategy -> gallery.png
    method: dict[str, ReportFigure] = field(default_factory=dict)  # file name -> method-specific figure
    convergence: dict[str, dict] = field(default_factory=dict)  # strategy -> under-training guard
    verdict: list[str] = field(default_factory=list)  # plain sentences for the top of the report
    budget: dict = field(default_factory=dict)  # the half-budget probe's reading (report.budget)

    @property
    def complete_runs(self) -> list[dict]:
        return [r for r in self.runs if r.get("complete", True)]
