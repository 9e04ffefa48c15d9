"""Helpers of the reliability suite (imported by its tests and its conftest).

Everything here is small on purpose (1 layer x 32 units, sequences of 16, a few KB of
text), so the whole suite runs in about two minutes on two CPU cores.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parents[2]
PATTERN = "the cat sat on the mat. a dog ran to the log. "
TINY = dict(arch="gru", layers=1, units=32, embedding_dim=16, seq_len=16, batch_size=16,
            dropout=0.0, learning_rate=1e-2, seed=3)
# The same settings as CLI flags (jobs.start_training options).
TINY_OPTIONS = dict(preset="quick", **TINY)


def tiny_config(**overrides):
    from textgen.config import resolve_config
    return resolve_config("quick", **{**TINY, "time_budget": 0, "epochs": 2, "eval_every_s": 0.3,
                                      "sample_every_s": 0, **overrides})


def quiet(*_):
    pass


def cli_env():
    """The environment of a job started outside the queue (a plain CLI call)."""
    return {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}


def wait_for(predicate, timeout=90.0, what="the condition", poll=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_cli(*args, capsys):
    """`python -m textgen ARGS` in this process (TensorFlow is loaded once): (rc, out, err)."""
    from textgen.cli import main
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def copy_run(run_dir, home, name=None):
    target = Path(home) / "runs" / (name or Path(run_dir).name)
    shutil.copytree(run_dir, target)
    return target


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
