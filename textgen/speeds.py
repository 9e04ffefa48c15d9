"""Training speed measured on this machine, remembered per model shape, for the time a run
will take before it starts.

Two sources, kept in $TEXTGEN_HOME/speeds.json: a short probe (a few real training steps of
the chosen settings on random tokens, run in a child process so that the app never imports
TensorFlow) and every finished training job, which records the speed it really had. A rule of
thumb would be wrong by several times between a laptop, a server CPU and a GPU.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from textgen import child
from textgen.device import preset_device
from textgen.errors import TextgenError
from textgen.files import atomic_write_json, read_json, textgen_home

FILE_NAME = "speeds.json"
# What decides the time a step takes: the backend and device, the model's shape and the
# size of each step (with a sequence-length warm-up, its short windows). The learning rate,
# dropout and the text itself do not.
SHAPE = ("arch", "tokenizer", "layers", "units", "embedding_dim", "seq_len", "short_seq_len", "batch_size")
PROBE_STEPS = 8  # timed after one compiling step: enough for a steady figure in seconds


def speeds_path(home: str | os.PathLike | None = None) -> Path:
    """``home`` (default: TEXTGEN_HOME) / speeds.json."""
    return (Path(home).expanduser() if home is not None else textgen_home()) / FILE_NAME


def speed_key(config: dict, vocab_size: int, where: str) -> str:
    """The settings that decide a step's time, as one string; ``where``: the backend and
    device ("tensorflow CPU", "jax GPU: NVIDIA H200")."""
    shape = "|".join(f"{name}={config.get(name)}" for name in SHAPE)
    return f"{where}|{shape}|vocab={int(vocab_size)}"


def remembered_speed(config: dict, vocab_size: int, where: str,
                     home: str | os.PathLike | None = None) -> float | None:
    """Training tokens a second last measured for these settings on ``where``, or None."""
    speeds = read_json(speeds_path(home), {})
    value = speeds.get(speed_key(config, vocab_size, where)) if isinstance(speeds, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def remember_speed(config: dict, vocab_size: int, where: str, tokens_per_s: float,
                   home: str | os.PathLike | None = None) -> None:
    """Keep ``tokens_per_s`` for these settings (atomically; a workspace that cannot be
    written keeps its earlier file: an estimate is a convenience, never an error)."""
    if not tokens_per_s or tokens_per_s <= 0:
        return
    speeds = read_json(speeds_path(home), {})
    speeds = speeds if isinstance(speeds, dict) else {}
    speeds[speed_key(config, vocab_size, where)] = round(float(tokens_per_s), 1)
    try:
        atomic_write_json(speeds_path(home), speeds)
    except OSError:
        pass


def where(backend: str, gpu: bool) -> str:
    """speed_key's ``where`` for a ``backend`` ("tensorflow") on a GPU or a CPU."""
    return f"{backend} {'GPU' if gpu else 'CPU'}"


def probe_where() -> str:
    """Where a training job on this machine would run, in speed_key's words, found without
    importing the backend: KERAS_BACKEND (default tensorflow) and "GPU" or "CPU"."""
    return where(os.environ.get("KERAS_BACKEND", "tensorflow"), preset_device() == "gpu")


def measure_in_child(config: dict, vocab_size: int, timeout_s: float = 300.0) -> float:
    """Training tokens a second of ``config`` with ``vocab_size`` tokens on this machine: a
    few real training steps (textgen.training.measure_speed) in a child process, about 5-40 s
    on a CPU, most of it loading the backend. Remembered for probe_where(). Raises
    TextgenError when the probe fails or takes longer than ``timeout_s`` seconds."""
    settings = {name: config[name] for name in (*SHAPE, "dropout", "learning_rate", "weight_decay",
                                                  "clipnorm", "heads") if name in config}
    try:
        tokens_per_s = float(child.call("textgen.training:measure_speed", settings, int(vocab_size),
                                        timeout_s=timeout_s))
    except subprocess.TimeoutExpired:
        raise TextgenError("Measuring the speed took more than {seconds:.0f} seconds; try smaller "
                           "settings.", seconds=timeout_s) from None
    except (child.ChildFailed, TypeError, ValueError):
        raise TextgenError("The speed of these settings could not be measured on this machine.") from None
    remember_speed(config, vocab_size, probe_where(), tokens_per_s)
    return tokens_per_s
