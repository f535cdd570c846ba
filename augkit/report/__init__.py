"""Compare-run reports: read run directories (never train), write tables, figures, Markdown and HTML.

``write_report(out_dir)`` is the entry point; ``load_runs`` and ``summarize`` give the numbers
behind it for notebooks and tests.  See :mod:`augkit.report.collect` for the statistics.
"""

from .build import build_context, write_report
from .collect import METRICS, incomplete_runs, load_config, load_runs, paired_differences, summarize
from .context import MethodSpec, ReportContext, ReportFigure

__all__ = [
    "METRICS",
    "MethodSpec",
    "ReportContext",
    "ReportFigure",
    "build_context",
    "incomplete_runs",
    "load_config",
    "load_runs",
    "paired_differences",
    "summarize",
    "write_report",
]
