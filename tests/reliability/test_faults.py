"""Faults: a killed job, a restarted server, a full disk, damaged files, two users, divergence."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import textgen
from textgen import callbacks, checkpoints, files, jobs, runs
from textgen.training import train

from reliability_helpers import (APP_ROOT, TINY, TINY_OPTIONS, cli_env, copy_run, dead_pid,
                                 quiet, run_cli, tiny_config, wait_for)

# A training job outside the queue, as `python -m textgen train` runs one, but with a score
# and a resume checkpoint every half second (settings the CLI has no flags for).
DRIVER = """
import json, sys
from textgen.config import resolve_config
from textgen.training import train
config = resolve_config("quick", **json.loads(sys.argv[3]))
train([sys.argv[1]], sys.argv[2], config, log=lambda m: None)
"""


def train_tokens(corpus_file):
    """Tokens in the training part of a corpus file, read character by character."""
    from textgen.corpus import split_text
    return len(split_text(Path(corpus_file).read_text(encoding="utf-8"), 0.1)[0])


def steps_of(run_dir):
    return [r["step"] for r in files.read_jsonl(Path(run_dir) / "metrics.jsonl")[0]]


def strictly_increasing(values):
    return all(a < b for a, b in zip(values, values[1:]))


def page_errors(at):
    return [e.value for e in at.exception]


def start_driver(corpus, run, settings, reaped):
    """A training job run by DRIVER in its own process, ended by the test's ``reaped``."""
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(corpus), str(run), json.dumps(settings)],
                            cwd=APP_ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    reaped.append(proc)
    return proc


# --- a job killed with SIGKILL --------------------------------------------------------


def test_a_killed_job_is_interrupted_keeps_its_model_and_resumes(home, pattern_file, open_page,
                                                                 reaped, capsys):
    run = home / "runs" / "killed"
    settings = dict(TINY, time_budget=0, epochs=100_000, eval_every_s=0.5, checkpoint_every_s=0.5,
                    sample_every_s=0)
    proc = start_driver(pattern_file, run, settings, reaped)
    wait_for(lambda: proc.poll() is not None or (
        (run / "model.keras").exists()
        and (checkpoints.checkpoint_meta(run) or {}).get("step")),
        what="the first saved model and checkpoint")
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    time.sleep(0.3)  # kill it in the middle of its work, not at a checkpoint boundary
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    # Shown as interrupted by the CLI, the library and the Runs page.
    listed = subprocess.run([sys.executable, "-m", "textgen", "runs", "--root", str(home / "runs")],
                            cwd=APP_ROOT, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("killed"))
    assert "interrupted" in line.split()
    assert runs.read_status(run)["state"] == "interrupted"
    at = open_page("runs")
    table = at.dataframe[0].value
    assert table[table["Run"] == "killed"].iloc[0]["State"] == "interrupted"
    assert not next(b for b in at.button if b.label == "Resume").disabled

    # Its best checkpoint loads and writes.
    text = textgen.load_run(run).generate(length=40, seed=1)
    assert isinstance(text, str) and len(text) >= 10

    # --resume continues from the checkpoint's step; the log is appended, never repeated.
    checkpoint_step = checkpoints.checkpoint_meta(run)["step"]
    kept = [r for r in files.read_jsonl(run / "metrics.jsonl")[0] if r["step"] <= checkpoint_step]
    steps_per_epoch = train_tokens(pattern_file) / (TINY["batch_size"] * TINY["seq_len"])
    epochs = int(checkpoint_step // steps_per_epoch) + 2
    rc, _, err = run_cli("train", "--out", run, "--resume", "--epochs", epochs, capsys=capsys)
    assert rc == 0, err
    status = runs.read_status(run)
    assert status["state"] == "completed"
    assert status["step"] == int(epochs * steps_per_epoch) > checkpoint_step
    records = files.read_jsonl(run / "metrics.jsonl")[0]
    steps = [r["step"] for r in records]
    assert strictly_increasing(steps), steps
    assert records[: len(kept)] == kept  # what was logged up to the checkpoint is kept as it was
    assert steps[len(kept)] > checkpoint_step
    times = [r["time"] for r in records]
    assert times == sorted(times)  # the clock continues across the resume
    assert textgen.load_run(run).generate(length=20, seed=2)


# --- a restarted server, two users, the queue ------------------------------------------


def test_jobs_outlive_the_server_queue_and_are_found_again(home, pattern_file, open_page, reaped,
                                                           monkeypatch):
    monkeypatch.setenv("TEXTGEN_MAX_JOBS", "1")
    # Long enough that the running job is still running while a fresh page session opens
    # on a busy machine (the budget counts start-up too).
    options = dict(TINY_OPTIONS, epochs=100_000, time_budget=15)
    first, second = home / "runs" / "first", home / "runs" / "second"
    # Two people press "Start training" at the same moment.
    pids = [jobs.start_training([str(pattern_file)], first, options),
            jobs.start_training([str(pattern_file)], second, options)]
    reaped.extend(pids)
    # Each job is the leader of its own session: stopping the server's process group
    # (Ctrl+C, a restart) does not reach it.
    assert all(os.getsid(pid) == pid != os.getsid(0) for pid in pids)

    def one_running():
        statuses = {p.name: runs.read_status(p) for p in (first, second)}
        states = {name: status["state"] for name, status in statuses.items()}
        # The other has loaded and found the slot taken (until then it is only starting).
        waits = any(jobs.is_waiting(status) for status in statuses.values())
        return states if sorted(states.values()) == ["queued", "running"] and waits else None

    states = wait_for(one_running, what="one job training while the other waits")
    running = next(name for name, state in states.items() if state == "running")
    waiting = next(name for name, state in states.items() if state == "queued")

    # A fresh session of a restarted server finds the job live, and the other in the queue.
    at = open_page("train")
    assert at.selectbox(key="train_watch").value == running
    assert len(at.get("plotly_chart")) == 1
    assert runs.read_status(home / "runs" / running)["state"] == "running"
    at = open_page("train", session_state={"selected_run": waiting})
    assert at.selectbox(key="train_watch").value == waiting
    assert any("Waiting in the queue" in i.value for i in at.info)

    wait_for(lambda: all(runs.read_status(p)["state"] not in runs.ACTIVE_STATES for p in (first, second)),
             timeout=150, what="both jobs to finish", poll=0.2)
    for run in (first, second):
        status = runs.read_status(run)
        assert status["state"] == "completed", (status, (run / "train.log").read_text()[-2000:])
        assert (run / "model.keras").exists()
    # They took turns: the second started training after the first had finished.
    a, b = (runs.read_status(home / "runs" / name) for name in (running, waiting))
    assert b["started_at"] >= a["finished_at"] - 0.5


def test_a_dead_job_left_running_is_shown_as_interrupted(home, open_page, tiny_run, capsys):
    run = copy_run(tiny_run, home, "ghost")
    runs.write_status(run, state="running", pid=dead_pid(), started_at=time.time() - 60)
    assert runs.read_status(run)["state"] == "interrupted"
    at = open_page("train")
    assert not page_errors(at)
    assert any("Training interrupted" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Stop training").disabled
    at = open_page("runs")
    assert list(at.dataframe[0].value["State"]) == ["interrupted"]
    rc, out, _ = run_cli("runs", capsys=capsys)
    assert rc == 0 and "interrupted" in out
    # A job that stopped beating its heartbeat long ago is dead even if its pid was reused.
    runs.write_status(run, state="running", pid=os.getpid())
    status = files.read_json(run / "status.json")
    status["updated_at"] = time.time() - runs.HEARTBEAT_TIMEOUT_S - 5
    files.atomic_write_json(run / "status.json", status)
    assert runs.read_status(run)["state"] == "interrupted"


# --- a checkpoint write that fails half-way (disk full) --------------------------------


def disk_full(*_):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("which", ["best model", "resume checkpoint"])
def test_a_full_disk_keeps_the_previous_checkpoint_and_fails_clearly(tmp_path, pattern_file,
                                                                    monkeypatch, which):
    run = tmp_path / "run"
    saved = {}
    if which == "best model":
        real_save = keras.Model.save
        target = run / "model.keras"

        def save(self, filepath, *args, **kwargs):
            if "bytes" not in saved:
                real_save(self, filepath, *args, **kwargs)
                saved["bytes"] = "pending"
                return
            saved["bytes"] = target.read_bytes()  # what the failed write must leave alone
            Path(filepath).write_bytes(b"PK\x03\x04 half a model")
            disk_full()

        monkeypatch.setattr(keras.Model, "save", save)
        config = tiny_config(epochs=20, eval_every_s=0.2)
    else:
        real_savez = np.savez
        target = run / "checkpoint" / "state.npz"

        def savez(file, *args, **kwds):
            if "bytes" not in saved:
                real_savez(file, *args, **kwds)
                saved["bytes"] = "pending"
                return
            saved["bytes"] = target.read_bytes()
            with open(file, "wb") as f:
                f.write(b"PK\x03\x04 half a checkpoint")
            disk_full()

        monkeypatch.setattr(np, "savez", savez)
        config = tiny_config(epochs=20, checkpoint_every_s=0.2)

    status = train([str(pattern_file)], run, config, log=quiet)
    assert isinstance(saved.get("bytes"), bytes), "the second write never happened"
    assert status["state"] == "failed"
    assert status["message"] == ("Could not write the checkpoint: the disk is full or not writable. "
                                 "The previous checkpoint is kept.")
    assert runs.read_status(run)["state"] == "failed"
    assert target.read_bytes() == saved["bytes"]
    leftovers = [p.name for p in run.rglob("*") if ".tmp" in p.name]
    assert not leftovers
    assert textgen.load_run(run).generate(length=10, seed=0)


# --- damaged or missing files ------------------------------------------------------------


def test_a_truncated_log_or_a_missing_status_breaks_nothing(home, tiny_run, open_page, capsys):
    cut = copy_run(tiny_run, home, "cut-log")
    with open(cut / "metrics.jsonl", "a") as f:
        f.write('{"step": 99999, "train_lo')
    with open(cut / "samples.jsonl", "a") as f:
        f.write('{"step": 99999, "te')
    lost = copy_run(tiny_run, home, "no-status")
    (lost / "status.json").unlink()
    assert runs.read_status(lost)["state"] == "interrupted"
    assert steps_of(cut) == steps_of(tiny_run)

    for name in ("cut-log", "no-status"):
        at = open_page("train", session_state={"selected_run": name})
        assert not page_errors(at), name
        assert at.selectbox(key="train_watch").value == name
    at = open_page("runs")
    assert not page_errors(at)
    assert set(at.dataframe[0].value["Run"]) == {"cut-log", "no-status"}
    at.multiselect[0].set_value(["cut-log", "no-status"]).run()
    assert not page_errors(at)
    at = open_page("generate")
    assert not page_errors(at)

    rc, out, err = run_cli("runs", capsys=capsys)
    assert rc == 0 and "cut-log" in out and "no-status" in out, err
    for run in (cut, lost):
        rc, out, err = run_cli("generate", run, "--length", 20, "--seed", 1, capsys=capsys)
        assert rc == 0 and out.strip(), err
        rc, out, err = run_cli("evaluate", run, capsys=capsys)
        assert rc == 0, err
        assert math.isfinite(json.loads(out)["nats_per_char"])


# --- two users -----------------------------------------------------------------------------


def test_uploads_belong_to_one_browser_session(open_page):
    alice = open_page("corpus")
    alice.file_uploader[0].upload("alice.txt", ("Alice's private notes. " * 200).encode(), "text/plain")
    alice.run()
    assert not alice.exception
    assert Path(alice.session_state["corpus_spec"][0]).name == "alice.txt"
    bob = open_page("corpus")
    assert "corpus_spec" not in bob.session_state
    assert not any("alice" in s.value for s in bob.subheader)
    bob_train = open_page("train")
    assert not any("alice" in m.value for m in bob_train.markdown)


# --- divergence ---------------------------------------------------------------------------


def test_a_diverging_run_stops_with_advice_and_keeps_its_best_model(tmp_path, pattern_file, monkeypatch):
    run = tmp_path / "run"
    real_batch_loss = callbacks.RunMonitor.batch_loss
    kept = {}

    def batch_loss(self, batch, logs):
        if (run / "model.keras").exists() and self.state.step > 5:
            kept.setdefault("model", (run / "model.keras").read_bytes())
            return math.nan
        return real_batch_loss(self, batch, logs)

    monkeypatch.setattr(callbacks.RunMonitor, "batch_loss", batch_loss)
    status = train([str(pattern_file)], run, tiny_config(epochs=20, eval_every_s=0.2), log=quiet)
    assert status["state"] == "failed"
    assert "diverged" in status["message"] and "learning rate" in status["message"]
    assert (run / "model.keras").read_bytes() == kept["model"]
    assert textgen.load_run(run).generate(length=10, seed=0)
    assert strictly_increasing(steps_of(run))


# --- every moment a kill can land, and --resume ----------------------------------------------


def killed_copy(tiny_run, tmp_path, name):
    """A copy of a finished tiny run, marked as a job that died while running."""
    run = tmp_path / name
    import shutil
    shutil.copytree(tiny_run, run)
    runs.write_status(run, state="running", pid=dead_pid())
    return run


def resume(run, epochs=5, **explicit):
    """--resume through the library; returns (status, the status.json seen when it began, log)."""
    logged, seen = [], {}

    def log(message):
        logged.append(message)
        seen.setdefault("status", files.read_json(run / "status.json"))

    status = train([], run, tiny_config(epochs=epochs), explicit={"epochs": epochs, **explicit},
                   resume=True, log=log)
    return status, seen.get("status"), logged


def test_a_run_killed_before_its_first_checkpoint_resumes_from_its_best_model(tiny_run, tmp_path):
    run = killed_copy(tiny_run, tmp_path, "no-checkpoint")
    import shutil
    shutil.rmtree(run / "checkpoint")  # killed after the first best model, before any checkpoint
    best = checkpoints.best_record(run / "metrics.jsonl")
    kept = [r for r in files.read_jsonl(run / "metrics.jsonl")[0] if r["step"] <= best["step"]]
    status, began, logged = resume(run)
    note = (f"This run has no whole resume checkpoint, so it continues from its best model "
            f"(step {best['step']:,}) with a fresh optimizer.")
    assert note in logged
    assert began["message"] == note and began["state"] == "running"
    assert status["state"] == "completed" and status["step"] == status["total_steps"]
    records = files.read_jsonl(run / "metrics.jsonl")[0]
    steps = [r["step"] for r in records]
    assert strictly_increasing(steps) and records[: len(kept)] == kept
    assert steps[len(kept)] > best["step"]
    assert status["best_val_loss"] <= best["val_loss"] + 1e-6


def test_a_run_killed_between_its_best_model_and_its_checkpoint_resumes_from_the_checkpoint(
        pattern_file, tmp_path):
    run = tmp_path / "run"
    train([str(pattern_file)], run, tiny_config(epochs=1), log=quiet)
    import shutil
    shutil.copytree(run / "checkpoint", tmp_path / "older-checkpoint")
    early = checkpoints.checkpoint_meta(run)["step"]
    train([], run, tiny_config(epochs=3), explicit={"epochs": 3}, resume=True, log=quiet)
    # The state a kill leaves after a new best model.keras, before the checkpoint that follows.
    shutil.rmtree(run / "checkpoint")
    shutil.copytree(tmp_path / "older-checkpoint", run / "checkpoint")
    runs.write_status(run, state="running", pid=dead_pid())
    best = checkpoints.best_record(run / "metrics.jsonl")
    assert best["step"] > early
    model_before = (run / "model.keras").read_bytes()
    kept = [r for r in files.read_jsonl(run / "metrics.jsonl")[0] if r["step"] <= early]
    status, began, _ = resume(run, epochs=3)
    assert began["message"] == "Training."  # from the checkpoint: nothing to explain
    assert status["state"] == "completed"
    records = files.read_jsonl(run / "metrics.jsonl")[0]
    assert strictly_increasing([r["step"] for r in records])
    assert records[: len(kept)] == kept and records[len(kept)]["step"] > early  # the log goes on from the checkpoint
    # The newer best model was scored again, so a worse one never replaced it.
    assert status["best_val_loss"] <= best["val_loss"] + 1e-6
    if (run / "model.keras").read_bytes() != model_before:
        assert min(r["val_loss"] for r in files.read_jsonl(run / "metrics.jsonl")[0]
                   if "val_loss" in r and r["step"] > early) < best["val_loss"]


@pytest.mark.parametrize("torn", ["temporary file", "damaged checkpoint"])
def test_a_run_killed_in_the_middle_of_a_checkpoint_write_resumes(tiny_run, tmp_path, torn):
    run = killed_copy(tiny_run, tmp_path, "torn")
    folder = run / "checkpoint"
    step = checkpoints.checkpoint_meta(run)["step"]
    whole = (folder / "state.npz").read_bytes()
    (folder / ".state.4242.tmp.npz").write_bytes(whole[: len(whole) // 2])
    (run / ".model.4242.tmp.keras").write_bytes(b"PK\x03\x04 half a model")
    # An older layout kept the step beside the weights; a stale copy must not mislead.
    (folder / "meta.json").write_text(json.dumps({"step": step + 1000}))
    if torn == "damaged checkpoint":
        (folder / "state.npz").write_bytes(whole[: len(whole) // 2])
    status, began, logged = resume(run)
    assert status["state"] == "completed"
    assert strictly_increasing(steps_of(run))
    if torn == "temporary file":
        assert began["message"] == "Training."
        assert [s for s in steps_of(run) if s > step][0] > step
    else:
        assert "continues from its best model" in began["message"]
    assert not [p.name for p in run.rglob("*") if ".tmp" in p.name]
    assert checkpoints.checkpoint_meta(run)["step"] == status["step"]
    assert not (folder / "meta.json").exists()


def test_a_run_killed_before_it_saved_any_model_starts_again_from_step_0(tiny_run, tmp_path):
    run = killed_copy(tiny_run, tmp_path, "nothing-saved")
    import shutil
    shutil.rmtree(run / "checkpoint")
    (run / "model.keras").unlink()
    # Only training records: no held-out score was written before the kill.
    records = [{k: v for k, v in r.items() if k != "val_loss"}
               for r in files.read_jsonl(run / "metrics.jsonl")[0]]
    files.atomic_write_bytes(run / "metrics.jsonl",
                            "".join(json.dumps(r) + "\n" for r in records).encode())
    assert records  # training steps were logged before the kill
    status, began, logged = resume(run, epochs=2)
    note = "This run stopped before it saved a model, so it starts again from step 0."
    assert note in logged and began["message"] == note
    assert status["state"] == "completed" and status["step"] == status["total_steps"]
    steps = steps_of(run)
    assert strictly_increasing(steps) and steps[0] >= 1
    assert not [r for r in files.read_jsonl(run / "samples.jsonl")[0] if r["step"] > status["step"]]
    assert (run / "model.keras").exists()


def run_files(run):
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("why", ["corpus changed", "config missing", "tokenizer damaged"])
def test_a_resume_that_cannot_go_ahead_leaves_every_file_as_it_was(pattern_file, tmp_path, why,
                                                                   capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(pattern_file.read_bytes())
    run = tmp_path / "run"
    train([str(corpus)], run, tiny_config(epochs=1), log=quiet)
    runs.write_status(run, state="running", pid=dead_pid())
    if why == "corpus changed":
        corpus.write_text(pattern_file.read_text() + "more text", encoding="utf-8")
    elif why == "config missing":
        (run / "config.json").unlink()
    else:
        (run / "tokenizer.json").write_text("{not json")
    before = run_files(run)
    rc, out, err = run_cli("train", "--out", run, "--resume", "--epochs", 3, capsys=capsys)
    assert rc == 2, err
    assert [line for line in err.splitlines() if line.startswith("error: ")], err
    assert "Traceback" not in err
    assert run_files(run) == before


def test_a_job_killed_early_with_sigkill_resumes_with_increasing_steps(home, pattern_file, reaped,
                                                                      capsys):
    run = home / "runs" / "killed-early"
    settings = dict(TINY, time_budget=0, epochs=100_000, eval_every_s=1.0, checkpoint_every_s=2.0,
                    sample_every_s=0)
    proc = start_driver(pattern_file, run, settings, reaped)
    # Killed as soon as it has logged its first steps: whatever it had saved by then.
    wait_for(lambda: proc.poll() is not None or steps_of(run), what="the first logged steps")
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rc, _, err = run_cli("train", "--out", run, "--resume", "--epochs", 2, capsys=capsys)
    assert rc == 0, err
    status = runs.read_status(run)
    assert status["state"] == "completed" and status["step"] == status["total_steps"]
    assert strictly_increasing(steps_of(run))
