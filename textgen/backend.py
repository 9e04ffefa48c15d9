"""Device set-up for the process that trains or samples.

GPU memory grows on demand instead of being taken whole, so the app can
sample while a job trains; on a GPU the layers compute in mixed precision
while the logits head and the sampling math stay in float32.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

_configured = None


def configure_devices(mixed_precision: bool = True) -> str:
    """Prepare the backend's devices once; returns a description such as 'CPU' or 'GPU: NVIDIA H200'."""
    global _configured
    if _configured is not None:
        return _configured
    backend = keras.backend.backend()
    gpus = []
    if backend == "tensorflow":
        import tensorflow as tf
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised: growth can no longer change
                pass
            details = tf.config.experimental.get_device_details(gpu)
            gpus.append(details.get("device_name", gpu.name))
    elif backend == "jax":
        import jax
        gpus = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    elif backend == "torch":
        import torch
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if gpus and mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    _configured = f"GPU: {gpus[0]}" + (f" (x{len(gpus)})" if len(gpus) > 1 else "") if gpus else "CPU"
    return _configured
