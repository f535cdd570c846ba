"""Strategy names and options, as a table: ``name`` or ``name:key=value,key=value``.

Policy strategies run on top of a base pipeline (``base=standard`` by default: pad-crop +
flip), as in AutoAugment/RandAugment/TrivialAugment, whose CIFAR results all keep the
standard crop and flip.  ``fill`` (8-bit scale) defaults to 0, the background of
Fashion-MNIST/MNIST/digits; the papers' gray 128 is one option away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from .. import policies, transforms
from ..base import Augment
from ..policy_io import read_policy_json
from . import adversarial, distill, gan, ifda, mixing, patching, pba, saliency, selective, style, tanda
from .base import Strategy, TransformStrategy
from .spec import BASE_OPTIONS as _BASE
from .spec import StrategyDef, base_augments, int_at_least, parse_bool, parse_key_values

_bool = parse_bool
_base = base_augments

__all__ = ["STRATEGIES", "build_strategy", "has_search", "parse_strategy", "strategy_dirname"]


def _with_base(
    name: str, make: Callable[[dict[str, Any]], Augment | list[Augment]]
) -> Callable[[dict], Strategy]:
    def build(o: dict[str, Any]) -> Strategy:
        extra = make(o)
        return TransformStrategy(
            name, transforms.Compose(_base(o) + (extra if isinstance(extra, list) else [extra]))
        )

    return build


def _standard(o: dict[str, Any]) -> list[Augment]:
    parts: list[Augment] = []
    if o["cutout"]:
        parts.append(transforms.Cutout(o["cutout"], fill=0))
    if o["erasing"]:
        parts.append(transforms.RandomErasing(o["erasing"]))
    return parts


def _policy_build(o: dict[str, Any]) -> Strategy:
    """``policy:spec`` or ``policy:file=PATH``; a file holding a learned schedule replays it.

    ``fill`` unset: 0 for a spec or a schedule, the file's own stored fill for a saved policy
    (a policy searched with fill 128 replays with 128); set, it overrides the file.
    """
    fill = 0.0 if o["fill"] is None else o["fill"]
    if not o["file"]:
        return _with_base("policy", lambda o: policies.from_spec(o["spec"], fill=fill))(o)
    data = read_policy_json(o["file"])  # errors name the file; depth and size bounded
    if isinstance(data, dict) and data.get("type") == "policy-schedule":
        return adversarial.schedule_strategy(o["file"], base=o["base"], fill=fill)
    return _with_base("policy", lambda o: policies.policy_from_json(data, fill=o["fill"]))(o)


def _standard_build(o: dict[str, Any]) -> Strategy:
    parts: list[Augment] = [transforms.PadCrop(o["padding"])] if o["padding"] else []
    parts += [transforms.RandomFlip(0.5)] if o["flip"] else []
    return TransformStrategy("standard", transforms.Compose(parts + _standard(o)))


_CORE: dict[str, StrategyDef] = {
    "none": StrategyDef(lambda o: Strategy(), {}, "no augmentation"),
    "standard": StrategyDef(
        _standard_build,
        {"padding": (int, 4), "flip": (_bool, True), "cutout": (int, 0), "erasing": (float, 0.0)},
        "pad-and-crop + horizontal flip (+ optional Cutout size / Random Erasing probability)",
    ),
    "randaugment": StrategyDef(
        _with_base("randaugment", lambda o: policies.RandAugment(o["n"], o["m"], o["mstd"], fill=o["fill"])),
        {"n": (int_at_least(0), 2), "m": (float, 9.0), "mstd": (float, 0.0), **_BASE},
        "RandAugment (Cubuk et al. 2020) on top of the base pipeline",
    ),
    "trivialaugment": StrategyDef(
        _with_base(
            "trivialaugment",
            lambda o: policies.TrivialAugment(o["levels"], fill=o["fill"], translate=o["translate"]),
        ),
        {"levels": (int_at_least(2), 31), "translate": (str, "absolute"), **_BASE},
        "TrivialAugment wide (Mueller & Hutter 2021) on top of the base pipeline; translate=absolute "
        "(up to 32 px, the authors' code) or relative (up to the image side)",
    ),
    "autoaugment": StrategyDef(
        _with_base("autoaugment", lambda o: policies.AutoAugment(o["policy"], o["ops"], fill=o["fill"])),
        {"policy": (str, "cifar10"), "ops": (str, "paper"), **_BASE},
        "a published AutoAugment policy (Cubuk et al. 2019) on top of the base pipeline",
    ),
    "policy": StrategyDef(
        _policy_build,
        {"spec": (str, "rand-n2-m9"), "file": (str, ""), **_BASE, "fill": (float, None)},
        "any policy spec string (aa-..., rand-..., trivial, policy:<json>), or file=PATH: a saved policy "
        "JSON or a learned policy_schedule.json (replayed epoch by epoch)",
        bare_option="spec",
    ),
    "cutout": StrategyDef(
        _with_base("cutout", lambda o: transforms.Cutout(o["size"], fill=o["fill"])),
        {"size": (float, 16.0), **_BASE},
        "Cutout (DeVries & Taylor 2017)",
    ),
    "erasing": StrategyDef(
        _with_base("erasing", lambda o: transforms.RandomErasing(o["p"], value=o["value"])),
        {"p": (float, 0.5), "value": (str, "pixel"), **_BASE},
        "Random Erasing (Zhong et al. 2020)",
    ),
    "hideandseek": StrategyDef(
        _with_base("hideandseek", lambda o: transforms.HideAndSeek(o["grid"], o["p"], fill=o["fill"])),
        {"grid": (int, 4), "p": (float, 0.5), **_BASE},
        "Hide-and-Seek (Singh & Lee 2017)",
    ),
    "gridmask": StrategyDef(
        _with_base("gridmask", lambda o: transforms.GridMask(ratio=o["ratio"], p=o["p"], fill=o["fill"])),
        {"ratio": (float, 0.6), "p": (float, 0.8), **_BASE},
        "GridMask (Chen et al. 2020)",
    ),
    "elastic": StrategyDef(
        _with_base("elastic", lambda o: transforms.ElasticDistortion(o["alpha"], o["sigma"], p=o["p"])),
        {"alpha": (float, 34.0), "sigma": (float, 4.0), "p": (float, 0.5), **_BASE},
        "elastic distortion (Simard et al. 2003)",
    ),
}


# every method family's module contributes its own table (one module per family, DESIGN §3)
_FAMILIES = (mixing, saliency, adversarial, ifda, selective, pba, tanda, style, distill, gan, patching)
STRATEGIES: dict[str, StrategyDef] = dict(_CORE)
for _family in _FAMILIES:
    _clash = set(STRATEGIES) & set(_family.STRATEGY_DEFS)
    if _clash:
        raise RuntimeError(f"{_family.__name__} redefines strategies {sorted(_clash)}")
    STRATEGIES.update(_family.STRATEGY_DEFS)


def parse_strategy(text: str) -> tuple[str, dict[str, Any]]:
    """``"randaugment:n=2,m=9"`` -> ``("randaugment", {"n": 2, "m": 9.0, ...defaults})``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"strategy must be a non-empty string, got {text!r}")
    name, _, rest = text.strip().partition(":")
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} is unknown; valid strategies: {', '.join(STRATEGIES)}")
    spec = STRATEGIES[name]
    opts = parse_key_values(f"strategy {name!r}", rest, spec.options, spec.bare_option)
    return name, opts


def has_search(text: str) -> bool:
    """Whether the strategy ``text`` names declares a pre-training search (style, gan, if-da, ...)."""
    return bool(STRATEGIES[parse_strategy(text)[0]].search)


def build_strategy(text: str) -> Strategy:
    """Build a strategy from its spec; a composite one (SPA) is handed this builder and the table."""
    name, opts = parse_strategy(text)
    spec = STRATEGIES[name]
    return spec.build(opts, build_strategy, STRATEGIES) if spec.composite else spec.build(opts)


MAX_DIRNAME = 120  # well under the 255 bytes most file systems allow for one name


def strategy_dirname(text: str) -> str:
    """A filesystem-safe directory name for a strategy string (long ones end in a digest of the text)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.strip()) or "strategy"
    if len(safe) <= MAX_DIRNAME:
        return safe
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]
    return f"{safe[: MAX_DIRNAME - 17]}-{digest}"
