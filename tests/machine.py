"""Which machine a numeric recording was made on: torch build, CPU capability and CPU model.

Two machines with the same torch build and vector capability can still differ in the last
bits (different CPU vendors pick different kernels and blockings), so an exact comparison needs
the CPU model too.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch


def cpu_model() -> str:
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_record() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_model": cpu_model()}  # fmt: skip


def machine_id(record: dict[str, str] | None = None) -> str:
    r = record or machine_record()
    text = f"{r['cpu_model']}-{r['cpu_capability']}-torch{r['torch']}"
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()
