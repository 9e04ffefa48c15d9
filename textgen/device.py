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

from textgen import child
from textgen.i18n import Message

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


# Where nvidia-smi lists a GPU but the backend trains on the CPU: one sentence with the fix,
# said by `train` among its first lines and by the Home and Train pages.
GPU_UNUSED_NO_CUDA_TF = ("This machine has a GPU ({gpu}), but TensorFlow is installed without its CUDA "
                         "libraries, so models train on the CPU: run `make run` again, which installs "
                         "TensorFlow with CUDA (requirements-gpu.txt) where nvidia-smi lists a GPU.")
GPU_UNUSED_NO_CUDA = ("This machine has a GPU ({gpu}), but the installed {backend} was built without "
                      "CUDA, so models train on the CPU: install the CUDA build of {backend}.")
GPU_UNUSED_NO_DEVICE = ("This machine has a GPU ({gpu}), but {backend} cannot open it, so models train "
                        "on the CPU: its CUDA libraries are missing or the NVIDIA driver is too old for "
                        "them; update the driver (nvidia-smi shows its version) and run `make run` again.")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def unused_gpu_message(listed: list[str], report: dict) -> Message | None:
    """The sentence to say when nvidia-smi lists the GPUs ``listed`` but the backend sees none.

    ``report``: textgen.backend.gpu_report() ({"backend", "gpus", "cuda_libraries"}).
    None when nothing is listed or the backend uses a GPU."""
    if not listed or report.get("gpus"):
        return None
    gpu = listed[0] if len(listed) == 1 else f"{len(listed)} x {listed[0]}"
    backend = BACKEND_NAMES.get(report.get("backend"), str(report.get("backend")))
    if report.get("cuda_libraries"):
        return Message(GPU_UNUSED_NO_DEVICE, gpu=gpu, backend=backend)
    if report.get("backend") == "tensorflow":
        return Message(GPU_UNUSED_NO_CUDA_TF, gpu=gpu)
    return Message(GPU_UNUSED_NO_CUDA, gpu=gpu, backend=backend)


@functools.lru_cache(maxsize=1)
def gpu_problem(timeout_s: float = 180.0) -> Message | None:
    """unused_gpu_message for this machine, found once per process; None at once where
    nvidia-smi lists no GPU. Where it lists one, the backend is asked in a child process
    (seconds: it imports TensorFlow); a probe that fails or hangs says nothing."""
    listed = detect_device()[0]
    if not listed:
        return None
    try:  # in a child process: the app's own never imports the backend (textgen.child)
        report = child.call("textgen.backend:gpu_report", timeout_s=timeout_s)
    except (subprocess.SubprocessError, child.ChildFailed):
        return None
    return unused_gpu_message(listed, report) if isinstance(report, dict) else None


def preset_device() -> str:
    """"gpu" where nvidia-smi lists a GPU the backend can use, else "cpu": the device the
    Train page chooses presets for (config.DEVICE_PRESETS), as a job on this machine would."""
    return "gpu" if detect_device()[0] and gpu_problem() is None else "cpu"
