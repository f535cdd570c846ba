"""Error against search cost for a compare of searched policies (issue 14's evidence).

    python experiments/search_cost.py docs/results/searched-n1000 --search-root docs/results/search \
        [--extra if-da=docs/results/search/ifda] [--png docs/results/searched-n1000/search_cost.png]

Every strategy of the compare is one row: its mean ± std test error over seeds (from the compare's
``summary.json``) and the CPU minutes of the search that produced it, read from that search's own
files: ``search.json`` (``cost.total_cpu_minutes`` where the search timed every phase, else the
trial minutes, marked "trials only"), TANDA's ``cost.cpu_minutes`` (all its calls), IF-DA's
``ifda/costs.json`` (stages 0-3).  A spec's ``file=`` path locates its search; when the compare
ran elsewhere, the path's search folder name is looked up under ``--search-root``.  Published
policies (RandAugment, TrivialAugment, AutoAugment's CIFAR policy) cost nothing here.
``--extra NAME=DIR`` adds the cost of a search whose result is not a row (IF-DA's stages, to
set against AutoAugment's search).  Prints a markdown table; ``--png`` draws the plot.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PUBLISHED = {"randaugment", "trivialaugment", "autoaugment", "none", "standard"}


def search_dir(spec: str, root: Path | None) -> Path | None:
    """The folder of the search behind ``spec`` (its ``file=`` option), or None for a published one."""
    m = re.search(r"file=([^,]+)", spec)
    if not m:
        return None
    d = Path(m.group(1)).parent
    if d.is_dir() or root is None:
        return d
    return root / d.name


def cost_of(d: Path) -> tuple[float | None, str]:
    """(CPU minutes, what they cover) of the search in ``d``."""
    if (d / "ifda" / "costs.json").is_file():
        stages = json.loads((d / "ifda" / "costs.json").read_text())["stages"]
        return sum(s["cpu_minutes"] for s in stages.values()), "stages 0-3"
    if not (d / "search.json").is_file():
        return None, f"no search.json in {d}"
    cost = json.loads((d / "search.json").read_text())["cost"]
    if cost.get("total_cpu_minutes") is not None:
        return cost["total_cpu_minutes"], "all phases"
    if cost.get("cpu_minutes") is not None:
        return cost["cpu_minutes"], "all calls"
    if "cpu_minutes_this_call" in cost:
        return None, "not timed (a call resumed a state saved before timing)"
    return cost["trial_cpu_minutes"], "trials only"


def rows(out: Path, root: Path | None) -> list[dict]:
    summary = json.loads((out / "summary.json").read_text())
    found = []
    for spec in summary["strategy_order"]:
        te = summary["strategies"][spec]["test_error"]
        d = search_dir(spec, root)
        name = spec.split(":")[0]
        if d is None:
            minutes, what = (0.0, "published") if name in PUBLISHED else (None, "not a policy search")
        else:
            minutes, what = cost_of(d)
        label = d.name if d is not None else spec
        found.append({"spec": spec, "label": label, "mean": 100 * te["mean"], "std": 100 * (te["std"] or 0.0),
                      "n": te["n"], "cpu_minutes": minutes, "covers": what})  # fmt: skip
    return found


def table(found: list[dict], extra: dict[str, tuple[float | None, str]]) -> str:
    lines = [
        "| strategy | search | search CPU-minutes | covers | test error (%) |",
        "|:---|:---|---:|:---|---:|",
    ]
    for r in found:
        cpu = "—" if r["cpu_minutes"] is None else f"{r['cpu_minutes']:.1f}"
        search = r["label"] if r["covers"] != "published" else "published"
        lines.append(f"| `{r['spec'].split(':')[0]}` | {search} | {cpu} | {r['covers']} | "
                     f"{r['mean']:.2f} ± {r['std']:.2f} (n={r['n']}) |")  # fmt: skip
    for name, (cpu, what) in extra.items():
        lines.append(
            f"| `{name}` (cost only) | {name} | {'—' if cpu is None else f'{cpu:.1f}'} | {what} | — |"
        )
    return "\n".join(lines)


def plot(found: list[dict], extra: dict[str, tuple[float | None, str]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in found:
        if r["cpu_minutes"] is None:
            continue
        x = max(r["cpu_minutes"], 0.1)  # published policies at the left edge of the log axis
        ax.errorbar(x, r["mean"], yerr=r["std"], fmt="o", capsize=3)
        ax.annotate(r["label"], (x, r["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    for name, (cpu, _) in extra.items():
        if cpu is not None:
            ax.axvline(cpu, ls=":", color="grey")
            ax.annotate(
                f"{name} cost", (cpu, ax.get_ylim()[1]), fontsize=8, rotation=90, va="top", ha="right"
            )
    ax.set_xscale("log")
    ax.set(xlabel="search cost (CPU-minutes; published policies drawn at 0.1)", ylabel="test error (%)",
           title="Searched policies: test error (mean ± std over seeds) vs search cost")  # fmt: skip
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("compare_dir", help="a finished augkit compare of searched policies")
    p.add_argument("--search-root", default=None, help="folder holding the searches when file= paths moved")
    p.add_argument("--extra", action="append", default=[], help="NAME=DIR: a search's cost without a row")
    p.add_argument("--png", default=None, help="write the error-vs-cost plot here")
    a = p.parse_args()
    out = Path(a.compare_dir)
    if not (out / "summary.json").is_file():
        sys.exit(f"search_cost.py: {out} has no summary.json (run augkit report on it first)")
    root = Path(a.search_root) if a.search_root else None
    extra = {}
    for item in a.extra:
        name, sep, d = item.partition("=")
        if not sep:
            sys.exit(f"search_cost.py: --extra must be NAME=DIR, got {item!r}")
        extra[name] = cost_of(Path(d))
    found = rows(out, root)
    print(table(found, extra))
    if a.png:
        plot(found, extra, Path(a.png))


if __name__ == "__main__":
    main()
