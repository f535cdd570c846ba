"""Augmentation policies as data: AutoAugment, RandAugment, TrivialAugment, custom tables.

- AutoAugment: Cubuk et al., "AutoAugment: Learning Augmentation Policies from Data",
  CVPR 2019.  Each image draws one of the 25 published sub-policies uniformly; each of its
  two stages fires with its probability; signed ops draw a random sign (released code).
  ``ops="paper"`` (default) uses the paper's Table 6 ranges; ``ops="code"`` swaps in the
  released code's rows (see :mod:`augkit.space`).
- RandAugment: Cubuk et al., "RandAugment: Practical automated data augmentation with a
  reduced search space", NeurIPS 2020.  N ops drawn uniformly with replacement, each applied
  (probability 1, as the paper's Figure 2 code), global magnitude M on the paper's 0-10
  scale.  ``magnitude_std`` is timm's extension: per-op M ~ N(M, std) clipped to [0, 10];
  ``inf`` means uniform in [0, M].
- TrivialAugment: Mueller & Hutter, "TrivialAugment: Tuning-free Yet State-of-the-Art Data
  Augmentation", ICCV 2021.  One op drawn uniformly per image, magnitude uniform over the 31
  levels 0..30 of the "wide" ranges.  Translation is absolute, up to 32 px at every image size,
  as the authors' code (automl/trivialaugment ``aug_lib.py``) and torchvision's
  TrivialAugmentWide; ``translate="relative"`` (spec ``trivial-rel``) scales it with the side.

Serialised policies (``to_json`` / ``save_policy``) carry ``fill`` and ``interpolation``, so a
policy saved with fill 0 reloads with fill 0; ``policy_from_json`` lets an explicit argument
override them and falls back to the former defaults (128, "nearest") for files without them.

Every image of a batch draws its own sub-policy / ops / magnitudes; the batch is executed
by looping over *ops present* (at most a few dozen groups), never over images.

Input limits (every count that sizes memory or time is bounded, so a typo such as
``num_ops: 1e9`` fails at once instead of allocating ~100 GB or running for hours):

- ``MAX_NUM_OPS = 16`` ops per image for RandAugment: the paper's grid searches N in 1..3
  (Cubuk et al. 2020, section 4 / Figure 2), torchvision and timm default to 2; 16 is five times
  the largest published N and still one pass of at most 16 kernels per batch.
- ``MAX_LEVELS = 1024`` TrivialAugment levels: the paper uses 31; finer steps than 1/1023 are
  below the 8-bit resolution of every op.
- ``MAX_SUB_POLICIES = 4096`` sub-policies and ``MAX_STAGES = 16`` ops per sub-policy: the
  published tables have 25 two-op sub-policies, merged Fast AutoAugment folds a few hundred.
- JSON documents: at most ``MAX_JSON_DEPTH = 32`` levels of nesting (a policy needs 4) and
  ``MAX_POLICY_FILE_BYTES = 32 MiB`` per file (4096 x 16 stages as ``save_policy`` writes them
  are about 4 MB).
- Counts must be real ``int`` (not ``bool``, not ``2.7``, not ``"2"``); in JSON documents an
  integral float such as ``2.0`` is accepted, because JSON has one number type and writers other
  than Python may emit it.  Probabilities and magnitudes must be finite real numbers (not
  ``bool``, not strings); ``magnitude_std`` may be ``inf`` (its documented meaning).
"""

from __future__ import annotations

import json
import math
import numbers
import re
import reprlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .base import Augment
from .policy_tables import AUTOAUGMENT_POLICIES, CODE_ALIASES, RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS
from .sample import PolicyParams, rand, randint, randn, sample_policy_aux, uniform
from .space import OPS
from .stages import run_stages

__all__ = [
    "AutoAugment",
    "Policy",
    "RandAugment",
    "TrivialAugment",
    "from_spec",
    "run_stages",
]

_INTERP = ("nearest", "bilinear")


MAX_NUM_OPS = 16
MAX_LEVELS = 1024
MAX_SUB_POLICIES = 4096
MAX_STAGES = 16
MAX_JSON_DEPTH = 32
MAX_POLICY_FILE_BYTES = 32 << 20


def _show(v: object) -> str:
    """A short repr that cannot itself fail (deep nesting, 10**5000)."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an int of {v.bit_length()} bits"
    try:
        return reprlib.repr(v)
    except Exception:  # a user object whose repr raises
        return f"<{type(v).__name__}>"


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_int(v: object, name: str, lo: int, hi: int) -> int:
    """A real int (not bool, not float, not str) in [lo, hi]."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int in [{lo}, {hi}], got {_show(v)} ({type(v).__name__})")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {_show(v)}")
    return int(v)


def _check_real(v: object, name: str, lo: float, hi: float, allow_inf: bool = False) -> float:
    """A finite real number (not bool, not str) in [lo, hi]; ``inf`` only with ``allow_inf``."""
    if not _is_real(v):
        raise TypeError(f"{name} must be a number in [{lo:g}, {hi:g}], got {_show(v)} ({type(v).__name__})")
    f = float(v)
    if math.isnan(f) or (math.isinf(f) and not allow_inf) or not lo <= f <= hi:
        kind = "a number (not NaN)" if allow_inf else "a finite number"
        raise ValueError(f"{name} must be {kind} in [{lo:g}, {hi:g}], got {_show(v)}")
    return f


def _check_choice(v: object, name: str, choices: Sequence[str]) -> str:
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {_show(v)}")
    return v


def _check_fill(fill: object) -> float | tuple[float, ...]:
    if _is_real(fill) and 0 <= fill <= 255:
        return float(fill)
    if isinstance(fill, (tuple, list)) and fill and all(_is_real(f) and 0 <= f <= 255 for f in fill):
        return tuple(float(f) for f in fill)
    raise ValueError(
        f"fill must be a number or a per-channel sequence on the 8-bit scale [0, 255], got {_show(fill)}"
    )


def _check_interp(interpolation: str) -> str:
    return _check_choice(interpolation, "interpolation", _INTERP)


def _check_table(sub_policies: object) -> list[list[tuple[str, float, float]]]:
    """Validate a sub-policy table: a list of lists of ``(op, probability, magnitude)``."""
    stage_form = "(op, probability, magnitude) stages"
    if not isinstance(sub_policies, (list, tuple)):
        raise TypeError(
            f"sub_policies must be a list of sub-policies (lists of {stage_form}), got {_show(sub_policies)}"
        )
    if not 1 <= len(sub_policies) <= MAX_SUB_POLICIES:
        raise ValueError(
            f"sub_policies must hold 1 to {MAX_SUB_POLICIES} sub-policies, got {len(sub_policies)}"
        )
    table = []
    for i, sp in enumerate(sub_policies):
        if not isinstance(sp, (list, tuple)):
            raise TypeError(f"sub_policies[{i}] must be a list of {stage_form}, got {_show(sp)}")
        if len(sp) > MAX_STAGES:
            raise ValueError(f"sub_policies[{i}] must hold at most {MAX_STAGES} stages, got {len(sp)}")
        row = []
        for j, stage in enumerate(sp):
            where = f"sub_policies[{i}][{j}]"
            if not isinstance(stage, (list, tuple)) or len(stage) != 3:
                raise ValueError(f"{where} must be (op, probability, magnitude), got {_show(stage)}")
            op, p, m = stage
            if not isinstance(op, str) or op not in OPS:
                raise ValueError(f"{where} op {_show(op)} is unknown; valid ops: {', '.join(sorted(OPS))}")
            p = _check_real(p, f"{where} probability", 0, 1)
            row.append((op, p, _check_real(m, f"{where} magnitude", 0, 1)))
        table.append(row)
    return table


class _PolicyModule(Augment):
    """Shared apply for every policy: a fixed op-name list indexed by ``PolicyParams.ops``."""

    op_names: tuple[str, ...] = ()

    def __init__(self, fill: float | tuple = 128.0, interpolation: str = "nearest", seed: int = 0) -> None:
        super().__init__(seed)
        self.fill = _check_fill(fill)
        self.interpolation = _check_interp(interpolation)

    def apply_batch(self, x: Tensor, params: PolicyParams) -> Tensor:
        if params.ops.shape[0] != x.shape[0]:
            raise ValueError(f"params are for {params.ops.shape[0]} images but x has {x.shape[0]}")
        return run_stages(x, self.op_names, params, self.fill, self.interpolation)

    def _params(
        self, x: Tensor, ops: Tensor, mag: Tensor, applied: Tensor, g: torch.Generator
    ) -> PolicyParams:
        b, s = ops.shape
        sg, centers, partners = sample_policy_aux(b, s, x.shape[-2], x.shape[-1], g, x.device)
        return PolicyParams(ops, mag, sg, applied, centers, partners)

    def _settings_json(self) -> dict:
        """Fill and interpolation, so a reloaded policy draws exactly the same images."""
        fill = list(self.fill) if isinstance(self.fill, tuple) else self.fill
        return {"fill": fill, "interpolation": self.interpolation}

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"


class Policy(_PolicyModule):
    """A table of sub-policies, each a list of ``(op, probability, magnitude in [0, 1])``.

    Each image draws one sub-policy uniformly (AutoAugment's rule); stage ``j`` fires with
    its probability.  Sub-policies shorter than the longest are padded with no-op stages.
    """

    def __init__(
        self,
        sub_policies: Sequence[Sequence[tuple[str, float, float]]],
        fill: float | tuple = 128.0,
        interpolation: str = "nearest",
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(fill, interpolation, seed)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {_show(name)}")
        table = _check_table(sub_policies)
        names: list[str] = []
        for row in table:
            names.extend(op for op, _, _ in row if op not in names)
        self.op_names = tuple(names)
        self.sub_policies = [list(r) for r in table]
        self.name = name
        depth = max(len(r) for r in table)
        pad = [[("Identity", 0.0, 0.0)] * (depth - len(r)) for r in table]  # never fires: probability 0
        rows = [r + q for r, q in zip(table, pad, strict=True)]
        self._ops = torch.tensor([[names.index(o) if o in names else 0 for o, _, _ in r] for r in rows])
        self._prob = torch.tensor([[p for _, p, _ in r] for r in rows])
        self._mag = torch.tensor([[m for _, _, m in r] for r in rows])

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> PolicyParams:
        b, dev = x.shape[0], x.device
        choice = randint(len(self.sub_policies), (b,), generator, dev)
        ops, prob, mag = (t.to(dev)[choice] for t in (self._ops, self._prob, self._mag))
        applied = rand(tuple(ops.shape), generator, dev) < prob
        return self._params(x, ops, mag, applied, generator)

    def to_json(self) -> dict:
        return {
            "type": "policy",
            "name": self.name,
            "sub_policies": self.sub_policies,
            **self._settings_json(),
        }

    @property
    def spec(self) -> str:
        return "policy:" + json.dumps(self.sub_policies, separators=(",", ":"))


class AutoAugment(Policy):
    """The published AutoAugment policies (``cifar10``, ``svhn``, ``imagenet``)."""

    def __init__(
        self,
        policy: str = "cifar10",
        ops: str = "paper",
        fill: float | tuple = 128.0,
        interpolation: str = "nearest",
        seed: int = 0,
    ) -> None:
        _check_choice(policy, "policy", tuple(AUTOAUGMENT_POLICIES))
        _check_choice(ops, "ops", ("paper", "code"))
        alias = CODE_ALIASES if ops == "code" else {}
        table = [
            [(alias.get(o, o), p, 0.0 if lvl is None else lvl / 10) for o, p, lvl in sp]
            for sp in AUTOAUGMENT_POLICIES[policy]
        ]
        super().__init__(table, fill, interpolation, seed, name=f"autoaugment-{policy}")
        self.policy, self.ops_variant = policy, ops

    def to_json(self) -> dict:
        return {**super().to_json(), "type": "autoaugment", "policy": self.policy, "ops": self.ops_variant}

    @property
    def spec(self) -> str:
        return f"aa-{self.policy}" + ("-code" if self.ops_variant == "code" else "")


class RandAugment(_PolicyModule):
    """RandAugment(N, M): N uniformly drawn ops per image, global magnitude M in [0, 10]."""

    op_names = RANDAUGMENT_OPS

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9,
        magnitude_std: float = 0.0,
        fill: float | tuple = 128.0,
        interpolation: str = "nearest",
        seed: int = 0,
    ) -> None:
        super().__init__(fill, interpolation, seed)
        self.num_ops = _check_int(num_ops, "num_ops", 0, MAX_NUM_OPS)
        self.magnitude = _check_real(magnitude, "magnitude (the paper's 0-10 scale)", 0, 10)
        # inf = uniform in [0, M] (timm's convention)
        self.magnitude_std = _check_real(magnitude_std, "magnitude_std", 0, math.inf, allow_inf=True)

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> PolicyParams:
        b, n, dev = x.shape[0], self.num_ops, x.device
        ops = randint(len(self.op_names), (b, n), generator, dev)
        if math.isinf(self.magnitude_std):
            mag = uniform(0.0, self.magnitude, (b, n), generator, dev)
        elif self.magnitude_std > 0:
            mag = self.magnitude + self.magnitude_std * randn((b, n), generator, dev)
        else:
            mag = torch.full((b, n), self.magnitude, device=dev)
        applied = torch.ones((b, n), dtype=torch.bool, device=dev)
        return self._params(x, ops, mag.clamp(0.0, 10.0) / 10.0, applied, generator)

    def to_json(self) -> dict:
        return {
            "type": "randaugment",
            "num_ops": self.num_ops,
            "magnitude": self.magnitude,
            "magnitude_std": self.magnitude_std,
            **self._settings_json(),
        }

    @property
    def spec(self) -> str:
        s = f"rand-n{self.num_ops}-m{_num(self.magnitude)}"
        return s + (f"-mstd{_num(self.magnitude_std)}" if self.magnitude_std else "")


class TrivialAugment(_PolicyModule):
    """TrivialAugment (wide): one op per image, magnitude uniform over 31 levels.

    ``translate="absolute"`` (default) shifts by ``int(32 m)`` pixels whatever the image size,
    following the authors' code (automl/trivialaugment ``aug_lib.py``, wide space
    ``translate=MinMax(0, 32)``) and torchvision's TrivialAugmentWide; ``"relative"`` shifts by
    up to the whole side (the same on 32 px CIFAR, 7x more at 224 px), for older runs.
    """

    op_names = TRIVIALAUGMENT_OPS

    def __init__(
        self,
        num_levels: int = 31,
        fill: float | tuple = 128.0,
        interpolation: str = "nearest",
        seed: int = 0,
        translate: str = "absolute",
    ) -> None:
        super().__init__(fill, interpolation, seed)
        self.num_levels = _check_int(num_levels, "num_levels", 2, MAX_LEVELS)
        self.translate = _check_choice(translate, "translate", tuple(_TA_TRANSLATE))
        self.op_names = _TA_TRANSLATE[translate]

    def sample_batch(self, x: Tensor, generator: torch.Generator) -> PolicyParams:
        b, dev = x.shape[0], x.device
        ops = randint(len(self.op_names), (b, 1), generator, dev)
        mag = randint(self.num_levels, (b, 1), generator, dev).float() / (self.num_levels - 1)
        applied = torch.ones((b, 1), dtype=torch.bool, device=dev)
        return self._params(x, ops, mag, applied, generator)

    def to_json(self) -> dict:
        return {
            "type": "trivialaugment",
            "num_levels": self.num_levels,
            "translate": self.translate,
            **self._settings_json(),
        }

    @property
    def spec(self) -> str:
        s = "trivial" if self.num_levels == 31 else f"trivial-l{self.num_levels}"
        return s + ("-rel" if self.translate == "relative" else "")


# TrivialAugment's op list per translate reading: the relative one swaps in the ...Rel rows.
_REL = {"TranslateXWide": "TranslateXWideRel", "TranslateYWide": "TranslateYWideRel"}
_TA_TRANSLATE: dict[str, tuple[str, ...]] = {
    "absolute": TRIVIALAUGMENT_OPS,
    "relative": tuple(_REL.get(n, n) for n in TRIVIALAUGMENT_OPS),
}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# --- spec strings and JSON -----------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?|inf)"


def _spec_int(text: str, name: str) -> int:
    """A spec's digit run as an int; more than 18 digits is out of every range (and of int())."""
    if len(text) > 18:
        raise ValueError(f"{name} in the spec has {len(text)} digits, far out of range")
    return int(text)


_SPECS: tuple[tuple[str, Callable[[re.Match, dict], _PolicyModule]], ...] = (
    (
        r"aa-(cifar10|svhn|imagenet)(-code)?",
        lambda m, kw: AutoAugment(m[1], "code" if m[2] else "paper", **kw),
    ),
    (
        rf"rand-n(\d+)-m{_NUM}(?:-mstd{_NUM})?",
        lambda m, kw: RandAugment(
            _spec_int(m[1], "num_ops"), float(m[2]), float(m[3]) if m[3] else 0.0, **kw
        ),
    ),
    (
        r"trivial(?:-l(\d+))?(-rel)?",
        lambda m, kw: TrivialAugment(
            _spec_int(m[1], "num_levels") if m[1] else 31,
            **kw,
            translate="relative" if m[2] else "absolute",
        ),
    ),
    (r"policy:(.+)", lambda m, kw: Policy(_parse_json(m[1], "spec 'policy:<json>'"), **kw)),
)
SPEC_FORMS = (
    "aa-{cifar10,svhn,imagenet}[-code], rand-n<N>-m<M>[-mstd<S>], trivial[-l<L>][-rel], policy:<json>"
)

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text (strings blanked out), without recursion."""
    codes = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8", "replace"), dtype=np.uint8)
    step = np.isin(codes, (91, 123)).astype(np.int64) - np.isin(codes, (93, 125))  # [{ minus ]}
    return int(np.cumsum(step).max(initial=0))


def _parse_json(text: str, where: str) -> object:
    """``json.loads`` with nesting bounded first: the C decoder recurses once per level."""
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(
            f"{where} is too deeply nested: {depth} levels, at most {MAX_JSON_DEPTH} (a policy needs 4)"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not JSON: {e}") from None
    except RecursionError:  # not reachable with the bound above; kept as a last guard
        raise ValueError(f"{where} is too deeply nested") from None


def from_spec(spec: str, **kwargs) -> _PolicyModule:
    """Build a policy from a compact spec string, e.g. ``rand-n2-m9-mstd0.5``."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    for pattern, build in _SPECS:
        m = re.fullmatch(pattern, spec.strip(), flags=re.DOTALL)
        if m:
            return build(m, kwargs)
    raise ValueError(f"spec {_show(spec)} is not a valid policy spec; accepted forms: {SPEC_FORMS}")


# type -> (required keys, optional keys with defaults, builder(values, fill/interp kwargs)).
_JSON_TYPES: dict[str, tuple[tuple[str, ...], dict, Callable[[dict, dict], _PolicyModule]]] = {
    "autoaugment": (("policy",), {"ops": "paper"}, lambda d, kw: AutoAugment(d["policy"], d["ops"], **kw)),
    "randaugment": (
        ("num_ops", "magnitude"),
        {"magnitude_std": 0.0},
        lambda d, kw: RandAugment(d["num_ops"], d["magnitude"], d["magnitude_std"], **kw),
    ),
    "trivialaugment": (
        (),
        {"num_levels": 31, "translate": "absolute"},
        lambda d, kw: TrivialAugment(d["num_levels"], **kw, translate=d["translate"]),
    ),
    "policy": (
        ("sub_policies",),
        {"name": None},
        lambda d, kw: Policy(d["sub_policies"], name=d["name"], **kw),
    ),
}
# Keys a type writes for readers but rebuilds from others (AutoAugment's table comes from its
# name): accepted when they match what the named policy gives, refused when edited.
_JSON_DERIVED = {"autoaugment": ("name", "sub_policies")}
_JSON_INTS = ("num_ops", "num_levels")  # JSON has one number type: 2.0 is read as 2
# What files written before ``fill``/``interpolation`` were serialised meant (the defaults then).
_LEGACY = {"fill": 128.0, "interpolation": "nearest"}


def policy_from_json(
    data: dict, fill: float | Sequence[float] | None = None, interpolation: str | None = None
) -> _PolicyModule:
    """Rebuild a policy from ``to_json`` output.

    ``fill`` / ``interpolation``: an explicit argument wins (a caller such as a strategy option
    overrides the file), else the stored value, else the legacy default (128, "nearest") so files
    saved before these keys existed load as they did.  Errors name the type and the field.
    """
    if not isinstance(data, dict):
        raise TypeError(f"policy JSON must be an object (dict) with a 'type' key, got {_show(data)}")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _JSON_TYPES:
        raise ValueError(f"policy JSON 'type' must be one of {sorted(_JSON_TYPES)}, got {_show(kind)}")
    required, optional, build = _JSON_TYPES[kind]
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(
            f"policy JSON of type {kind!r} is missing key {missing[0]!r}; "
            f"required keys: {', '.join(required)}; optional: {', '.join(optional)}"
        )
    derived = _JSON_DERIVED.get(kind, ())
    unknown = sorted(set(data) - {"type", *required, *optional, *_LEGACY, *derived})
    if unknown:  # a misspelt key (e.g. "magnitdue") would otherwise silently fall back to its default
        raise ValueError(
            f"policy JSON of type {kind!r} has unknown key {unknown[0]!r}; "
            f"valid keys: type, {', '.join((*required, *optional, *_LEGACY))}"
        )
    values = {**optional, **{k: data[k] for k in (*required, *optional) if k in data}}
    for k in _JSON_INTS:
        v = values.get(k)
        if isinstance(v, float) and v.is_integer():
            values[k] = int(v)
    given = {"fill": fill, "interpolation": interpolation}
    kw = {k: given[k] if given[k] is not None else data.get(k, d) for k, d in _LEGACY.items()}
    try:
        policy = build(values, kw)
    except (TypeError, ValueError) as e:
        raise type(e)(f"policy JSON of type {kind!r}: {e}") from None
    _check_derived(kind, data, policy)
    return policy


def _check_derived(kind: str, data: dict, policy: _PolicyModule) -> None:
    """A derived key edited by hand would be ignored: refuse it and say how to change the policy."""
    built = json.loads(json.dumps(policy.to_json()))
    for k in _JSON_DERIVED.get(kind, ()):
        if k in data and json.loads(json.dumps(data[k])) != built.get(k):
            raise ValueError(
                f"policy JSON of type {kind!r}: key {k!r} does not match what {kind} {data.get('policy')!r} "
                f"gives (it is rebuilt from 'policy'); to use edited sub-policies write type 'policy'"
            )
