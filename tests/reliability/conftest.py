"""Fixtures of the reliability suite: tiny corpora and one tiny trained run per session.

Everything is small on purpose (1 layer x 32 units, sequences of 16, a few KB of text),
so the whole suite runs in about two minutes on two CPU cores.
"""

import os
import signal
from pathlib import Path

import pytest

from reliability_helpers import PATTERN, quiet, tiny_config


@pytest.fixture(scope="session")
def pattern_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "pattern.txt"
    path.write_text(PATTERN * 100, encoding="utf-8")  # about 4.6 KB
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, pattern_file) -> Path:
    """A finished tiny run, trained once in this process (a few seconds)."""
    from textgen.training import train

    run = tmp_path_factory.mktemp("tiny") / "tiny-run"
    status = train([str(pattern_file)], run, tiny_config(epochs=3), log=quiet)
    assert status["state"] == "completed", status
    assert (run / "model.keras").exists()
    return run


@pytest.fixture(scope="session")
def loaded_tiny_run(tiny_run):
    import textgen
    return textgen.load_run(tiny_run)


@pytest.fixture
def home(app_home):
    """An empty TEXTGEN_HOME (from the app fixtures), with its runs folder."""
    (app_home / "runs").mkdir(exist_ok=True)
    return app_home


@pytest.fixture
def reaped():
    """Processes (Popen objects or pids) a test starts; any still alive at the end are
    killed by their own pid, and reaped."""
    procs = []
    yield procs
    for proc in procs:
        if not isinstance(proc, int):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            continue
        # A pid from jobs.start_training is a child of this process: it cannot be reused by
        # another process until it is reaped here, so killing it by pid is safe.
        try:
            done, _ = os.waitpid(proc, os.WNOHANG)
        except ChildProcessError:
            continue  # already reaped
        if not done:
            os.kill(proc, signal.SIGKILL)
            os.waitpid(proc, 0)
