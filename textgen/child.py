"""A textgen function run in a child Python process.

The app never imports the training backend in its own process: importing TensorFlow takes
seconds a page would wait for, and a fault in the backend would take the server down with it.
Probes that need the backend (the GPU check, a speed measurement, the learning-rate finder)
run here instead: ``python -m textgen.child MODULE:FUNCTION ARGS_JSON`` calls the function with
the arguments and prints its JSON result as the last line.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


class ChildFailed(Exception):
    """The child process ended without a result (it failed, or printed something else)."""


def call(target: str, *args, timeout_s: float):
    """``target`` ("textgen.training:measure_speed") called with ``args`` (JSON values) in a
    child Python process; returns its JSON result. Raises subprocess.TimeoutExpired after
    ``timeout_s`` seconds (the child is killed) and ChildFailed when it fails or prints no
    result; the child's stderr is kept in the ChildFailed's message."""
    try:
        done = subprocess.run([sys.executable, "-m", "textgen.child", target, json.dumps(list(args))],
                              capture_output=True, text=True, timeout=timeout_s, cwd=PROJECT)
    except OSError as e:
        raise ChildFailed(str(e)) from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ChildFailed(done.stderr.strip()[-2000:])
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise ChildFailed(f"not a result: {lines[-1][:200]}") from None


def main(argv: list[str]) -> None:
    module, name = argv[0].split(":")
    result = getattr(importlib.import_module(module), name)(*json.loads(argv[1]))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
