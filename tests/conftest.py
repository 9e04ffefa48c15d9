"""Shared pytest fixtures."""

# =============================================================================
# App and browser test fixtures (tests/test_app_*.py, tests/browser/).
# Owned by the app pages; other sections may be added above or below.
# =============================================================================

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

APP_ROOT = Path(__file__).resolve().parent.parent
# The suite trains on the CPU on every machine, so presets and figures are the same on a GPU
# machine; the GPU path is tested with a fake nvidia-smi (tests/test_gpu_setup.py) and
# measured by benchmarks/gpu_check.sh.
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
if str(APP_ROOT) not in sys.path:  # the pages import textgen and pages._shared from here
    sys.path.insert(0, str(APP_ROOT))
APP_PAGES = ("home", "corpus", "train", "generate", "runs", "inside")


# Widgets of an AppTest found by their label.
def button(at, label):
    return next(b for b in at.button if b.label == label)


def select(at, label):
    return next(s for s in at.selectbox if s.label == label)


def number(at, label):
    return next(n for n in at.number_input if n.label == label)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the real app in Chromium (slow)")


@pytest.fixture
def app_home(tmp_path, monkeypatch) -> Path:
    """An empty TEXTGEN_HOME for one test, and the project importable by the pages."""
    home = tmp_path / "textgen-home"
    home.mkdir()
    monkeypatch.setenv("TEXTGEN_HOME", str(home))
    monkeypatch.delenv("TEXTGEN_QUEUE_DIR", raising=False)
    monkeypatch.syspath_prepend(str(APP_ROOT))
    return home


@pytest.fixture(scope="session")
def quick_run_dir(tmp_path_factory) -> Path:
    """A finished run trained once per test session with the real CLI (about 30 s on a CPU):
    Quick's five epochs of the built-in sample, 67 steps, so it has learnt well past the
    uniform guess on any machine. By steps, not by the clock: a time budget counts start-up,
    and a slow machine's first 15 s may hold a single step."""
    out = tmp_path_factory.mktemp("quick-run") / "quick-sample-run"
    env = {k: v for k, v in os.environ.items() if k not in ("TEXTGEN_QUEUE_DIR",)}
    cmd = [sys.executable, "-m", "textgen", "train", "builtin:sample", "--out", str(out),
           "--preset", "quick", "--epochs", "5", "--time-budget", "0", "--seed", "1"]
    done = subprocess.run(cmd, cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "model.keras").exists()
    return out


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict:
    """{"gru": path, "lstm": path, "transformer": path}: small finished character-level runs
    on the built-in sample, one of each architecture, trained once per test session with the
    real CLI (one epoch each, about 15 s), for tests that look inside a model of every kind."""
    root = tmp_path_factory.mktemp("tiny-runs")
    env = {k: v for k, v in os.environ.items() if k not in ("TEXTGEN_QUEUE_DIR",)}
    found = {}
    for arch in ("gru", "lstm", "transformer"):
        out = root / f"tiny-{arch}"
        cmd = [sys.executable, "-m", "textgen", "train", "builtin:sample", "--out", str(out),
               "--arch", arch, "--layers", "2", "--units", "32", "--embedding-dim", "16",
               "--seq-len", "32", "--batch-size", "16", "--epochs", "1",
               "--time-budget", "0", "--seed", "1"]  # one epoch, however slow start-up is
        done = subprocess.run(cmd, cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (out / "model.keras").exists()
        found[arch] = out
    return found


@pytest.fixture
def app_home_with_run(app_home, quick_run_dir) -> Path:
    """app_home holding a copy of the finished quick run (tests may delete or change it)."""
    shutil.copytree(quick_run_dir, app_home / "runs" / quick_run_dir.name)
    return app_home


@pytest.fixture
def no_shipped_models(monkeypatch, tmp_path):
    """Hide the base models under assets/, for tests of the 'no model yet' states."""
    import pages._shared

    monkeypatch.setattr(pages._shared, "ASSETS_DIR", tmp_path / "no-assets")


@pytest.fixture
def open_page(app_home):
    """open_page("corpus") -> an AppTest that has rendered that page of app.py. Each script run
    may take up to ``timeout`` seconds: the first run of a page in a process imports and traces
    what it needs, which a shared CI machine has been seen to take over 30 s for."""
    from streamlit.testing.v1 import AppTest

    def _open(page: str = "home", timeout: float = 120, session_state: dict | None = None):
        at = AppTest.from_file(str(APP_ROOT / "app.py"), default_timeout=timeout)
        for key, value in (session_state or {}).items():
            at.session_state[key] = value
        at.run()
        if page != "home":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open

# =============================================================================
# End of app and browser test fixtures.
# =============================================================================
