"""The Train page's live controls (pages/_train_controls.py) steer a real training job."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from textgen import jobs, runs
from textgen.files import atomic_write_json, read_json, read_jsonl

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"
TINY_GRU = {"arch": "gru", "layers": 1, "units": 32, "embedding_dim": 16, "seq_len": 32, "batch_size": 16,
            "learning_rate": 0.003, "time_budget": 120, "seed": 1}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def state_of(run: Path) -> str | None:
    return runs.read_status(run).get("state")


def end_job(run: Path) -> None:
    (run / "STOP").touch()
    pid = runs.read_status(run).get("pid")
    deadline = time.time() + 30
    while runs.pid_alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if runs.pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_pause_then_continue_on_train_pause_and_continue_the_real_job(open_page, app_home):
    corpus = app_home / "prose.txt"
    corpus.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:150_000], encoding="utf-8")
    run = runs.run_path("live")
    jobs.start_training([str(corpus)], run, TINY_GRU)
    try:
        wait_for(lambda: state_of(run) == "running" and (runs.read_status(run).get("step") or 0) > 0, 120,
                 "the job to train")
        wait_for(lambda: read_jsonl(run / "metrics.jsonl")[0], 30, "a metrics record")
        at = open_page("train", session_state={"selected_run": "live"})
        # The box shows the schedule's peak; the caption says the rate of this moment beside it.
        caption = next(c.value for c in at.caption if c.value.startswith("Learning rate now"))
        assert caption.endswith(("the schedule decays from its peak 0.003 towards 0.0003.",
                                 "warming up to its peak 0.003, from where the schedule decays towards 0.0003."))
        now = float(caption.split()[3].rstrip(":"))
        assert 0 < now <= 0.003
        keys = [b.key for b in at.button]
        assert "train_pause" in keys and "train_continue" not in keys and "train_time_60" in keys
        assert at.number_input(key="train_live_lr_live").value == 0.003  # the schedule's peak
        at.button(key="train_pause").click().run()
        assert not at.exception, [e.value for e in at.exception]
        wait_for(lambda: state_of(run) == "paused", 10, "the job to pause")
        at.run()
        assert any("Paused at step" in info.value for info in at.info)
        keys = [b.key for b in at.button]
        assert "train_continue" in keys and "train_pause" not in keys
        step = runs.read_status(run)["step"]

        # Sent while paused, a rate and a minute more wait for the continue.
        at.number_input(key="train_live_lr_live").set_value(0.0007)
        at.button(key="train_set_lr").click().run()
        at.button(key="train_time_60").click().run()
        assert [r["kind"] for r in read_jsonl(run / "control.jsonl")[0]] == ["pause", "learning_rate", "add_time"]
        time.sleep(1.0)
        assert read_json(run / "config.json").get("learning_rate") == 0.003
        assert runs.read_status(run)["step"] == step and state_of(run) == "paused"

        at.button(key="train_continue").click().run()
        assert not at.exception, [e.value for e in at.exception]
        wait_for(lambda: state_of(run) == "running" and runs.read_status(run)["step"] > step, 10,
                 "the job to train on")
        wait_for(lambda: read_json(run / "config.json").get("learning_rate") == 0.0007, 10,
                 "the new learning rate")
        assert read_json(run / "config.json").get("time_budget") == 180
        wait_for(lambda: any(r.get("control") for r in read_jsonl(run / "metrics.jsonl")[0] if r["step"] > step),
                 10, "the continue in metrics.jsonl")
        marks = [(r["step"] > step, m["kind"]) for r in read_jsonl(run / "metrics.jsonl")[0]
                 for m in r.get("control", [])]
        assert marks == [(False, "pause"), (True, "continue"), (True, "learning_rate"), (True, "add_time")]
    finally:
        end_job(run)


def test_a_control_the_job_cannot_take_shows_its_sentence_and_a_run_without_a_budget_has_no_time_buttons(
        open_page, app_home):
    run = runs.run_path("paused-run")
    run.mkdir(parents=True)
    atomic_write_json(run / "config.json", {"learning_rate": 0.002, "time_budget": None})
    runs.write_status(run, state="paused", pid=os.getpid(), step=7, started_at=time.time())
    at = open_page("train", session_state={"selected_run": "paused-run"})
    keys = [b.key for b in at.button]
    assert "train_continue" in keys and "train_time_60" not in keys  # it trains for its epochs
    assert any("Paused at step 7" in info.value for info in at.info)
    # A budget at the longest allowed: five minutes more is refused, in a sentence.
    atomic_write_json(run / "config.json", {"learning_rate": 0.002, "time_budget": 7 * 24 * 3600.0})
    at.run()
    at.button(key="train_time_300").click().run()
    assert any("The time budget must be a number from 0 to 604800" in e.value for e in at.error)
    assert not (run / "control.jsonl").exists()
    # A rate out of range is taken by the box and refused with its sentence, not sent as the last one it took.
    at.number_input(key="train_live_lr_paused-run").set_value(5.0)
    at.button(key="train_set_lr").click().run()
    assert any("The learning rate must be a number from 1e-06 to 1" in e.value for e in at.error)
    assert not (run / "control.jsonl").exists()
