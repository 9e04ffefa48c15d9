"""AppTest: the Home page, and that light pages never import TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parent.parent


def test_home_explains_the_three_steps_and_the_machine(open_page):
    at = open_page("home")
    assert at.title[0].value == "TextGen Studio"
    headers = " ".join(h.value for h in at.subheader)
    for step in ("Bring text", "Train", "Generate"):
        assert step in headers
    assert any("Models train on this machine" in i.value for i in at.info)
    assert any(("CPU (" in i.value) or ("NVIDIA" in i.value) for i in at.info)
    assert at.button[0].label == "Train a quick model on the sample text"


def test_quick_start_button_starts_a_job_and_shows_it_on_train(open_page, app_home, monkeypatch):
    from textgen import jobs, runs

    started = {}

    def fake_start(corpus, out_dir, options):
        # A queued job held by this (living) process: the Train page must show it.
        started.update(corpus=corpus, out_dir=out_dir, options=options)
        out_dir.mkdir(parents=True)
        runs.write_status(out_dir, state="queued", pid=os.getpid(), queued_at=0)
        return os.getpid()

    monkeypatch.setattr(jobs, "start_training", fake_start)
    at = open_page("home")
    at.button[0].click().run()
    assert not at.exception
    assert started["corpus"] == ["builtin:sample"]
    assert started["options"]["preset"] == "quick"
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_watch").value == started["out_dir"].name
    # The new job is starting up, not waiting behind anyone.
    assert any(i.value.startswith("Starting:") for i in at.info)


def test_home_corpus_and_runs_pages_do_not_import_tensorflow(tmp_path):
    script = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(APP_ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP_ROOT / "app.py")!r}, default_timeout=120).run()
for page in ("corpus", "runs", "train"):
    at.switch_page(f"pages/{{page}}.py").run()
    assert not at.exception, at.exception
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    env = dict(os.environ, TEXTGEN_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=APP_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"
