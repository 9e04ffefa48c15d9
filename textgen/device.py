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
def detect_device() -> tuple[list[str], int]:
    """(names of the NVIDIA GPUs, number of CPU cores) of this machine, found once."""
    return gpu_names(), cpu_cores()


def describe_device(translate=str.format) -> str:
    """One line for people: "NVIDIA H200" (or "2 x NVIDIA H200"), else "CPU (N cores)";
    ``translate`` (text, **params) -> str (a page's ``t``) writes it in the interface language."""
    names, cores = detect_device()
    if names:
        if len(set(names)) == 1 and len(names) > 1:
            return translate("{count} x {name}", count=len(names), name=names[0])
        return ", ".join(names)
    if cores == 1:
        return translate("CPU (1 core)")
    return translate("CPU ({cores} cores)", cores=cores)


_TRAINED_ON = re.compile(r"^GPU: (?P<name>.+?)(?: \(x(?P<count>\d+)\))?$")


def trained_on(device: str | None, translate=str.format) -> str | None:
    """What a training job says it ran on ("CPU", "GPU: NVIDIA H200 (x2)", as
    ``textgen.backend.configure_devices`` writes it) in the interface language."""
    if device == "CPU":
        return translate("CPU")
    match = _TRAINED_ON.match(device or "")
    if not match:
        return device
    if match.group("count"):
        return translate("GPU: {count} x {name}", count=int(match.group("count")), name=match.group("name"))
    return translate("GPU: {name}", name=match.group("name"))
