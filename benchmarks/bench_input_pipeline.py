"""Images/s of the whole input pipeline on a folder of image files (issue 16).

Three pipelines read the same files through ``torch.utils.data.DataLoader`` with the same
number of worker processes and batch size (128 at 32 px, 64 at 224 px), and are timed in the
same run, epoch after epoch in turn (so each ratio compares numbers taken under the same load):

- **augkit stream**: ``StreamLoader`` (workers decode with Pillow into uint8, a uint8 collate),
  then the *batched* augmentation of a strategy (``standard``: pad-crop + horizontal flip, or
  ``randaugment``) in the training process -- exactly what ``augkit train --loader stream`` does
  before the forward pass.
- **Pillow per-image reference**: the torchvision-style pipeline, implemented here with Pillow
  (no torchvision): each worker decodes, flips (p = 0.5) and pad-crops every image with Pillow,
  converts it to a uint8 tensor, and the default-style collate stacks them.  The same ops.
- **decode only**: the stream loader's workers and collate with no augmentation, the ceiling.

Targets: augkit stream >= the Pillow reference's images/s (same ops), and within 1.5x of
decode-only throughput.  The training process uses one torch thread (the cores go to the
workers); the load average before and after each configuration is printed.  The folders are
written to a temporary directory: 32 x 32 PNG crops and 224 x 224 JPEG crops of scikit-image's
photographs (``_common.real_batch``).

    python benchmarks/bench_input_pipeline.py [--quick] [--workers 1,2] [--markdown] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine_info, markdown_table, real_batch, text_table
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from augkit.data import FileImages, StreamLoader
from augkit.data.files import stack_uint8
from augkit.strategies import Context, build_strategy

BATCH = {32: 128, 224: 64}  # images per batch by image size


def batch_for(images: FileImages) -> int:
    return BATCH.get(images.hw[0], 64)


def write_folder(root: Path, n: int, size: int, fmt: str) -> FileImages:
    """``n`` photo crops of ``size`` px as files in one class folder; returned as FileImages."""
    root.mkdir(parents=True, exist_ok=True)
    x = real_batch(n, size, seed=size).permute(0, 2, 3, 1).numpy()
    files = []
    for i, arr in enumerate(x):
        path = root / f"{i:05d}.{fmt}"
        Image.fromarray(arr).save(path, quality=90) if fmt == "jpg" else Image.fromarray(arr).save(path)
        files.append(str(path))
    zeros = torch.zeros((n, 3), dtype=torch.int64)  # statistics are not needed here
    return FileImages(tuple(files), 3, (size, size), zeros, zeros)


class PillowReference(Dataset):
    """torchvision-style per-image transforms in the worker: decode, flip, pad-crop, to uint8 tensor."""

    def __init__(self, files: tuple[str, ...], padding: int) -> None:
        self.files, self.padding = files, padding
        self.rng: np.random.Generator | None = None  # per worker, from the worker id (no global RNG)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.rng is None:
            info = torch.utils.data.get_worker_info()
            self.rng = np.random.default_rng(0 if info is None else info.id + 1)
        with Image.open(self.files[i]) as im:
            img = im.convert("RGB")
        if self.rng.random() < 0.5:
            img = ImageOps.mirror(img)
        p, (w, h) = self.padding, img.size
        img = ImageOps.expand(img, border=p, fill=0)
        dx, dy = (int(v) for v in self.rng.integers(0, 2 * p + 1, 2))
        img = img.crop((dx, dy, dx + w, dy + h))
        return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())


def pipelines(images: FileImages, workers: int, strategy: str) -> dict[str, callable]:
    """name -> a function that runs one epoch and returns the number of images it produced."""
    y = torch.zeros(len(images), dtype=torch.int64)
    padding = images.hw[0] // 8  # 4 px at 32, 28 px at 224
    common = {"num_workers": workers, "persistent_workers": True, "generator": torch.Generator()}
    batch = batch_for(images)
    decode = DataLoader(images.reader(), batch_size=batch, collate_fn=stack_uint8, **common)
    ref = DataLoader(PillowReference(images.files, padding), batch_size=batch, **common)
    stream = StreamLoader(images, y, batch, shuffle=True, generator=torch.Generator().manual_seed(0),
                          workers=workers)  # fmt: skip
    spec = f"standard:padding={padding}" if strategy == "standard" else strategy
    strat = build_strategy(spec)
    ctx = Context(None, torch.device("cpu"), 10, torch.Generator().manual_seed(1))

    def run_stream() -> int:
        return sum(strat.make_batch(xb, yb, ctx).x.shape[0] for xb, yb in stream)

    out = {f"augkit stream + {strategy}": run_stream, "decode only": lambda: sum(b.shape[0] for b in decode)}
    if strategy == "standard":
        out["Pillow per-image reference"] = lambda: sum(b.shape[0] for b in ref)
    return out


def measure(images: FileImages, workers: int, strategy: str, repeats: int) -> dict:
    runs = pipelines(images, workers, strategy)
    before = os.getloadavg()
    for fn in runs.values():  # warm-up epoch: worker start, page cache, lazy init
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for r in range(repeats):  # each repeat starts with another pipeline: no order bias
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = runs[name]
            t0 = time.perf_counter()
            n = fn()
            times[name].append(n / (time.perf_counter() - t0))
    rows = {k: {"images_per_s": statistics.median(v), "spread": max(v) / min(v)} for k, v in times.items()}
    load = [before[0], os.getloadavg()[0]]
    batch = batch_for(images)
    return {"workers": workers, "strategy": strategy, "batch": batch, "rows": rows, "loadavg": load}


def targets(cfg: dict) -> list[list[object]]:
    rows = cfg["rows"]
    ours = rows[f"augkit stream + {cfg['strategy']}"]["images_per_s"]
    out = []
    if "Pillow per-image reference" in rows:
        ratio = ours / rows["Pillow per-image reference"]["images_per_s"]
        ok = "PASS" if ratio >= 1 else "MISS"
        out.append(["stream >= Pillow per-image reference", f"{ratio:.2f}x", ok])
    slow = rows["decode only"]["images_per_s"] / ours
    out.append(["decode-only / stream <= 1.5", f"{slow:.2f}", "PASS" if slow <= 1.5 else "MISS"])
    return out


def table(cfg: dict) -> tuple[list[str], list[list[object]]]:
    rows, ref = cfg["rows"], cfg["rows"].get("Pillow per-image reference")
    dec = cfg["rows"]["decode only"]["images_per_s"]
    head = ["pipeline", "images/s", "vs Pillow reference", "vs decode only", "max/min"]
    body = [
        [name, r["images_per_s"], f"{r['images_per_s'] / ref['images_per_s']:.2f}x" if ref else "-",
         f"{r['images_per_s'] / dec:.2f}x", r["spread"]]
        for name, r in rows.items()
    ]  # fmt: skip
    return head, body


def title(folder: dict, cfg: dict) -> str:
    la = ", ".join(f"{v:.2f}" for v in cfg["loadavg"])
    return (
        f"{folder['n']} {folder['size']}x{folder['size']} {folder['fmt'].upper()} files, {cfg['workers']} "
        f"worker(s), batch {cfg['batch']}, {cfg['strategy']} (1-min load average before, after: {la})"
    )


def render(result: dict, md: bool) -> str:
    lines = []
    if md:
        m = result["machine"]
        lines += [
            "### Input pipeline benchmark (`benchmarks/bench_input_pipeline.py`)", "",
            f"Command: `{result['command']}`  ",
            f"Machine: {m['cpu']}, {m['cpu_count']} CPUs (usable: {m['cpu_affinity']}), {m['platform']}  ",
            f"Versions: python {m['python']}, torch {m['torch']}, Pillow {Image.__version__}  ",
            f"Load average at start: {m['loadavg_start']} (shared machine: two training jobs ran beside it); "
            f"wall time {result['wall_s']:.0f} s",
            "", __doc__.split("\n\n")[1].replace("\n", " "),
        ]  # fmt: skip
    for folder in result["folders"]:
        for cfg in folder["configs"]:
            head, body = table(cfg)
            if md:
                lines += ["", f"#### {title(folder, cfg)}", "", markdown_table(head, body), ""]
                lines += [markdown_table(["target", "measured", "status"], targets(cfg))]
            else:
                lines += ["", f"== {title(folder, cfg)}", text_table(head, body)]
                lines += [f"  [{s}] {t}: {v}" for t, v, s in targets(cfg)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 + 256 images, 3 timed epochs each")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: 1,2)")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--out", help="also write the result as JSON here")
    a = p.parse_args()
    torch.set_num_threads(1)  # the training process's share: the other cores decode
    t0 = time.perf_counter()
    n32, n224, repeats = (1000, 256, 3) if a.quick else (2000, 512, 5)
    specs = [(n32, 32, "png", ("standard", "randaugment")), (n224, 224, "jpg", ("standard",))]
    result = {"command": "python " + " ".join(sys.argv), "machine": machine_info(torch.device("cpu")),
              "folders": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for n, size, fmt, strategies in specs:
            images = write_folder(Path(tmp) / f"{size}", n, size, fmt)
            configs = [measure(images, int(w), s, repeats) for w in a.workers.split(",") for s in strategies]
            result["folders"].append({"n": n, "size": size, "fmt": fmt, "configs": configs})
            partial = render({**result, "folders": result["folders"][-1:]}, md=False)
            print(partial, file=sys.stderr, flush=True)
    result["wall_s"] = time.perf_counter() - t0
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1))
    print(render(result, md=a.markdown))


if __name__ == "__main__":
    main()
