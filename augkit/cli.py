"""Command line: flags map one to one onto the config dataclasses; no logic of its own.

augkit compare [--config cfg.yaml] [--dataset ...] [--strategies a,b:k=v] [--seeds N] [--out DIR]
augkit train --strategy S --seed K --out DIR [...]
augkit search NAME --out DIR [...]
augkit evaluate RUN_DIR_OR_CHECKPOINT
augkit report RUN_DIR
augkit gallery [--out gallery.png]
augkit patch [--methods none,gdro,clamp] [--seeds N] [--out DIR] [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .runs import TRAIN_HELP, TrainConfig
from .strategies.spec import parse_bool

__all__ = ["main", "split_strategies"]


def split_strategies(text: str) -> list[str]:
    """``"none,randaugment:n=2,m=9,standard"`` -> ``["none", "randaugment:n=2,m=9", "standard"]``.

    A comma-separated token with ``=`` but no ``:`` continues the previous strategy's options.
    """
    out: list[str] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        if "=" in tok and ":" not in tok and out:
            out[-1] += "," + tok
        else:
            out.append(tok)
    return out


def _bool(v: str) -> bool:
    try:
        return parse_bool(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _int_or_auto(v: str) -> int | str:
    return "auto" if v == "auto" else int(v)


def _size(v: str) -> int | float:
    """A whole number is a count, anything else a fraction (TrainConfig refuses 1.0 and 2.5)."""
    return int(v) if v.strip().lstrip("+").isdigit() else float(v)


def _size_or_auto(v: str) -> int | float | str:
    return "auto" if v == "auto" else _size(v)


_TYPES = {
    "int | str": _int_or_auto,
    "int | float": _size,
    "int | float | str": _size_or_auto,
    int: int,
    float: float,
    bool: _bool,
    str: str,
    "int": int,
    "float": float,
    "bool": _bool,
    "str": str,
    "str | None": str,
}


def _add_train_flags(
    p: argparse.ArgumentParser, skip: tuple[str, ...] = (), defaults: dict | None = None
) -> None:
    shown = defaults or {}
    for f in fields(TrainConfig):
        if f.name in skip:
            continue
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_TYPES[f.type],
            default=None,
            help=f"{TRAIN_HELP[f.name]} (default: {_shown(shown.get(f.name, f.default))})",
        )


def _shown(v: Any) -> str:
    return "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _load_config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    text = Path(path).read_text(encoding="utf-8")
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError: one line naming the file
        kind = "YAML" if path.endswith((".yaml", ".yml")) else "JSON"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"--config {path} is not valid {kind}: {first}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of option names to values")
    return {k.replace("-", "_"): v for k, v in data.items()}


def _flags(ns: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    return {k: getattr(ns, k) for k in names if getattr(ns, k, None) is not None}


def _cmd_compare(ns: argparse.Namespace) -> int:
    from .experiment import CompareConfig, compare, quick_preset

    train_names = [f.name for f in fields(TrainConfig)]
    top = ["seeds", "out", "jobs", "backend", "ray_address", "budget_check"]
    given = {**_load_config_file(ns.config), **_flags(ns, train_names + top)}
    if ns.strategies is not None:
        given["strategies"] = split_strategies(ns.strategies)
    elif isinstance(given.get("strategies"), str):
        given["strategies"] = split_strategies(given["strategies"])
    free = {"out", "device", "threads", "jobs", "backend", "ray_address", "budget_check"}
    base = quick_preset().to_dict() if not given or set(given) <= free else {}
    cfg = CompareConfig.from_dict({**base, **given})
    if ns.dry_run:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0
    report = compare(
        cfg,
        resume=ns.resume or bool(base),  # the no-argument preset continues its own earlier run
        overwrite=ns.overwrite,
        progress=not ns.quiet,
        command="augkit " + " ".join(sys.argv[1:]),
    )
    print(f"report: {report}  (also {report.with_suffix('.html')}, summary.json, results.csv)")
    return 0


def _cmd_patch(ns: argparse.Namespace) -> int:
    from .patch_compare import PatchConfig, run_patch

    names = [f.name for f in fields(PatchConfig)]
    given = _flags(ns, names)
    if "methods" in given:
        given["methods"] = tuple(split_strategies(given["methods"]))
    cfg = PatchConfig(**given)
    run = TrainConfig(**{**PATCH_DEFAULTS, **_flags(ns, [f.name for f in fields(TrainConfig)])})
    report = run_patch(cfg, run, resume=ns.resume, progress=not ns.quiet)
    print(f"report: {report}  (also patch.json)")
    return 0


def _cmd_train(ns: argparse.Namespace) -> int:
    from .distributed import is_main_process, launch_env
    from .rundir import check_out, prepare_out
    from .runs import (
        check_device,
        check_distributed,
        check_loader,
        check_same_run,
        prepare_data,
        resolve,
        train_run,
    )
    from .strategies import build_strategy

    names = [f.name for f in fields(TrainConfig)]
    cfg = TrainConfig.from_dict({**_load_config_file(ns.config), **_flags(ns, names)})
    if ns.dry_run:
        print(json.dumps(asdict(cfg), indent=1))
        return 0
    build_strategy(cfg.strategy)  # every check that can fail runs before the directory is touched
    check_device(cfg.device)
    ds = prepare_data(cfg)
    check_loader(cfg, ds)
    check_distributed(cfg, ds, launch_env())  # under torchrun: the batch split, the GPUs, the strategy
    out = Path(ns.out)
    check_out(out)
    if ns.resume and (out / "config.json").is_file():
        check_same_run(json.loads((out / "config.json").read_text()), asdict(resolve(cfg, ds)), out)
    if is_main_process():  # torchrun: rank 0 alone prepares the directory, before the ranks meet
        prepare_out(out, ns.resume, ns.overwrite)
    final = train_run(cfg, out, resume=ns.resume, progress=not ns.quiet, dataset=ds)
    if is_main_process():
        print(json.dumps({k: v for k, v in final.items() if not isinstance(v, (list, dict))}, indent=1))
    return 0


def _cmd_evaluate(ns: argparse.Namespace) -> int:
    from .runs import evaluate_checkpoint

    result = evaluate_checkpoint(ns.path)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (list, dict))}, indent=1))
    return 0


def _cmd_report(ns: argparse.Namespace) -> int:
    from .experiment import report

    print(f"report: {report(ns.run_dir)}")
    return 0


def _cmd_gallery(ns: argparse.Namespace) -> int:
    from .gallery import gallery_png, real_images
    from .io import atomic_write_bytes

    png = gallery_png(real_images(data_dir=ns.data_dir), seed=ns.seed)
    atomic_write_bytes(ns.out, png)
    print(f"gallery: {ns.out}")
    return 0


def _cmd_search(ns: argparse.Namespace) -> int:
    from .runs import prepare_data
    from .search import run_search
    from .train import fit

    names = [f.name for f in fields(TrainConfig)]
    given = {**_load_config_file(ns.config), **_flags(ns, names)}
    if ns.method in _policy_searches():
        return _cmd_policy_search(ns, TrainConfig.from_dict(given))
    if ns.options or ns.backend != "ray" or ns.ray_address:
        raise ValueError(f"--options/--backend/--ray-address apply to policy searches, not {ns.method!r}")
    given.setdefault("strategy", ns.method)
    if given["strategy"].partition(":")[0] != ns.method:
        raise ValueError(f"--strategy must be a {ns.method!r} strategy string, got {given['strategy']!r}")
    cfg = TrainConfig.from_dict(given)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    art = run_search(cfg.strategy, prepare_data(cfg), fit, ns.out, asdict(cfg), progress=not ns.quiet)
    print(json.dumps(art.summary, indent=1))
    return 0


def _cmd_policy_search(ns: argparse.Namespace, cfg: TrainConfig) -> int:
    from .policy_search import run_policy_search

    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    summary = run_policy_search(
        ns.method, cfg, ns.out, ns.options, progress=not ns.quiet, backend=ns.backend,
        ray_address=ns.ray_address, cpus=ns.cpus, cpus_per_trial=ns.cpus_per_trial,
        gpus_per_trial=ns.gpus_per_trial,
    )  # fmt: skip
    print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, list)}, indent=1))
    return 0


def _policy_searches() -> list[str]:
    from .policy_search import POLICY_SEARCHES

    return sorted(POLICY_SEARCHES)


def _searchable() -> list[str]:
    from .search import searchable

    return sorted({*searchable(), *_policy_searches()})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="augkit", description="batched, reproducible image augmentation")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="train several strategies over several seeds and write a report")
    _add_train_flags(c, skip=("strategy", "seed"))
    c.add_argument(
        "--strategies",
        help="comma-separated strategy specs, e.g. none,standard,randaugment:n=2,m=9 "
        "(default: none,standard,randaugment,trivialaugment,autoaugment)",
    )
    c.add_argument("--seeds", type=int, help="number of seeds, run as seeds 0..N-1 (default: 3)")
    c.add_argument("--out", help="output directory of the comparison (default: runs/compare)")
    c.add_argument("--jobs", type=int, help="runs trained at once in worker processes (default: 1)")
    c.add_argument(
        "--backend",
        choices=["local", "ray"],
        help="local: this machine (--jobs processes); ray: every run a Ray task (default: local)",
    )
    c.add_argument("--ray-address", help="Ray cluster address for --backend ray (default: start a local Ray)")
    c.add_argument(
        "--budget-check",
        choices=["half", "off"],
        help="half: train every run again with half the epochs (in OUT/budget-half, 1.5x the "
        "compute) and warn when a strategy's difference to the baseline moved beyond seed noise, "
        "i.e. the budget decides it; off: skip (default: half; off in the no-argument preset)",
    )
    t = sub.add_parser("train", help="train one strategy with one seed")
    _add_train_flags(t)
    t.add_argument("--out", required=True, help="run directory")
    resume_help = {
        c: "continue an interrupted compare in --out; it may also add strategies or seeds (only the new "
        "runs train; every other option must match)",
        t: "continue an interrupted run in the output directory",
    }
    for q in (c, t):
        q.add_argument("--config", help="YAML or JSON file with the same option names as the flags")
        q.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
        q.add_argument("--resume", action="store_true", help=resume_help[q])
        q.add_argument("--overwrite", action="store_true", help="delete an existing output directory first")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
    se = sub.add_parser("search", help="policy search (autoaugment, randaugment-grid, fast-autoaugment) or a "
                        "strategy's pre-training search (if-da)")  # fmt: skip
    se.add_argument("method", choices=_searchable(), help="the search to run; the run flags set each trial")
    _add_train_flags(se)
    se.add_argument("--out", required=True, help="search directory (finished trials and stages are reused)")
    se.add_argument("--options", default="", help="search options k=v,k=v (lists with ';'), e.g. n=1;2,m=5;9")
    se.add_argument(
        "--backend",
        default="ray",
        choices=["ray", "local"],
        help="ray: trials as Ray Tune trials (needs the .[search] extra); local: in this process",
    )
    se.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)")
    se.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    se.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs each trial requests (default: 1)")
    se.add_argument(
        "--gpus-per-trial", type=float, default=0, help="GPU fraction each trial requests (default: 0)"
    )
    se.add_argument("--config", help="YAML or JSON file with the same option names as the flags")
    se.add_argument("--quiet", action="store_true", help="no progress output")
    _add_patch_parser(sub)
    e = sub.add_parser("evaluate", help="re-evaluate a run directory's checkpoint")
    e.add_argument("path", help="run directory (with config.json and checkpoint.pt) or checkpoint file")
    r = sub.add_parser("report", help="(re)write the report of a compare run directory")
    r.add_argument("run_dir", help="a compare output directory (its runs are read, nothing is trained)")
    g = sub.add_parser("gallery", help="PNG grid of every op and policy on real images")
    g.add_argument("--out", default="gallery.png", help="PNG file to write (default: gallery.png)")
    g.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (default: standard places)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random draws shown (default: 0)")
    return p


PATCH_SKIP = ("strategy", "seed", "subset", "val", "subset_seed", "test_subset")
PATCH_DEFAULTS = {"model": "small_cnn_half", "epochs": "auto", "eval_every": 4, "adv_images": 1000}


def _add_patch_parser(sub) -> None:  # noqa: ANN001
    from .patch_compare import PATCH_HELP, PatchConfig

    pp = sub.add_parser("patch", help="model patching: ERM, GDRO and CLAMP on the zigzag subgroup benchmark")
    for f in fields(PatchConfig):
        kind = str if f.name == "methods" else _TYPES[f.type]
        shown = ",".join(f.default) if f.name == "methods" else _shown(f.default)
        pp.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=None,
                        help=f"{PATCH_HELP[f.name]} (default: {shown})")  # fmt: skip
    _add_train_flags(pp, skip=PATCH_SKIP, defaults=PATCH_DEFAULTS)
    pp.add_argument("--resume", action="store_true", help="continue an interrupted experiment in --out")
    pp.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    handlers = {
        "compare": _cmd_compare,
        "search": _cmd_search,
        "train": _cmd_train,
        "evaluate": _cmd_evaluate,
        "report": _cmd_report,
        "gallery": _cmd_gallery,
        "patch": _cmd_patch,
    }
    from .distributed import is_main_process, launch_env
    from .train import TrainingDiverged

    # the checks are the same on every rank of a torchrun launch: rank 0 alone says why it stops
    say = print if is_main_process() else (lambda *a, **k: None)
    try:
        if ns.command != "train" and launch_env() is not None:
            raise ValueError(_NOT_UNDER_TORCHRUN.format(ns.command))
        return handlers[ns.command](ns)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, ImportError) as e:
        say(f"augkit {ns.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:  # a finished command that failed: not a usage error
        say(f"augkit {ns.command}: {_one_line(e)}", file=sys.stderr)
        return 3


_NOT_UNDER_TORCHRUN = (
    "augkit {} does not run under torchrun: only augkit train trains one run on several processes; "
    "compare parallelises its runs with --jobs N or --backend ray, searches with --backend ray"
)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
