"""Throughput of augkit ops, transforms and policies against a memory copy and against peers.

Run from the repository root::

    python benchmarks/bench_ops.py                       # full: 32 px and 224 px, 1 and 2 threads, CPU
    python benchmarks/bench_ops.py --quick               # about 2 minutes on 2 cores
    python benchmarks/bench_ops.py --device cuda --out results.json --markdown

Inputs are uint8 crops of real photographs (scikit-image sample images at several zoom
levels): 256 x 3 x 32 x 32 and 64 x 3 x 224 x 224.  Each row reports images per second
(median of ``repeats`` timed blocks after warm-up) and how many times slower it is than a
plain ``x.clone()`` of the same uint8 batch, measured in blocks interleaved with the row's
own blocks so that both see the same machine load.

Every peer is run the way its users run it:

- augkit: the whole batch in one call with an explicit ``torch.Generator``; every image
  draws its own parameters (and, for policies, its own ops).
- kornia: ``kornia.augmentation`` modules on the whole batch, float32 in [0, 1] (kornia's
  input convention; the uint8 -> float conversion is *not* timed), ``same_on_batch=False``
  (per-image parameters).  ``kornia.augmentation.auto`` policies draw ONE op / sub-policy
  per call for the whole batch (only magnitudes and probabilities vary per row), so their
  batched rows are marked "no"; per-image randomness needs one call per image, which is
  the "per-image loop" row.
- albumentations: one call per image on HWC uint8 numpy arrays, as inside a Dataset's
  ``__getitem__`` (arrays prepared beforehand, outputs not stacked: both untimed).  It has
  no RandAugment / TrivialAugment / AutoAugment; the rows with those names are built from
  ``SomeOf`` / ``OneOf`` / ``Sequential`` over the closest albumentations ops with
  augkit's magnitudes, the way its users build them.  OpenCV threads = torch threads.
- torchvision v2 (only if importable; augkit never installs it): per-image loop on uint8
  tensors, and the batched call, which draws ONE set of parameters for the whole batch
  (marked "no").

"vs peer" = augkit images/s divided by the fastest peer that gives per-image randomness for
the same operation (> 1: augkit is faster).  Targets (issue 17): RandAugment, TrivialAugment
and AutoAugment >= 2x the fastest per-image peer at 32 px and >= 1.5x at 224 px; flip, pad-crop
and erasing (constant fill) <= 3x a copy, uint8 and float32 (a "float32" row runs on the float
batch and is compared with a copy of that float batch).
A benchmark, not a test: nothing here asserts on a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_info, markdown, print_text, real_batch, sync_for, time_pair  # noqa: E402

import augkit  # noqa: E402
from augkit.policy_tables import AUTOAUGMENT_POLICIES, RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS  # noqa: E402
from augkit.space import OPS, op_value  # noqa: E402

SIZES = {32: 256, 224: 64}  # image side -> batch size
QUICK_OPS = (
    "Rotate",
    "ShearX",
    "TranslateX",
    "AutoContrast",
    "Equalize",
    "Solarize",
    "Posterize",
    "Contrast",
    "Color",
    "Sharpness",
    "Cutout",
)
QUICK_TRANSFORMS = ("RandomFlip", "PadCrop", "RandomErasing", "RandomResizedCrop", "ColorJitter")
POLICY_TASKS = ("randaugment", "trivialaugment", "aa-cifar10", "aa-imagenet")
COPY_TASKS = ("flip", "padcrop", "erasing")


@dataclass
class Ctx:
    size: int
    x: torch.Tensor  # (B, 3, S, S) uint8 on the device
    xf: torch.Tensor  # same images, float32 in [0, 1]
    arrays: list  # HWC uint8 numpy arrays (CPU), for albumentations
    device: torch.device
    quick: bool

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    def loop(self, body: Callable[[int], object]) -> tuple[Callable[[], object], int]:
        """A per-image loop over ``n`` images per call (all, or a few in quick mode).

        Each call continues where the previous one stopped, so a quick run still cycles
        through the whole batch instead of timing a cache-hot handful of images.
        """
        n = self.batch if not self.quick else min(self.batch, 32 if self.size <= 64 else 16)
        start = [0]

        def call() -> list:
            s, total = start[0], self.batch
            start[0] = (s + n) % total
            return [body((s + k) % total) for k in range(n)]

        return call, n


@dataclass
class Case:
    name: str
    library: str
    build: Callable[[Ctx], tuple[Callable[[], object], int]]  # -> (call, images per call)
    task: str | None = None  # comparable operation across libraries
    per_image: bool = True  # does each image get its own random parameters / ops?
    quick: bool = True
    note: str = ""
    copy_float: bool = False  # compare with a copy of the float32 batch (float32 rows)


# --- augkit ----------------------------------------------------------------------------------------


def _gen(ctx: Ctx) -> torch.Generator:
    return torch.Generator(device=ctx.device).manual_seed(0)


def _op_case(name: str) -> Case:
    def build(ctx: Ctx):
        g = torch.Generator().manual_seed(1)
        b, s = ctx.batch, ctx.size
        mag = torch.rand(b, generator=g)
        sign = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
        value = op_value(name, mag, sign, s, s).to(ctx.device)
        kw = {}
        if "center" in OPS[name].aux:
            kw["center"] = torch.randint(0, s, (b, 2), generator=g).to(ctx.device)
        return (lambda: augkit.apply_op(ctx.x, name, value, **kw)), b

    return Case(name, "augkit op", build, quick=name in QUICK_OPS)


def _module_case(
    name: str,
    make: Callable[[int], torch.nn.Module],
    task: str | None = None,
    float_input: bool = False,
    library: str = "augkit",
    quick: bool = True,
    note: str = "",
    copy_float: bool = False,
) -> Case:
    def build(ctx: Ctx):
        mod, g = make(ctx.size).to(ctx.device), _gen(ctx)
        x = ctx.xf if float_input else ctx.x
        return (lambda: mod(x, generator=g)), ctx.batch

    return Case(name, library, build, task, quick=quick, note=note, copy_float=copy_float)


def augkit_cases() -> list[Case]:
    cases = [_op_case(n) for n in OPS]
    t = augkit
    transforms = [
        ("RandomFlip", lambda s: t.RandomFlip(0.5), "flip", ""),
        ("PadCrop", lambda s: t.PadCrop(4), "padcrop", "pad 4, zero fill"),
        ("RandomErasing", lambda s: t.RandomErasing(), "erasing", "paper default: per-pixel random fill"),
        (
            "RandomErasing(value=0)",
            lambda s: t.RandomErasing(value=0.0),
            "erasing",
            "constant fill, as the peers",
        ),
        ("RandomResizedCrop", lambda s: t.RandomResizedCrop(s), "rrc", "bilinear"),
        ("RandomAffine", lambda s: t.RandomAffine(15, (0.1, 0.1), (0.9, 1.1), 0.1), None, "bilinear"),
        ("ElasticDistortion", lambda s: t.ElasticDistortion(), None, "alpha 34, sigma 4"),
        ("ColorJitter", lambda s: t.ColorJitter(0.4, 0.4, 0.4, 0.1), "jitter", "b/c/s 0.4, hue 0.1"),
        ("GaussianBlur", lambda s: t.GaussianBlur((0.1, 2.0), p=0.5), "blur", "sigma 0.1-2, p 0.5"),
        ("GaussianNoise", lambda s: t.GaussianNoise(), None, ""),
        ("Cutout", lambda s: t.Cutout(0.5), "cutout", "half the side"),
        ("HideAndSeek", lambda s: t.HideAndSeek(), None, ""),
        ("GridMask", lambda s: t.GridMask(), None, ""),
        ("SamplePairing", lambda s: t.SamplePairing(), None, ""),
    ]
    cases += [
        _module_case(n, f, task, quick=n.split("(")[0] in QUICK_TRANSFORMS, note=note, library="augkit")
        for n, f, task, note in transforms
    ]
    # the copy targets hold for float32 too: the same transforms on the float batch, against its copy
    cases += [
        _module_case(
            n + " float32", f, task, True, quick=True, note=note + " vs float32 copy", copy_float=True
        )
        for n, f, task, note in transforms
        if task in COPY_TASKS and n != "RandomErasing"
    ]
    policies = [
        ("RandAugment(2, 9)", lambda s: t.RandAugment(2, 9), "randaugment"),
        ("TrivialAugment()", lambda s: t.TrivialAugment(), "trivialaugment"),
        ("AutoAugment('cifar10')", lambda s: t.AutoAugment("cifar10"), "aa-cifar10"),
        ("AutoAugment('imagenet')", lambda s: t.AutoAugment("imagenet"), "aa-imagenet"),
    ]
    for n, f, task in policies:
        cases.append(_module_case(n, f, task, library="augkit policy", note="uint8"))
        cases.append(
            _module_case(
                n + " float32", f, None, True, "augkit policy", quick=False, note="float input, like kornia"
            )
        )
    return cases


# --- kornia ----------------------------------------------------------------------------------------


def kornia_cases() -> list[Case]:
    try:
        import kornia.augmentation as K
    except ImportError:
        return []

    def batched(name, make, task, per_image=True, note=""):
        def build(ctx: Ctx):
            mod = make(K, ctx.size).to(ctx.device)
            return (lambda: mod(ctx.xf)), ctx.batch

        return Case(name, "kornia", build, task, per_image, note=note)

    def looped(name, make, task, note=""):
        def build(ctx: Ctx):
            mod = make(K, ctx.size).to(ctx.device)
            return ctx.loop(lambda i: mod(ctx.xf[i : i + 1]))

        return Case(name + " per-image loop", "kornia", build, task, True, note=note)

    cases = [
        batched("RandomHorizontalFlip", lambda K, s: K.RandomHorizontalFlip(p=0.5), "flip"),
        batched("RandomCrop(padding=4)", lambda K, s: K.RandomCrop((s, s), padding=4), "padcrop"),
        batched(
            "RandomErasing",
            lambda K, s: K.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
            "erasing",
            note="value 0",
        ),
        batched("RandomResizedCrop", lambda K, s: K.RandomResizedCrop((s, s)), "rrc"),
        batched("ColorJitter", lambda K, s: K.ColorJitter(0.4, 0.4, 0.4, 0.1), "jitter"),
        batched("RandomGaussianBlur", lambda K, s: K.RandomGaussianBlur((13, 13), (0.1, 2.0), p=0.5), "blur"),
    ]
    try:
        from kornia.augmentation import auto
    except ImportError:
        return cases
    pols = [
        ("RandAugment(n=2, m=27)", lambda K, s: auto.RandAugment(n=2, m=27), "randaugment"),
        ("TrivialAugment()", lambda K, s: auto.TrivialAugment(), "trivialaugment"),
        ("AutoAugment('cifar10')", lambda K, s: auto.AutoAugment("cifar10"), "aa-cifar10"),
        ("AutoAugment('imagenet')", lambda K, s: auto.AutoAugment("imagenet"), "aa-imagenet"),
    ]
    for n, f, task in pols:
        cases.append(batched(n, f, task, per_image=False, note="one op choice per batch"))
        cases.append(looped(n, f, task))
    return cases


# --- albumentations --------------------------------------------------------------------------------


def _alb_op(A, name: str, m: float, p: float, s: int, spread: bool = False):
    """The closest albumentations transform to augkit op ``name`` at magnitude ``m``.

    The native values augkit would use span ``[lo, hi]``: both signs of a signed op (where
    augkit draws a sign, albumentations draws uniformly in between; the cost is the same),
    and with ``spread`` (TrivialAugment) magnitudes 0 to 1.
    """
    mags = torch.tensor([0.0, 1.0] if spread else [m, m])
    vals = torch.cat([op_value(name, mags, torch.full((2,), sg), s, s) for sg in (1.0, -1.0)])
    lo, hi = float(vals.min()), float(vals.max())
    big = max(abs(lo), abs(hi))
    base = re.sub(r"(Signed|Wide|Code)$", "", name)
    deg = (math.degrees(math.atan(lo)), math.degrees(math.atan(hi)))  # augkit shears by a factor
    enh = lambda key: A.ColorJitter(
        **{k: (lo, hi) if k == key else 0 for k in ("brightness", "contrast", "saturation")}, hue=0, p=p
    )
    table = {
        "Identity": lambda: A.NoOp(p=1.0),
        "ShearX": lambda: A.Affine(shear={"x": deg, "y": 0}, interpolation=0, fill=128, p=p),
        "ShearY": lambda: A.Affine(shear={"x": 0, "y": deg}, interpolation=0, fill=128, p=p),
        "TranslateX": lambda: A.Affine(
            translate_percent={"x": (lo / s, hi / s), "y": 0}, interpolation=0, fill=128, p=p
        ),
        "TranslateY": lambda: A.Affine(
            translate_percent={"x": 0, "y": (lo / s, hi / s)}, interpolation=0, fill=128, p=p
        ),
        "Rotate": lambda: A.Affine(rotate=(lo, hi), interpolation=0, fill=128, p=p),
        # method="pil" is PIL's autocontrast; the default "cdf" is an equalisation
        "AutoContrast": lambda: A.AutoContrast(method="pil", p=p),
        "Equalize": lambda: A.Equalize(p=p),
        "Invert": lambda: A.InvertImg(p=p),
        "Solarize": lambda: A.Solarize(threshold_range=(min(lo, 255) / 255, min(hi, 255) / 255), p=p),
        "Posterize": lambda: A.Posterize(num_bits=(int(lo), int(hi)), p=p),
        "Brightness": lambda: enh("brightness"),
        "Contrast": lambda: enh("contrast"),
        "Color": lambda: enh("saturation"),
        "Sharpness": lambda: A.Sharpen(
            alpha=(0.0, min(1.0, max(abs(lo - 1), abs(hi - 1)))), lightness=(1.0, 1.0), p=p
        ),
        "Cutout": lambda: A.CoarseDropout(
            num_holes_range=(1, 1),
            hole_height_range=(int(big), int(big)),
            hole_width_range=(int(big), int(big)),
            fill=128,
            p=p,
        ),
    }
    if base not in table:
        raise ValueError(f"no albumentations counterpart for augkit op {name!r}")
    return table[base]()


def _alb_policy(A, task: str, s: int):
    if task == "randaugment":
        return A.SomeOf([_alb_op(A, n, 0.9, 1.0, s) for n in RANDAUGMENT_OPS], n=2, replace=True, p=1.0)
    if task == "trivialaugment":
        return A.OneOf([_alb_op(A, n, 1.0, 1.0, s, spread=True) for n in TRIVIALAUGMENT_OPS], p=1.0)
    table = AUTOAUGMENT_POLICIES[task.removeprefix("aa-")]
    subs = [A.Sequential([_alb_op(A, n, (lvl or 0) / 10, pr, s) for n, pr, lvl in sp], p=1.0) for sp in table]
    return A.OneOf(subs, p=1.0)


def albumentations_cases() -> list[Case]:
    try:
        import albumentations as A
        import cv2
    except ImportError:
        return []

    def looped(name, make, task, note=""):
        def build(ctx: Ctx):
            tr = make(ctx.size)
            return ctx.loop(lambda i: tr(image=ctx.arrays[i])["image"])

        return Case(name, "albumentations", build, task, True, note=note)

    cases = [
        looped("HorizontalFlip", lambda s: A.HorizontalFlip(p=0.5), "flip"),
        looped(
            "PadIfNeeded+RandomCrop",
            lambda s: A.Compose(
                [A.PadIfNeeded(s + 8, s + 8, border_mode=cv2.BORDER_CONSTANT, fill=0), A.RandomCrop(s, s)]
            ),
            "padcrop",
        ),
        looped(
            "Erasing", lambda s: A.Erasing(scale=(0.02, 0.4), ratio=(0.3, 3.3), p=0.5), "erasing", "fill 0"
        ),
        looped(
            "CoarseDropout",
            lambda s: A.CoarseDropout((1, 1), (s // 2, s // 2), (s // 2, s // 2), p=1.0),
            "cutout",
            "1 hole, half the side",
        ),
        looped("RandomResizedCrop", lambda s: A.RandomResizedCrop((s, s)), "rrc"),
        looped("ColorJitter", lambda s: A.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0), "jitter"),
        looped("GaussianBlur", lambda s: A.GaussianBlur((3, 13), (0.1, 2.0), p=0.5), "blur"),
    ]
    built = "built from SomeOf/OneOf/Sequential"
    cases += [
        looped(
            "RandAugment-like SomeOf(n=2)", lambda s: _alb_policy(A, "randaugment", s), "randaugment", built
        ),
        looped(
            "TrivialAugment-like OneOf",
            lambda s: _alb_policy(A, "trivialaugment", s),
            "trivialaugment",
            built,
        ),
        looped("AutoAugment-like cifar10", lambda s: _alb_policy(A, "aa-cifar10", s), "aa-cifar10", built),
        looped("AutoAugment-like imagenet", lambda s: _alb_policy(A, "aa-imagenet", s), "aa-imagenet", built),
    ]
    return cases


# --- torchvision (only when already installed) ------------------------------------------------------


def torchvision_cases() -> list[Case]:
    try:
        from torchvision.transforms import v2
    except ImportError:
        return []
    made = [
        ("RandomHorizontalFlip", lambda s: v2.RandomHorizontalFlip(0.5), "flip"),
        ("RandomCrop(padding=4)", lambda s: v2.RandomCrop(s, padding=4), "padcrop"),
        ("RandomErasing", lambda s: v2.RandomErasing(0.5, (0.02, 0.4), (0.3, 3.3)), "erasing"),
        ("RandomResizedCrop", lambda s: v2.RandomResizedCrop(s, antialias=True), "rrc"),
        ("ColorJitter", lambda s: v2.ColorJitter(0.4, 0.4, 0.4, 0.1), "jitter"),
        ("GaussianBlur", lambda s: v2.GaussianBlur(13, (0.1, 2.0)), "blur"),
        ("RandAugment(2, 9)", lambda s: v2.RandAugment(2, 9), "randaugment"),
        ("TrivialAugmentWide()", lambda s: v2.TrivialAugmentWide(), "trivialaugment"),
        ("AutoAugment(CIFAR10)", lambda s: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10), "aa-cifar10"),
        ("AutoAugment(IMAGENET)", lambda s: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET), "aa-imagenet"),
    ]
    cases = []
    for name, make, task in made:

        def loop(ctx: Ctx, make=make):
            tr = make(ctx.size)
            return ctx.loop(lambda i: tr(ctx.x[i]))

        def batch(ctx: Ctx, make=make):
            tr = make(ctx.size)
            return (lambda: tr(ctx.x)), ctx.batch

        cases.append(Case(name + " per-image loop", "torchvision", loop, task, True))
        cases.append(
            Case(
                name + " batched",
                "torchvision",
                batch,
                task,
                False,
                note="one parameter draw for the whole batch",
            )
        )
    return cases


# --- running -----------------------------------------------------------------------------------------


def run_config(cases: list[Case], size: int, threads: int, device: torch.device, args) -> dict:
    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass
    torch.manual_seed(0)  # kornia draws from the global RNG
    x = real_batch(SIZES[size], size, seed=size).to(device)
    ctx = Ctx(
        size,
        x,
        x.float().div(255),
        [a.numpy() for a in x.cpu().permute(0, 2, 3, 1).contiguous()],
        device,
        args.quick,
    )
    sync = sync_for(device)
    copy = lambda: ctx.x.clone()
    copy_f = lambda: ctx.xf.clone()
    kw = dict(
        repeats=3 if args.quick else 5, min_time=0.02 if args.quick else 0.1, warmup=1 if args.quick else 2
    )
    load0 = os.getloadavg()
    base = time_pair(copy, copy, sync, **kw)
    rows = [
        dict(
            name="memcopy x.clone()",
            library="baseline",
            task=None,
            per_image=None,
            note="uint8 batch",
            images_per_s=ctx.batch / base.op_s,
            seconds_per_call=base.op_s,
            copy_s=base.op_s,
            slower=1.0,
            spread=max(base.op_all) / min(base.op_all),
        )
    ]
    for case in cases:
        row = dict(
            name=case.name, library=case.library, task=case.task, per_image=case.per_image, note=case.note
        )
        try:
            fn, n = case.build(ctx)
            tm = time_pair(fn, copy_f if case.copy_float else copy, sync, **kw)
            per_img_copy = tm.copy_s / ctx.batch
            row.update(
                images_per_s=n / tm.op_s,
                seconds_per_call=tm.op_s,
                copy_s=tm.copy_s,
                images_per_call=n,
                slower=(tm.op_s / n) / per_img_copy,
                spread=max(tm.op_all) / min(tm.op_all),
            )
            if device.type != "cpu" and case.library == "albumentations":
                row["note"] = (row["note"] + "; " if row["note"] else "") + "runs on the CPU"
        except Exception as e:  # noqa: BLE001 - a failing row is reported, the run goes on
            row.update(images_per_s=math.nan, slower=math.nan, error=f"{type(e).__name__}: {e}"[:200])
        rows.append(row)
        if args.verbose:
            print(f"  {case.library:15s} {case.name:38s} {row['images_per_s']:>14,.0f} img/s", flush=True)
    _add_peer_ratios(rows)
    cfg = dict(
        size=size,
        batch=ctx.batch,
        threads=threads,
        device=str(device),
        loadavg_before=load0,
        loadavg_after=os.getloadavg(),
        rows=rows,
    )
    cfg["targets"] = _targets(rows, size)
    return cfg


def _is_augkit(row: dict) -> bool:
    return row["library"].startswith("augkit")


def _add_peer_ratios(rows: list[dict]) -> None:
    for row in rows:
        if not _is_augkit(row) or not row["task"]:
            continue
        peers = [
            r
            for r in rows
            if not _is_augkit(r)
            and r["task"] == row["task"]
            and r["per_image"]
            and not math.isnan(r["images_per_s"])
        ]
        if peers:
            best = max(peers, key=lambda r: r["images_per_s"])
            row["peer"] = f"{best['library']} {best['name']}"
            row["vs_peer"] = row["images_per_s"] / best["images_per_s"]


def _policy_target(size: int) -> float:
    """Issue 17: policies >= 2x the fastest per-image peer at 32 px, >= 1.5x at 224 px."""
    return 2.0 if size <= 64 else 1.5


def _targets(rows: list[dict], size: int) -> list[dict]:
    out = []
    need = _policy_target(size)
    for row in rows:
        if not _is_augkit(row) or math.isnan(row["images_per_s"]):
            continue
        if row["task"] in COPY_TASKS:
            ok = row["slower"] <= 3.0
            out.append(
                dict(
                    target=f"{row['name']} within 3x of memcopy",
                    value=f"{row['slower']:.2f}x slower",
                    status="PASS" if ok else "MISS",
                )
            )
        elif row["task"] in POLICY_TASKS:
            if "vs_peer" not in row:
                out.append(
                    dict(
                        target=f"{row['name']} >= {need}x fastest per-image peer",
                        value="no peer",
                        status="n/a",
                    )
                )
                continue
            ok = row["vs_peer"] >= need
            out.append(
                dict(
                    target=f"{row['name']} >= {need}x fastest per-image peer ({row['peer']})",
                    value=f"{row['vs_peer']:.2f}x",
                    status="PASS" if ok else "MISS",
                )
            )
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller op list (~2 min)")
    ap.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch/OpenCV thread counts (default 1 2)"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--only", default=None, help="regex: keep rows whose library or name matches")
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    ap.add_argument("--markdown", action="store_true", help="print GitHub Markdown tables at the end")
    ap.add_argument("--verbose", action="store_true", help="print each row as it finishes")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda asked for but torch.cuda.is_available() is False")
    threads = args.threads or ([1] if args.quick else [1, 2])
    cases = augkit_cases() + kornia_cases() + albumentations_cases() + torchvision_cases()
    if args.quick:
        cases = [c for c in cases if c.quick]
    if args.only:
        cases = [c for c in cases if re.search(args.only, f"{c.library} {c.name}")]
    t0 = time.perf_counter()
    result = dict(
        command="python benchmarks/bench_ops.py " + " ".join(sys.argv[1:] if argv is None else argv),
        machine={**machine_info(device), "augkit": augkit.__version__},
        quick=args.quick,
        configs=[],
    )
    for size in args.sizes:
        for th in threads:
            cfg = run_config(cases, size, th, device, args)
            result["configs"].append(cfg)
            print_text(cfg)
    result["wall_s"] = time.perf_counter() - t0
    print(f"\nwall time {result['wall_s']:.0f} s; load average now {os.getloadavg()}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, default=str)
    if args.markdown:
        print("\n" + markdown(result))
    return result


if __name__ == "__main__":
    main()
