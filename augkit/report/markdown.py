"""``report.md``: the compare report as GitHub-flavoured Markdown, figures linked from ``figures/``.

The section helpers here (title, run facts, evaluation notes, command) are shared with the HTML
renderer so that both reports state the same things.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING
from urllib.parse import quote

from .budget import budget_banner
from .tables import cost_table, incomplete_table, main_table, paired_table, to_markdown

if TYPE_CHECKING:
    from .context import ReportContext

__all__ = [
    "command_text",
    "convergence_banner",
    "convergence_lines",
    "eval_notes",
    "facts",
    "incomplete_banner",
    "render_markdown",
    "title",
]


def title(ctx: ReportContext) -> str:
    c = ctx.config
    return f"augkit compare: {c.get('dataset', '?')} / {c.get('model', '?')}"


def _seeds_text(seeds) -> str:
    if isinstance(seeds, list):
        return f"{len(seeds)} ({', '.join(map(str, seeds))})"
    return "?" if seeds is None else str(seeds)


def facts(ctx: ReportContext) -> list[tuple[str, str]]:
    """(label, value) lines describing what was run."""
    c = ctx.config
    subset = c.get("subset")
    if isinstance(subset, (dict, list)):
        subset = json.dumps(subset)
    n_done = len(ctx.complete_runs)
    n_all = n_done + len(ctx.incomplete)
    return [
        ("Dataset", str(c.get("dataset", "?"))),
        ("Training images", _size_text(subset, (c.get("data") or {}).get("train"))),
        ("Validation images", _size_text(c.get("val"), (c.get("data") or {}).get("val"), none="none")),
        ("Model", str(c.get("model", "?"))),
        ("Budget", _budget_text(c)),
        ("Seeds", _seeds_text(c.get("seeds"))),
        ("Strategies", ", ".join(ctx.summary) or "none"),
        ("Runs complete", f"{n_done} of {n_all}"),
    ]


def _size_text(given, count, none: str = "all") -> str:
    """A size option as the user meant it (count, fraction or 'auto') and the count it gave."""
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        given = none if not given else f"{given:.0%}" if given < 1 else f"{int(given):,}"
    shown = none if given is None else str(given)
    if isinstance(count, int) and str(count) != shown.replace(",", ""):
        return f"{count:,} ({shown})"
    return shown


def _budget_text(c: dict) -> str:
    b = c.get("budget") or {}
    if not b:
        return f"{c.get('epochs', '?')} epochs"
    rule = " (chosen by --epochs auto)" if c.get("epochs") == "auto" else ""
    return (f"{b['epochs']} epochs = {b['steps']:,} optimizer steps of {b['batch_size']} images "
            f"= {b['images_seen']:,} images seen per run{rule}")  # fmt: skip


def convergence_banner(ctx: ReportContext) -> str | None:
    """The under-training warning, or None when every strategy's runs converged."""
    bad = {s: v for s, v in ctx.convergence.items() if v["status"] != "converged"}
    if not bad:
        return None
    parts = [f"{s}: {v['status']}" + (f" ({'; '.join(v['why'])})" if v["why"] else "")
             for s, v in bad.items()]  # fmt: skip
    return ("Warning: not every run converged — differences between these strategies may reflect the "
            "training budget, not the methods. " + " | ".join(parts))  # fmt: skip


def convergence_lines(ctx: ReportContext) -> list[str]:
    """One line per strategy; training-loss notes (not a reason for the banner) follow the status."""
    return [f"`{s}`: {v['status']} ({v['runs']} runs)"
            + (f"; note: {'; '.join(v['notes'])} while the validation error is flat" if v.get("notes")
               and v["status"] == "converged" else "")
            for s, v in ctx.convergence.items()]  # fmt: skip


def command_text(ctx: ReportContext) -> str | None:
    cmd = ctx.config.get("command")
    if cmd is None:
        return None
    return shlex.join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd)


def eval_notes(ctx: ReportContext) -> list[str]:
    """How the robustness and TTA numbers were measured, from the runs themselves."""
    notes = []
    eps = sorted({r["fgsm_eps"] for r in ctx.complete_runs if isinstance(r.get("fgsm_eps"), (int, float))})
    if eps:
        notes.append(
            "FGSM / I-FGSM perturbation ε = " + ", ".join(f"{e:g}" for e in eps) + " (pixel-value units)."
        )
        if len(eps) > 1:
            notes.append(
                "Warning: runs used different FGSM ε, so their robustness numbers are not comparable."
            )
    views = list(dict.fromkeys(v for r in ctx.complete_runs for v in (r.get("tta_views") or [])))
    if views:
        notes.append("TTA views: " + ", ".join(map(str, views)) + ".")
    return notes


def incomplete_banner(ctx: ReportContext) -> str | None:
    k = len(ctx.incomplete)
    if not k:
        return None
    return (
        f"Warning: {k} run{'s are' if k > 1 else ' is'} incomplete (no final.json) "
        "and not in the statistics; see 'Incomplete runs'."
    )


def _img(fig_name: str, alt: str) -> str:
    return f"![{alt}](figures/{quote(fig_name)})"


def render_markdown(ctx: ReportContext) -> str:
    """The whole report.md text."""
    out = [f"# {title(ctx)}", ""]
    out += [f"- **{k}:** {v}" for k, v in facts(ctx)]
    for banner in (incomplete_banner(ctx), convergence_banner(ctx), budget_banner(ctx.budget)):
        if banner:
            out += ["", f"> **{banner}**"]
    out += ["", "## Verdict", ""] + [f"- {line}" for line in ctx.verdict]
    out += ["- Convergence (validation split, last 20 % of training): " + "; ".join(convergence_lines(ctx))]
    cmd = command_text(ctx)
    if cmd:
        out += ["", "Command:", "", "```sh", cmd, "```"]

    out += ["", "## Results", "", to_markdown(main_table(ctx.summary))]
    out += [f"_{n}_  " for n in eval_notes(ctx)]

    if ctx.paired["rows"]:
        out += [
            "",
            f"## Paired differences vs `{ctx.paired['baseline']}`",
            "",
            to_markdown(paired_table(ctx.paired)),
        ]

    sections = [
        ("learning_curves", "Learning curves"),
        ("reliability", "Reliability diagrams"),
    ]
    for key, head in sections:
        if key in ctx.figures:
            f = ctx.figures[key]
            out += ["", f"## {head}", "", _img(f.name, f.title), "", f"_{f.caption}_"]

    if ctx.galleries:
        out += ["", "## Augmentation galleries"]
        for name, path in ctx.galleries.items():
            rel = path.relative_to(ctx.out_dir).as_posix()
            out += ["", f"### `{name}`", "", f"![gallery of {name}]({quote(rel)})"]

    if "per_class_error" in ctx.figures:
        f = ctx.figures["per_class_error"]
        out += ["", "## Per-class error", "", _img(f.name, f.title), "", f"_{f.caption}_"]

    out += ["", "## Cost", "", to_markdown(cost_table(ctx.summary))]
    if "cost" in ctx.figures:
        out += [_img(ctx.figures["cost"].name, "cost")]

    if ctx.dynamics:
        out += ["", "## Strategy signals"]
        for f in ctx.dynamics.values():
            out += ["", _img(f.name, f.title)]

    if ctx.method:
        out += ["", "## Method figures"]
        for f in ctx.method.values():
            out += ["", f"### {f.title}", "", _img(f.name, f.title), "", f"_{f.caption}_"]

    out += ["", "## Incomplete runs", ""]
    if ctx.incomplete:
        out += [to_markdown(incomplete_table(ctx.incomplete, ctx.config, ctx.out_dir))]
    else:
        out += ["None: every run finished."]

    out += [
        "",
        "## Files",
        "",
        "- `summary.json`: mean, std, n and values per strategy and metric; paired differences; config.",
        "- `results.csv`: every number of every final.json (strategy, seed, metric, value).",
        "- `curves.csv`: every number of every metrics.jsonl "
        "(strategy, seed, complete, epoch, metric, value).",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(ctx.config, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(out)
