"""Shared helpers for the augkit benchmarks: real-photo batches, timing, machine info, tables.

Timing follows ``timeit``'s recipe: warm up, calibrate how many calls fill ``min_time``
seconds, then take the median over ``repeats`` timed blocks.  Each block of the measured
call is followed by a block of the memory-copy baseline (``x.clone()``), so the ratio
"x slower than copy" compares two numbers taken under the same machine load (the
benchmark machines are shared; a copy measured once at the start would drift).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

__all__ = [
    "Timing",
    "machine_info",
    "markdown",
    "markdown_table",
    "print_text",
    "real_batch",
    "sync_for",
    "text_table",
    "time_pair",
]

# Bundled with scikit-image (no download): colour photographs of varied content.
_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
_SCALES = (1.0, 1.25, 1.5, 2.0)  # shorter side = size * scale before cropping: varied zoom levels


def _load_photos() -> list[np.ndarray]:
    import skimage.data

    photos = []
    for name in _PHOTOS:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001 - an image that needs a download is simply skipped
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            photos.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    if not photos:
        raise RuntimeError("no scikit-image sample photo could be loaded; install scikit-image's data")
    return photos


def real_batch(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(n, 3, size, size)`` uint8 crops of real photos: photo, zoom and offset vary per image."""
    rng = np.random.default_rng(seed)
    photos = _load_photos()
    cache: dict[tuple[int, float], np.ndarray] = {}
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        k, s = i % len(photos), _SCALES[(i // len(photos)) % len(_SCALES)]
        if (k, s) not in cache:
            h, w = photos[k].shape[:2]
            f = size * s / min(h, w)
            new = (max(size, round(w * f)), max(size, round(h * f)))
            cache[k, s] = np.asarray(Image.fromarray(photos[k]).resize(new, Image.BILINEAR))
        img = cache[k, s]
        top = int(rng.integers(0, img.shape[0] - size + 1))
        left = int(rng.integers(0, img.shape[1] - size + 1))
        out[i] = img[top : top + size, left : left + size]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def sync_for(device: torch.device) -> Callable[[], None]:
    """A no-op on CPU, ``torch.cuda.synchronize`` on CUDA (kernels run asynchronously)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


@dataclass
class Timing:
    """Seconds per call of the measured function and of the copy baseline (medians)."""

    op_s: float
    copy_s: float
    calls: int
    repeats: int
    op_all: list[float] = field(default_factory=list)

    @property
    def slower_than_copy(self) -> float:
        return self.op_s / self.copy_s if self.copy_s > 0 else math.nan


def _block(fn: Callable[[], object], n: int, sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n


def _calibrate(fn: Callable[[], object], min_time: float, sync: Callable[[], None], max_calls: int) -> int:
    t = max(_block(fn, 1, sync), 1e-7)
    n = max(1, math.ceil(min_time / t))
    if n > 1:  # refine on a longer block: single-call times are noisy for microsecond ops
        t = max(_block(fn, min(n, 20), sync), 1e-7)
        n = max(1, math.ceil(min_time / t))
    return min(n, max_calls)


def time_pair(
    fn: Callable[[], object],
    copy: Callable[[], object],
    sync: Callable[[], None],
    repeats: int = 5,
    min_time: float = 0.05,
    warmup: int = 2,
    max_calls: int = 10_000,
) -> Timing:
    """Median seconds per call of ``fn`` and of ``copy``, measured in interleaved blocks.

    A call slower than ``min_time`` is its own block: one warm-up call, no calibration.
    """
    copy()
    first = _block(fn, 1, sync)  # warm-up 1 (allocations, lazy init, caches)
    if first >= min_time:
        n_op = 1
    else:
        for _ in range(warmup - 1):
            fn()
        n_op = _calibrate(fn, min_time, sync, max_calls)
    n_copy = _calibrate(copy, min(min_time, 0.02), sync, max_calls)
    op_t, copy_t = [], []
    for _ in range(repeats):
        op_t.append(_block(fn, n_op, sync))
        copy_t.append(_block(copy, n_copy, sync))
    return Timing(statistics.median(op_t), statistics.median(copy_t), n_op, repeats, op_t)


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
        return "not installed"


def machine_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "kornia": _version("kornia"),
        "albumentations": _version("albumentations"),
        "opencv": _version("cv2"),
        "torchvision": _version("torchvision"),
        "device": str(device),
        "loadavg_start": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    return "-" if v is None else str(v)


def text_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
    )
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """GitHub table; columns holding only numbers are right-aligned."""
    numeric = [all(isinstance(r[i], (int, float)) for r in rows) and bool(rows) for i in range(len(headers))]
    align = ["---:" if num else "---" for num in numeric]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(_fmt(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


# --- output ------------------------------------------------------------------------------------------

HEADERS = ["name", "library", "per-image random", "images/s", "x slower than copy",
           "vs fastest per-image peer", "max/min", "note"]  # fmt: skip
_YES = {True: "yes", False: "**no**", None: ""}


def table_rows(cfg: dict) -> list[list[object]]:
    rows = []
    for r in cfg["rows"]:
        vs = f"{r['vs_peer']:.2f}x ({r['peer']})" if "vs_peer" in r else ""
        rows.append([r["name"], r["library"], _YES[r["per_image"]], r["images_per_s"], r["slower"], vs,
                     r.get("spread", math.nan), r.get("error", r["note"])])  # fmt: skip
    return rows


def config_title(cfg: dict) -> str:
    la, lb = (", ".join(f"{v:.2f}" for v in cfg[k]) for k in ("loadavg_before", "loadavg_after"))
    shape = f"{cfg['batch']} x 3 x {cfg['size']} x {cfg['size']} uint8"
    return f"{shape}, {cfg['threads']} thread(s), {cfg['device']} (load average before: {la}; after: {lb})"


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _busy(cfg: dict, cpus: int) -> bool:
    """Other jobs plus this run's threads reached the CPU count during the configuration."""
    return max(cfg["loadavg_before"][0], cfg["loadavg_after"][0]) + cfg["threads"] - 1 >= cpus


def _status(t: dict, cfg: dict, cpus: int) -> str:
    """PASS/MISS, with '?' where multi-threaded timings ran on oversubscribed CPUs (copy included)."""
    return t["status"] + ("?" if cfg["threads"] > 1 and _busy(cfg, cpus) else "")


def print_text(cfg: dict) -> None:
    print(f"\n== {config_title(cfg)}")
    print(text_table(HEADERS, table_rows(cfg)).replace("**", ""))
    for t in cfg["targets"]:
        print(f"  [{_status(t, cfg, _cpus())}] {t['target']}: {t['value']}")
    sys.stdout.flush()


_LEGEND = (
    "images/s: median over timed blocks after warm-up. *x slower than copy*: per-image time divided by the "
    "per-image time of `x.clone()` on the same batch (uint8; the float32 batch for *float32* rows), "
    "measured in blocks interleaved with the row's. "
    "*vs fastest per-image peer*: augkit images/s / the fastest peer row that gives per-image randomness for "
    "the same operation (> 1 = augkit faster). *max/min*: slowest over fastest timed block (run-to-run "
    "noise). "
    "kornia runs on float32 [0, 1] batches, albumentations loops over HWC uint8 numpy images (conversions "
    "untimed). *per-image random* **no**: one random draw (op choice) shared by the whole batch."
)
_CAUTION = (
    "**Caution:** {n} of {total} configurations ran while the 1-minute load average plus the extra "
    "benchmark threads reached the CPU count: other jobs competed for the cores, and a multi-threaded torch "
    "op waits for its descheduled threads, so those rows (above all the 2-thread ones) are noisy lower "
    "bounds. A multi-threaded target status marked `?` is not meaningful: the copy it is compared with "
    "suffered the same waits."
)


def markdown(result: dict) -> str:
    m = result["machine"]
    gpu = f", GPU {m['gpu']}" if "gpu" in m else ""
    libs = ("python", "torch", "augkit", "kornia", "albumentations", "opencv", "torchvision")
    versions = ", ".join(f"{k} {m.get(k, '?')}" for k in libs)
    lines = [
        "### Throughput benchmark (`benchmarks/bench_ops.py`)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['cpu_count']} CPUs (usable: {m['cpu_affinity']}){gpu}, {m['platform']}  ",
        f"Versions: {versions}  ",
        f"Load average at start: {m['loadavg_start']} (shared machine); wall time {result['wall_s']:.0f} s",
        "",
        _LEGEND,
    ]
    if result["quick"]:
        lines[-1] += (
            " Quick mode: per-image loops time 32 (32 px) or 16 (224 px) images per call, cycling through"
            " the batch."
        )
    cpus = m["cpu_affinity"] or m["cpu_count"] or 1
    busy = [c for c in result["configs"] if _busy(c, cpus)]
    if busy:
        lines += ["", _CAUTION.format(n=len(busy), total=len(result["configs"]))]
    for cfg in result["configs"]:
        targets = [[t["target"], t["value"], f"**{_status(t, cfg, cpus)}**"] for t in cfg["targets"]]
        lines += ["", f"#### {config_title(cfg)}", "", markdown_table(HEADERS, table_rows(cfg)), ""]
        lines += [markdown_table(["target", "measured", "status"], targets)]
    return "\n".join(lines)
