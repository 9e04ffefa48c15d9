"""Device set-up for the process that trains or samples.

GPU memory grows on demand instead of being taken whole, so the app can
sample while a job trains; on a GPU the layers compute in mixed precision
while the logits head and the sampling math stay in float32.
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_configured = None


@contextlib.contextmanager
def native_stderr_silenced():
    """TensorFlow's native code prints start-up notes before its log level applies;
    keep them out of the user's terminal (Python errors still show once this exits)."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def configure_devices(mixed_precision: bool = True) -> str:
    """Prepare the backend's devices once; returns a description such as 'CPU' or 'GPU: NVIDIA H200'."""
    global _configured
    if _configured is not None:
        return _configured
    with native_stderr_silenced():
        import keras
        gpus = _gpu_names(keras.backend.backend())
    if gpus and mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    _configured = f"GPU: {gpus[0]}" + (f" (x{len(gpus)})" if len(gpus) > 1 else "") if gpus else "CPU"
    return _configured


def _gpu_names(backend: str) -> list[str]:
    if backend == "tensorflow":
        import tensorflow as tf
        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised: growth can no longer change
                pass
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        return names
    if backend == "jax":
        import jax
        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []
