"""Device set-up for the process that trains or samples.

GPU memory grows on demand instead of being taken whole, so the app can
sample while a job trains; on a GPU the layers compute in mixed precision
while the logits head and the sampling math stay in float32.

Several devices: ``choose_parallel`` picks data-parallel training, with
``tf.distribute.MirroredStrategy`` on TensorFlow and
``keras.distribution.DataParallel`` on JAX. Several machines (JAX only): set
TEXTGEN_COORDINATOR (host:port of process 0), TEXTGEN_NUM_PROCESSES and
TEXTGEN_PROCESS_ID, and training joins the job through ``jax.distributed``.

``compile_function`` compiles a step (sampling, scoring) with the backend's own
compiler. Keras and the backends are imported inside the functions, not at the top:
the CLI imports this module to read its flags before it knows a model is needed.
"""

from __future__ import annotations

import contextlib
import itertools
import os

import numpy as np

from textgen.errors import TextgenError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_configured = None
_distributed = False


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
    """Prepare the backend's devices once; returns a description such as 'CPU' or 'GPU: NVIDIA H200'.

    Where the environment describes a multi-machine job, this joins it first.
    """
    global _configured
    initialize_distributed()
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


def gpu_report() -> dict:
    """What the current backend makes of this machine's GPUs, for device.unused_gpu_message:
    {"backend": its name, "gpus": names of the GPUs it can use, "cuda_libraries": whether
    the CUDA libraries it needs are installed (TensorFlow's pip build finds them in the
    nvidia-* wheels of its and-cuda extra, or installed system-wide)}."""
    import ctypes.util
    import importlib.metadata
    import importlib.util

    with native_stderr_silenced():
        import keras
        backend = keras.backend.backend()
        gpus = _gpu_names(backend)
    if backend == "tensorflow":
        import tensorflow as tf
        try:
            importlib.metadata.version("nvidia-cudnn-cu12")
            wheels = True
        except importlib.metadata.PackageNotFoundError:
            wheels = False
        cuda = bool(tf.test.is_built_with_cuda()) and (wheels or bool(ctypes.util.find_library("cudnn")))
    elif backend == "jax":
        cuda = any(importlib.util.find_spec(name) for name in ("jax_cuda12_plugin", "jax_cuda13_plugin"))
    elif backend == "torch":
        import torch
        cuda = torch.version.cuda is not None
    else:
        cuda = False
    return {"backend": backend, "gpus": gpus, "cuda_libraries": cuda}


def initialize_distributed() -> bool:
    """Join the multi-machine JAX job that TEXTGEN_COORDINATOR describes; False where none is set.

    Runs ``jax.distributed.initialize`` once, before anything else touches the devices
    (so the variables belong on the train command only: set, they make any textgen
    process wait for the others).
    """
    global _distributed
    address = os.environ.get("TEXTGEN_COORDINATOR", "").strip()
    if not address:
        return False
    if _distributed:
        return True
    import keras
    if keras.backend.backend() != "jax":
        raise TextgenError("Training on several machines needs the JAX backend: "
                           "set KERAS_BACKEND=jax on every machine.")
    try:
        count = int(os.environ["TEXTGEN_NUM_PROCESSES"])
        index = int(os.environ["TEXTGEN_PROCESS_ID"])
    except (KeyError, ValueError):
        raise TextgenError("TEXTGEN_COORDINATOR is set, so TEXTGEN_NUM_PROCESSES (how many "
                           "processes) and TEXTGEN_PROCESS_ID (this one's number, from 0) "
                           "must be set to whole numbers too.") from None
    if count < 1 or not 0 <= index < count:
        raise TextgenError("TEXTGEN_PROCESS_ID must be from 0 to {last}; it is {index}.",
                           last=count - 1, index=index)
    import jax
    jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
    _distributed = True
    return True


def compile_function(fn, xla=True, model=None):
    """Compile ``fn`` with the current backend's compiler (``xla=False``: TensorFlow graph only).

    ``model`` names the model whose layers ``fn`` calls. ``tf.function`` reads
    its variables at every call, but ``jax.jit`` would bake their values in as
    constants when it traces: a sampler or scorer made during training would
    keep using the weights of the moment it was first called. So on JAX the
    variables' current values go in as arguments of every call, and ``fn``
    runs in a ``StatelessScope`` that maps each variable to its argument.
    """
    import keras  # here, not above: the CLI imports this module before it needs Keras
    from keras import ops

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, jit_compile=xla, reduce_retracing=True)
    if backend == "jax":
        import jax
        if model is None:
            return jax.jit(fn)
        variables = list(model.variables)

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        compiled = jax.jit(stateless)

        def call(*args):
            return compiled([v.value for v in variables], *args)

        return call
    if backend == "torch":  # runs eagerly; no gradients are needed here
        import torch

        def call(*args):
            with torch.no_grad():
                return fn(*[ops.convert_to_tensor(a) if isinstance(a, (np.ndarray, np.generic))
                            else a for a in args])

        return call
    return fn  # numpy runs eagerly


def windows_of_any_shape(batches):
    """``batches`` (an endless keras.utils.PyDataset of (x, y) token-id batches whose count
    and length of windows change during a run) in the form ``fit`` takes on this backend.

    Keras fixes a TensorFlow feed's shapes from its first two batches (keras'
    ``data_adapter_utils.get_tensor_spec``), so there it becomes a tf.data pipeline whose
    two dimensions may vary, and the training step is traced once for any shape. JAX and
    PyTorch take the batches as they come (JAX compiles a new shape once)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf
    spec = tf.TensorSpec((None, None), tf.as_dtype(batches[0][0].dtype))
    feed = tf.data.Dataset.from_generator(lambda: (batches[i] for i in itertools.count()),
                                          output_signature=(spec, spec))
    return feed.prefetch(tf.data.AUTOTUNE)


def gradient(fn, x):
    """(fn(x), d fn / d x) as tensors of the current backend, for ``fn`` mapping a float
    tensor ``x`` (any shape) to a scalar tensor; only ``x`` is differentiated (the model's
    variables are constants here). Traceable, so a step that uses it can be compiled with
    ``compile_function`` (on PyTorch it records gradients even inside that step's no_grad)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tape.gradient(value, x)
    if backend == "jax":
        import jax
        return jax.value_and_grad(fn)(x)
    if backend == "torch":
        import torch
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            value = fn(x)
            (grad,) = torch.autograd.grad(value, x)
        return value.detach(), grad
    raise TextgenError("Gradients need the TensorFlow, JAX or PyTorch backend; "
                       "set KERAS_BACKEND to one of them.")


class Parallel:
    """How training spreads over devices: a scope to build, compile and fit the model in."""

    def __init__(self, kind="off", replicas=1, scope=None, process_index=0, process_count=1):
        self.kind, self.replicas, self._scope = kind, replicas, scope
        self.process_index, self.process_count = process_index, process_count

    def scope(self):
        return self._scope() if self._scope else contextlib.nullcontext()

    def describe(self) -> str:
        if self.kind == "off":
            return ""
        where = f" in {self.process_count} processes" if self.process_count > 1 else ""
        return f", data-parallel on {self.replicas} devices{where} ({self.kind})"


def choose_parallel(mode: str | None, batch_size: int) -> Parallel:
    """Data-parallel training where it pays, or where ``mode`` asks for it.

    ``mode``: "auto" (several GPUs, or several machines: yes), "off", "mirrored"
    (TensorFlow, forced: on the logical CPUs where there is no GPU) or
    "data_parallel" (JAX, forced: on every device JAX sees). ``batch_size`` is
    the global batch, split evenly between the devices.
    """
    import keras

    mode = mode or "auto"
    if mode == "off":
        return Parallel()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        if mode == "data_parallel":
            raise TextgenError("The data_parallel setting needs the JAX backend "
                               "(KERAS_BACKEND=jax); with TensorFlow use mirrored.")
        import tensorflow as tf
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices and mode == "mirrored":
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) < 2:
            return Parallel()
        strategy = tf.distribute.MirroredStrategy(devices)
        return Parallel("mirrored", strategy.num_replicas_in_sync, strategy.scope)
    if backend == "jax":
        if mode == "mirrored":
            raise TextgenError("The mirrored setting needs the TensorFlow backend; "
                               "with JAX use data_parallel.")
        import jax
        devices = jax.devices()
        processes = jax.process_count()
        if mode == "auto" and processes == 1 and all(d.platform == "cpu" for d in devices):
            return Parallel()
        if len(devices) < 2:
            return Parallel()
        if batch_size % len(devices):
            if mode == "auto" and processes == 1:
                return Parallel()  # an uneven split is not worth an error: train on one device
            raise TextgenError("Training on {devices} devices splits each batch between them: "
                               "choose a batch size that is a multiple of {devices} (it is {batch_size}).",
                               devices=len(devices), batch_size=batch_size)
        # Each process feeds its own share of the batch (see training.RandomWindows).
        distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        return Parallel("data_parallel", len(devices), distribution.scope,
                        jax.process_index(), processes)
    if mode != "auto":
        raise TextgenError("The {mode} setting is not available on the {backend} backend; "
                           "use TensorFlow (mirrored) or JAX (data_parallel).", mode=mode, backend=backend)
    return Parallel()
