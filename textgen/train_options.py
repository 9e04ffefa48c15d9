"""From the Train page's form to a training job's options.

The form shows a preset's settings, or for a fine-tune the base model's shape; the job
gets only the options that differ from the preset, so its command stays readable.
"""

from __future__ import annotations

import os
from pathlib import Path

from textgen import config
from textgen.errors import TextgenError
from textgen.files import read_json


def form_defaults(preset: str, init_from: str | os.PathLike | None = None, device: str = "cpu") -> dict:
    """The settings the form starts from: the preset's on ``device`` ("cpu" or "gpu",
    config.resolve_config), or for a
    fine-tune of the run ``init_from`` that run's shape, its sequence length and a gentler
    learning rate (config.fine_tune_config). Raises TextgenError when the base run's
    config.json is missing or lacks its shape."""
    defaults = config.resolve_config(preset, device)
    if not init_from:
        return defaults
    base_config = read_json(Path(init_from) / "config.json", {}) or {}
    if not all(k in base_config for k in config.FINE_TUNE_SHAPE):
        raise TextgenError("The chosen base model's settings are missing or damaged; choose another one.")
    defaults = config.fine_tune_config(
        dict(defaults, seq_len=base_config.get("seq_len", defaults["seq_len"])), {}, base_config)
    defaults["learning_rate"] = round(defaults["learning_rate"], 6)
    return defaults


def run_options(preset: str, values: dict, init_from: str | None = None,
                device: str = "cpu") -> tuple[dict, dict]:
    """(resolved settings, job options) for the form's ``values`` ({setting: value or None}).

    A time budget left empty means no limit, as 0 does. The options (for
    jobs.start_training) hold ``preset``, every setting whose value differs from the
    preset's (so a time budget of 0 is passed on where the preset has one) and, for a
    fine-tune, ``init_from`` without the shape, which the base run decides. ``device``:
    the device the preset's values are chosen for, as the job will find it (a job resolves
    its preset for the device it trains on). Raises TextgenError (config.resolve_config)
    for a value out of range.
    """
    values = dict(values, time_budget=values.get("time_budget") or 0.0)
    resolved = config.resolve_config(preset, device, **values)
    preset_values = config.resolve_config(preset, device)
    options = {"preset": preset}
    for name, value in values.items():
        if init_from and name in config.FINE_TUNE_SHAPE:
            continue
        if value is not None and resolved.get(name) != preset_values.get(name):
            options[name] = value
    if init_from:
        options["init_from"] = init_from
    return resolved, options


def changed_settings(values: dict, defaults: dict) -> dict:
    """The form's settings that differ from what it started from: {setting: (value, default)}.

    ``values``: {setting: value, None where a box was left empty}; ``defaults``: {setting:
    the value its widget started from}, only for the settings the form shows. An empty box
    stands for its default (the job fills it in from the preset), except the time budget,
    where empty means no limit. Numbers compare as numbers (3 equals 3.0).
    """
    changed = {}
    for name, default in defaults.items():
        value = values.get(name)
        if name == "time_budget":
            value, default = value or None, default or None
        elif value is None:
            continue
        if value != default:
            changed[name] = (value, default)
    return changed


def run_name_prefix(arch: str, corpus_name: str) -> str:
    """The start of a suggested run name: the architecture and the corpus's first file's
    stem (``gru-sample`` for "built-in sample", ``lstm-tales`` for "tales.txt + more.txt")."""
    short = Path(corpus_name.split(" + ")[0]).stem.replace("built-in ", "").replace("builtin:", "")
    return f"{arch}-{short}"
