"""Checks made before a model is built from a run's settings.

A run's config.json decides the shape of the model that loading or training builds, and an
imported run is untrusted: an edited config could ask for billions of parameters. So before
anything is built:

- ``check_weights_file``: the arrays stored in model.keras have exactly the shapes the
  settings imply. Only the HDF5 metadata is read (shapes, no array data, no code).
- ``check_fits``: the model fits in the memory of the device that will hold it.

The memory rule, in this one place:

    bytes to load  = parameters x 4 (float32 weights) + RUNTIME_HEADROOM
    bytes to train = parameters x 16 (weights, gradients and Adam's two moments, float32)
                     + activations kept for the backward pass + RUNTIME_HEADROOM
    activations    = batch x seq_len x 4 bytes x (width x layers x ACTIVATION_FACTOR[arch]
                     + vocabulary x 3 (the logits, their softmax and its gradient)
                     + for the Transformer: heads x seq_len x layers x 3 (attention weights))

Mixed precision on a GPU computes in bfloat16 but keeps float32 weights; the estimate stays
float32 throughout, so it errs on the safe side. What this machine has: the host's
MemAvailable (/proc/meminfo), capped by a container's memory limit; on a GPU, the card's
total memory (from nvidia-smi), because a backend's memory pool in the same process (JAX
takes most of the card up front, TensorFlow keeps what it grew) would make a "free" reading
refuse models that fit. A model also passes through host memory on its way to the GPU, so
the host must always hold the bytes to load.
"""

from __future__ import annotations

import functools
import io
import math
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py

from textgen.config import count_parameters, tokens_per_step, weight_shapes
from textgen.device import gpu_names
from textgen.errors import TextgenError

BYTES_PER_VALUE = 4                 # float32
TRAIN_VALUES_PER_PARAMETER = 4      # the weight, its gradient, Adam's first and second moment
# Values kept per token, per unit of width, per layer for the backward pass: the GRU's three
# gates and their two matmuls with the input and the state; the LSTM's four gates and its
# cell state; the Transformer block's norms, query/key/value, attention output, residuals and
# its 4x-wide MLP before and after GELU. Rounded up from those counts.
ACTIVATION_FACTOR = {"gru": 12, "lstm": 16, "transformer": 24}
RUNTIME_HEADROOM = 256 * 2**20      # the backend's own working memory beyond these arrays
MAX_STORED_ARRAYS = 10_000          # far above any model the settings allow (24 layers)
WEIGHTS_MEMBER = "model.weights.h5"


# --- what a model needs -------------------------------------------------------------


def bytes_to_load(config: dict, vocab_size: int) -> int:
    """Bytes of memory that loading a run of these settings takes, for sampling or scoring."""
    return count_parameters(config, vocab_size) * BYTES_PER_VALUE + RUNTIME_HEADROOM


def activation_bytes(config: dict, vocab_size: int) -> int:
    """Bytes of activations one training step keeps for its backward pass (an estimate)."""
    tokens = tokens_per_step(config)  # the same in a run's short and long windows
    per_token = config["units"] * config["layers"] * ACTIVATION_FACTOR[config["arch"]] + 3 * vocab_size
    if config["arch"] == "transformer":
        heads = config.get("heads") or 1
        per_token += 3 * heads * config["seq_len"] * config["layers"]
    return tokens * per_token * BYTES_PER_VALUE


def bytes_to_train(config: dict, vocab_size: int) -> int:
    """Bytes of memory that training a model of these settings takes (an estimate)."""
    weights = count_parameters(config, vocab_size) * BYTES_PER_VALUE * TRAIN_VALUES_PER_PARAMETER
    return weights + activation_bytes(config, vocab_size) + RUNTIME_HEADROOM


# --- what this machine has ------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # absent, or "max" (no limit)


def _cgroup_stat(path: str, key: str) -> int:
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_available() -> int | None:
    """What a container's memory limit leaves; page cache it can drop counts as free."""
    for limit, usage, stat, inactive in (
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current",
             "/sys/fs/cgroup/memory.stat", "inactive_file"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
             "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file")):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 2**60:  # v1 writes "no limit" as ~2**63
            return max(cap - used + _cgroup_stat(stat, inactive), 0)
    return None


def host_memory_available() -> int | None:
    """Bytes of memory this machine (or its container) has available now; None if unknown."""
    found = [n for n in (_meminfo_available(), _cgroup_available()) if n is not None]
    return min(found) if found else None


def _visible(index: int) -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not all(part.strip().isdigit() for part in visible.split(",")):
        return True  # not set, or set by UUID: every listed card counts
    return index in {int(part) for part in visible.split(",")}


@functools.lru_cache(maxsize=1)
def gpu_memory_total() -> int | None:
    """Bytes of memory of the smallest visible GPU (each holds a whole copy of the model when
    training is spread over several); None when there is no GPU or no nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe or not gpu_names():
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    sizes = []
    for line in out.stdout.splitlines():
        try:
            index, mib = (int(part) for part in line.split(","))
        except ValueError:
            continue
        if _visible(index):
            sizes.append(mib * 2**20)
    return min(sizes) if out.returncode == 0 and sizes else None


# --- the checks -------------------------------------------------------------------------


def format_bytes(n: float) -> str:
    """A size for people: '77 GB', '1.6 GB', '420 MB' (powers of 1,024, as memory is sold)."""
    if n >= 10 * 2**30:
        return f"{n / 2**30:,.0f} GB"
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    return f"{max(n, 2**20) / 2**20:,.0f} MB"


_TOO_BIG = {  # (purpose, where) -> the sentence
    ("load", "host"): "This model has {parameters:,} parameters and needs about {needed} of memory to load; "
                      "this machine has {available} of memory available. Open it on a machine with more memory.",
    ("load", "gpu"): "This model has {parameters:,} parameters and needs about {needed} of memory to load; "
                     "the GPU has {available} of memory. Open it on a machine with a larger GPU.",
    ("train", "host"): "This model has {parameters:,} parameters and needs about {needed} of memory to train; "
                       "this machine has {available} of memory available. Choose fewer layers or units "
                       "(or a smaller batch size or sequence length).",
    ("train", "gpu"): "This model has {parameters:,} parameters and needs about {needed} of memory to train; "
                      "the GPU has {available} of memory. Choose fewer layers or units "
                      "(or a smaller batch size or sequence length).",
}


def check_fits(config: dict, vocab_size: int, purpose: str = "load", gpu: bool | None = None) -> None:
    """Raise a TextgenError naming the size and the limit when a model of these settings would
    not fit in memory. ``purpose``: "load" (sampling, scoring) or "train"; ``gpu``: whether the
    model goes onto a GPU (None: whenever this machine has one)."""
    if gpu is None:
        gpu = bool(gpu_names())
    parameters = count_parameters(config, vocab_size)
    loading = bytes_to_load(config, vocab_size)
    needed = loading if purpose == "load" else bytes_to_train(config, vocab_size)
    limits = [("host", host_memory_available(), loading if gpu else needed)]
    if gpu:
        limits.append(("gpu", gpu_memory_total(), needed))
    for where, available, need in limits:
        if available is not None and need > available:
            raise TextgenError(_TOO_BIG[purpose, where], parameters=parameters,
                               needed=format_bytes(need), available=format_bytes(available))


def stored_weight_shapes(model_file) -> list[tuple[int, ...]]:
    """The shapes of the arrays a model.keras holds (a path, or the file's bytes).

    Reads the HDF5 metadata of its model.weights.h5 only (the arrays under ``layers/``, which
    are all that loading reads): no array data, no code. Raises a TextgenError when the file
    cannot be read or declares arrays it does not hold.
    """
    source = io.BytesIO(model_file) if isinstance(model_file, (bytes, bytearray)) else Path(model_file)
    shapes = []
    try:
        with zipfile.ZipFile(source) as archive, archive.open(WEIGHTS_MEMBER) as member, \
                h5py.File(member, "r") as weights:
            def visit(_name, item):
                if isinstance(item, h5py.Dataset):
                    shapes.append(tuple(int(n) for n in item.shape))
                    # A declared array with no bytes behind it would pass the shape test yet
                    # make loading allocate it whole.
                    if item.id.get_storage_size() < item.size * item.dtype.itemsize:
                        raise ValueError("declared but not stored")
                    if len(shapes) > MAX_STORED_ARRAYS:
                        raise ValueError("too many arrays")
            def plain_link(_name, link):
                if not isinstance(link, h5py.HardLink):  # an external link opens another file
                    raise ValueError("a link")

            # The layers' arrays; an optimizer's state beside them is never loaded.
            if isinstance(weights.get("layers", getlink=True), h5py.HardLink):
                weights["layers"].visititems_links(plain_link)
                weights["layers"].visititems(visit)
    except Exception:  # any failure to parse an untrusted file means it is damaged
        raise TextgenError("The model file is damaged: its weights cannot be read.") from None
    return shapes


def check_weights_file(model_file, config: dict, vocab_size: int) -> None:
    """Raise a TextgenError unless the model file holds exactly the weights these settings
    imply. ``model_file``: a model.keras path or its bytes; ``config`` validated settings."""
    stored = stored_weight_shapes(model_file)
    expected = weight_shapes(config, vocab_size)
    if sorted(stored) == sorted(expected):
        return
    stored_count = sum(math.prod(shape) for shape in stored)
    expected_count = sum(math.prod(shape) for shape in expected)
    if stored_count != expected_count:
        raise TextgenError("The saved weights do not match the run's settings: they hold {stored:,} "
                           "parameters where the settings describe {expected:,}. The run is damaged "
                           "or its config.json was changed.", stored=stored_count, expected=expected_count)
    raise TextgenError("The saved weights do not match the run's settings: their shapes differ from "
                       "those the settings describe. The run is damaged or its config.json was changed.")


def check_run_model(model_file, config: dict, vocab_size: int, gpu: bool | None = None) -> None:
    """Both checks a saved run passes before its model is built: it fits in memory to load,
    and its weights file matches its settings."""
    check_fits(config, vocab_size, "load", gpu)
    check_weights_file(model_file, config, vocab_size)
