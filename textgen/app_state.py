"""The app's remembered choices: one JSON file in the workspace, so a refresh, a new tab
or a restart of the app finds the chosen corpus and the settings of Train and Generate
again.

The app serves one person's workspace on 127.0.0.1, like a desktop application that
remembers its last state, so the choices are kept per workspace, not per browser. Plain
file IO: a damaged or unreadable file means nothing is remembered, never an error.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from textgen.files import atomic_write_json, read_json, textgen_home

FILE_NAME = "app-state.json"


def state_path(home: str | os.PathLike | None = None) -> Path:
    """The remembered choices' file: ``home`` (default: TEXTGEN_HOME) / app-state.json."""
    return Path(home if home is not None else textgen_home()) / FILE_NAME


def json_safe(value) -> bool:
    """Whether JSON can hold ``value``: a string, a whole or finite number, a bool, None,
    or a list (a tuple comes back as one) or a dict with string keys of such values."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(map(json_safe, value))
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_safe(v) for k, v in value.items())
    return False


def load(home: str | os.PathLike | None = None) -> dict:
    """{key: value} of the remembered choices; {} when there are none or the file is
    missing, damaged or not an object."""
    values = read_json(state_path(home), {})
    return values if isinstance(values, dict) else {}


def as_stored(values: dict) -> dict:
    """The entries of ``values`` JSON can hold, as they read back from the file (tuples
    as lists); the others (a set, an object, NaN) are left out."""
    kept = {key: value for key, value in values.items() if isinstance(key, str) and json_safe(value)}
    return json.loads(json.dumps(kept))


def save(values: dict, home: str | os.PathLike | None = None) -> dict:
    """Keep ``values`` (as_stored: what JSON cannot hold is left out) in the file,
    replacing it whole or not at all; returns what was kept. A workspace that cannot be
    written keeps its earlier file: remembering is a convenience, never an error."""
    kept = as_stored(values)
    try:
        atomic_write_json(state_path(home), kept)
    except OSError:
        pass
    return kept
