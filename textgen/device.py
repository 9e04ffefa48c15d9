"""Which machine trains the models, found without importing TensorFlow.

The Home page shows this, and it must render in a moment: importing TensorFlow
costs seconds, while `nvidia-smi -L` answers in milliseconds where a GPU exists.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

_GPU_LINE = re.compile(r"^GPU \d+: (?P<name>.+?)(?: \(UUID: [^)]*\))?$")


def gpu_names(timeout_s: float = 3.0) -> list[str]:
    """Names of the NVIDIA GPUs on this machine, or [] when there are none (or no driver)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []  # GPUs hidden on purpose: training will run on the CPU
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    names = []
    for line in out.stdout.splitlines():
        match = _GPU_LINE.match(line.strip())
        if match:
            names.append(match.group("name"))
    return names


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def describe_device() -> str:
    """One line for people: "NVIDIA H200" (or "2 x NVIDIA H200"), else "CPU (N cores)"."""
    names = gpu_names()
    if names:
        if len(set(names)) == 1 and len(names) > 1:
            return f"{len(names)} x {names[0]}"
        return ", ".join(names)
    cores = cpu_cores()
    return f"CPU ({cores} core{'s' if cores != 1 else ''})"
