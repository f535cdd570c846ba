"""``report.html``: the compare report as one self-contained page.

Every image is embedded as a ``data:image/png;base64,`` URI, the CSS is inline and there is no
script, link or remote reference, so the file can be mailed, archived or opened offline and
still shows everything.  It states the same things as ``report.md`` (shared helpers in
:mod:`augkit.report.markdown`).
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import TYPE_CHECKING

from .budget import budget_banner
from .markdown import (
    command_text,
    convergence_banner,
    convergence_lines,
    eval_notes,
    facts,
    incomplete_banner,
    title,
)
from .tables import cost_table, incomplete_table, main_table, paired_table, to_html

if TYPE_CHECKING:
    from .context import ReportContext

__all__ = ["data_uri", "render_html"]

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { font-size: .85em; color: #555; margin: .2em 0; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: .5em .8em; }
pre { background: #f6f8fa; padding: .7em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
figure { margin: .8em 0; }
figcaption { font-size: .85em; color: #555; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(png)}" alt="{escape(alt)}">{cap}</figure>'


def _md_code(text: str) -> str:
    """Escape ``text`` and turn its `code` spans into <code> elements."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(ctx: ReportContext) -> str:
    """The whole report.html text."""
    t = escape(title(ctx))
    body = [f"<h1>{t}</h1>", '<dl class="facts">']
    body += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts(ctx)]
    body.append("</dl>")
    for banner in (incomplete_banner(ctx), convergence_banner(ctx), budget_banner(ctx.budget)):
        if banner:
            body.append(f'<p class="warn">{escape(banner)}</p>')
    body += ["<h2>Verdict</h2>", "<ul>"] + [f"<li>{_md_code(line)}</li>" for line in ctx.verdict]
    conv = "; ".join(convergence_lines(ctx))
    body += [f"<li>Convergence (validation split, last 20 % of training): {_md_code(conv)}</li>", "</ul>"]
    cmd = command_text(ctx)
    if cmd:
        body += ["<p>Command:</p>", f"<pre>{escape(cmd)}</pre>"]

    body += ["<h2>Results</h2>", to_html(main_table(ctx.summary))]
    body += [f'<p class="note">{escape(n)}</p>' for n in eval_notes(ctx)]

    if ctx.paired["rows"]:
        body += [
            f"<h2>Paired differences vs <code>{escape(str(ctx.paired['baseline']))}</code></h2>",
            to_html(paired_table(ctx.paired)),
        ]

    for key, head in [("learning_curves", "Learning curves"), ("reliability", "Reliability diagrams")]:
        if key in ctx.figures:
            f = ctx.figures[key]
            body += [f"<h2>{head}</h2>", _figure(f.png, f.title, f.caption)]

    if ctx.galleries:
        body.append("<h2>Augmentation galleries</h2>")
        for name, path in ctx.galleries.items():
            body += [
                f"<h3><code>{escape(name)}</code></h3>",
                _figure(path.read_bytes(), f"gallery of {name}"),
            ]

    if "per_class_error" in ctx.figures:
        f = ctx.figures["per_class_error"]
        body += ["<h2>Per-class error</h2>", _figure(f.png, f.title, f.caption)]

    body += ["<h2>Cost</h2>", to_html(cost_table(ctx.summary))]
    if "cost" in ctx.figures:
        f = ctx.figures["cost"]
        body.append(_figure(f.png, f.title, f.caption))

    if ctx.dynamics:
        body.append("<h2>Strategy signals</h2>")
        body += [_figure(f.png, f.title) for f in ctx.dynamics.values()]

    if ctx.method:
        body.append("<h2>Method figures</h2>")
        body += [_figure(f.png, f.title, f.caption) for f in ctx.method.values()]

    body.append("<h2>Incomplete runs</h2>")
    if ctx.incomplete:
        body.append(to_html(incomplete_table(ctx.incomplete, ctx.config, ctx.out_dir)))
    else:
        body.append("<p>None: every run finished.</p>")

    body += [
        "<h2>Config</h2>",
        "<details><summary>config.json</summary>",
        f"<pre>{escape(json.dumps(ctx.config, indent=2, default=str))}</pre>",
        "</details>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
