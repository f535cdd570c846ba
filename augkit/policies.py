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
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .base import Augment
from .policy_tables import AUTOAUGMENT_POLICIES, CODE_ALIASES, RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS
from .sample import PolicyParams, rand, randint, randn, sample_policy_aux, uniform
from .space import OPS, op_value

__all__ = [
    "AutoAugment",
    "Policy",
    "RandAugment",
    "TrivialAugment",
    "from_spec",
    "load_policy",
    "run_stages",
    "save_policy",
]

_INTERP = ("nearest", "bilinear")


def _check_fill(fill: object) -> float | tuple[float, ...]:
    if isinstance(fill, (int, float)) and not isinstance(fill, bool) and 0 <= fill <= 255:
        return float(fill)
    if (
        isinstance(fill, (tuple, list))
        and fill
        and all(isinstance(f, (int, float)) and 0 <= f <= 255 for f in fill)
    ):
        return tuple(float(f) for f in fill)
    raise ValueError(
        f"fill must be a number or per-channel sequence on the 8-bit scale [0, 255], got {fill!r}"
    )


def _check_interp(interpolation: str) -> str:
    if interpolation not in _INTERP:
        raise ValueError(f"interpolation must be one of {_INTERP}, got {interpolation!r}")
    return interpolation


# Per-image auxiliary inputs an op may ask for (OpSpec.aux), resolved from the params.
_AUX: dict[str, Callable[[PolicyParams, int, Tensor, Tensor], Tensor]] = {
    "center": lambda p, s, idx, x: p.centers[idx, s],
    "partner": lambda p, s, idx, x: x.index_select(0, p.partners[idx, s]),
}


def _copy_rows(out: Tensor, idx: Tensor, y: Tensor) -> None:
    """``out[idx] = y`` for whole images.  ``index_copy_`` moves uint8 images byte by byte, so
    contiguous uint8 rows whose length is a multiple of 8 bytes are moved as int64 words."""
    y = y.to(out.dtype)
    if out.element_size() == 1 and out.is_contiguous() and out[0].numel() % 8 == 0 and out.numel():
        rows = out.view(out.shape[0], -1).view(torch.int64)
        rows.index_copy_(0, idx, y.reshape(y.shape[0], -1).contiguous().view(torch.int64))
    else:
        out.index_copy_(0, idx, y)


def run_stages(
    x: Tensor,
    names: Sequence[str],
    params: PolicyParams,
    fill: float | tuple = 128.0,
    interpolation: str = "nearest",
) -> Tensor:
    """Execute per-image op choices stage by stage, grouping images that share an op.

    One stable sort per stage lists each op's images in increasing order (the sub-batch a
    kernel sees is exactly ``x[nonzero(op == k)]``); groups are gathered with ``index_select``
    and written back with ``index_copy_`` (advanced-indexing get/set is several times slower).
    Only the first stage that fires copies the batch: later stages update that copy in place
    (unless an op of the stage reads other images, SamplePairing, or autograd is recording),
    because at 224 px every fresh batch-sized buffer costs more in page faults than the copy.
    """
    h, w = x.shape[-2:]
    n_ops = len(names)
    cur, owned = x, False
    for s in range(params.ops.shape[1]):
        key = torch.where(params.applied[:, s], params.ops[:, s], n_ops)  # n_ops = not applied
        counts = torch.bincount(key.cpu(), minlength=n_ops + 1).tolist()[:n_ops]
        if not any(counts):
            continue
        present = [k for k, n in enumerate(counts) if n]
        reads_others = any("partner" in OPS[names[k]].aux for k in present)
        out = cur if owned and not reads_others and not cur.requires_grad else cur.clone()
        order = torch.sort(key, stable=True).indices  # by op, then by image index
        starts = [sum(counts[:k]) for k in range(n_ops)]
        for k in present:
            idx = order[starts[k] : starts[k] + counts[k]]
            spec = OPS[names[k]]
            value = op_value(names[k], params.magnitude[idx, s], params.sign[idx, s], h, w)
            aux = {a: _AUX[a](params, s, idx, cur) for a in spec.aux}
            y = spec.kernel(cur.index_select(0, idx), value, fill=fill, interpolation=interpolation, **aux)
            _copy_rows(out, idx, y)  # groups are disjoint: in place, later groups still read inputs
        cur, owned = out, True
    return cur


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
        if not sub_policies:
            raise ValueError("sub_policies must hold at least one sub-policy, got an empty sequence")
        names: list[str] = []
        table = []
        for i, sp in enumerate(sub_policies):
            row = []
            for stage in sp:
                if len(stage) != 3:
                    raise ValueError(
                        f"sub_policies[{i}] stage {stage!r} must be (op, probability, magnitude)"
                    )
                op, p, m = stage
                if op not in OPS:
                    raise ValueError(
                        f"sub_policies[{i}] op {op!r} is unknown; valid: {', '.join(sorted(OPS))}"
                    )
                if not 0.0 <= float(p) <= 1.0 or not 0.0 <= float(m) <= 1.0:
                    raise ValueError(
                        f"sub_policies[{i}] stage {stage!r}: probability and magnitude must be in [0, 1]"
                    )
                if op not in names:
                    names.append(op)
                row.append((op, float(p), float(m)))
            table.append(row)
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
        if policy not in AUTOAUGMENT_POLICIES:
            raise ValueError(f"policy must be one of {sorted(AUTOAUGMENT_POLICIES)}, got {policy!r}")
        if ops not in ("paper", "code"):
            raise ValueError(f"ops must be 'paper' or 'code', got {ops!r}")
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
        if not isinstance(num_ops, int) or isinstance(num_ops, bool) or num_ops < 0:
            raise ValueError(f"num_ops must be a non-negative int, got {num_ops!r}")
        if not isinstance(magnitude, (int, float)) or not 0 <= magnitude <= 10:
            raise ValueError(f"magnitude must be a number in [0, 10] (the paper's scale), got {magnitude!r}")
        if not isinstance(magnitude_std, (int, float)) or not magnitude_std >= 0:
            raise ValueError(f"magnitude_std must be >= 0 (inf = uniform in [0, M]), got {magnitude_std!r}")
        self.num_ops, self.magnitude, self.magnitude_std = num_ops, float(magnitude), float(magnitude_std)

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
        if not isinstance(num_levels, int) or num_levels < 2:
            raise ValueError(f"num_levels must be an int >= 2, got {num_levels!r}")
        if translate not in _TA_TRANSLATE:
            raise ValueError(f"translate must be one of {sorted(_TA_TRANSLATE)}, got {translate!r}")
        self.num_levels, self.translate = num_levels, translate
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
_SPECS: tuple[tuple[str, Callable[[re.Match, dict], _PolicyModule]], ...] = (
    (
        r"aa-(cifar10|svhn|imagenet)(-code)?",
        lambda m, kw: AutoAugment(m[1], "code" if m[2] else "paper", **kw),
    ),
    (
        rf"rand-n(\d+)-m{_NUM}(?:-mstd{_NUM})?",
        lambda m, kw: RandAugment(int(m[1]), float(m[2]), float(m[3]) if m[3] else 0.0, **kw),
    ),
    (
        r"trivial(?:-l(\d+))?(-rel)?",
        lambda m, kw: TrivialAugment(
            int(m[1]) if m[1] else 31, **kw, translate="relative" if m[2] else "absolute"
        ),
    ),
    (r"policy:(.+)", lambda m, kw: Policy([[tuple(t) for t in sp] for sp in _loads(m[1])], **kw)),
)
SPEC_FORMS = (
    "aa-{cifar10,svhn,imagenet}[-code], rand-n<N>-m<M>[-mstd<S>], trivial[-l<L>][-rel], policy:<json>"
)


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"spec 'policy:<json>' holds invalid JSON: {e}") from None


def from_spec(spec: str, **kwargs) -> _PolicyModule:
    """Build a policy from a compact spec string, e.g. ``rand-n2-m9-mstd0.5``."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    for pattern, build in _SPECS:
        m = re.fullmatch(pattern, spec.strip())
        if m:
            return build(m, kwargs)
    raise ValueError(f"spec {spec!r} is not a valid policy spec; accepted forms: {SPEC_FORMS}")


_JSON_TYPES: dict[str, Callable[[dict, dict], _PolicyModule]] = {
    "autoaugment": lambda d, kw: AutoAugment(d["policy"], d.get("ops", "paper"), **kw),
    "randaugment": lambda d, kw: RandAugment(
        int(d["num_ops"]), d["magnitude"], d.get("magnitude_std", 0.0), **kw
    ),
    "trivialaugment": lambda d, kw: TrivialAugment(
        int(d.get("num_levels", 31)), **kw, translate=d.get("translate", "absolute")
    ),
    "policy": lambda d, kw: Policy(
        [[tuple(t) for t in sp] for sp in d["sub_policies"]], name=d.get("name"), **kw
    ),
}
# What files written before ``fill``/``interpolation`` were serialised meant (the defaults then).
_LEGACY = {"fill": 128.0, "interpolation": "nearest"}


def policy_from_json(
    data: dict, fill: float | Sequence[float] | None = None, interpolation: str | None = None
) -> _PolicyModule:
    """Rebuild a policy from ``to_json`` output.

    ``fill`` / ``interpolation``: an explicit argument wins (a caller such as a strategy option
    overrides the file), else the stored value, else the legacy default (128, "nearest") so files
    saved before these keys existed load as they did.
    """
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in _JSON_TYPES:
        raise ValueError(f"policy JSON 'type' must be one of {sorted(_JSON_TYPES)}, got {kind!r}")
    given = {"fill": fill, "interpolation": interpolation}
    kw = {k: given[k] if given[k] is not None else data.get(k, d) for k, d in _LEGACY.items()}
    return _JSON_TYPES[kind](data, kw)


def save_policy(policy: _PolicyModule, path: str) -> None:
    """Write the policy as JSON atomically (write a temp file, then rename)."""
    from .io import atomic_write_text

    atomic_write_text(path, json.dumps(policy.to_json(), indent=1))


def load_policy(
    path: str, fill: float | Sequence[float] | None = None, interpolation: str | None = None
) -> _PolicyModule:
    """Read a policy written by ``save_policy``; ``fill``/``interpolation`` as ``policy_from_json``."""
    with open(path, encoding="utf-8") as f:
        return policy_from_json(json.load(f), fill=fill, interpolation=interpolation)
