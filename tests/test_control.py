"""Live controls on a running job (textgen.control, callbacks.Controls, `python -m textgen
control`): requests are checked before they are sent, a real job applies them within
seconds, records them in metrics.jsonl and acknowledges them, and a paused job loses
nothing when it is killed."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from textgen import charts, control, jobs, runs
from textgen.callbacks import Controls, RunClock, TrainingState, learning_rate_at
from textgen.checkpoints import checkpoint_meta
from textgen.errors import TextgenError
from textgen.files import atomic_write_json, read_json, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"
TINY_GRU = ["--arch", "gru", "--layers", "1", "--units", "32", "--embedding-dim", "16", "--seq-len", "32",
            "--batch-size", "16", "--learning-rate", "0.003", "--seed", "1"]


# --- sending: checked first, then appended ---------------------------------------------


def live_run(folder: Path, state="running", time_budget=120.0) -> Path:
    """A run folder whose job is this test process: alive, with a fresh heartbeat."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", {"learning_rate": 0.002, "time_budget": time_budget})
    runs.write_status(folder, state=state, pid=os.getpid(), step=10)
    return folder


def sent(folder: Path) -> list[dict]:
    return read_jsonl(folder / control.CONTROL_FILE)[0]


def test_a_control_sent_to_a_running_job_is_appended_with_an_id_and_the_time(tmp_path):
    run = live_run(tmp_path / "run")
    before = time.time()
    request = control.send(run, "learning_rate", "0.0005")
    control.send(run, "add_time", -30)
    assert request["kind"] == "learning_rate" and request["value"] == 0.0005
    assert re.fullmatch(r"[0-9a-f]{32}", request["id"]) and request["sent_at"] >= before
    assert [(r["kind"], r["value"]) for r in sent(run)] == [("learning_rate", 0.0005), ("add_time", -30.0)]
    found, offset = control.read_requests(run)
    assert [r["id"] for r in found][0] == request["id"]
    control.send(run, "pause")
    later, _ = control.read_requests(run, offset)
    assert [r["kind"] for r in later] == ["pause"]


@pytest.mark.parametrize("kind,value,words", [
    ("learning_rate", 5, "learning rate"),
    ("learning_rate", "fast", "learning rate"),
    ("add_time", 0, "other than 0"),
    ("add_time", "abc", "other than 0"),
    ("add_time", math.nan, "other than 0"),
    ("continue", None, "not paused"),
])
def test_a_bad_value_is_refused_with_a_sentence_and_nothing_is_sent(tmp_path, kind, value, words):
    run = live_run(tmp_path / "run")
    with pytest.raises(TextgenError, match=words):
        control.send(run, kind, value)
    assert sent(run) == []


def test_time_cannot_be_added_to_a_run_that_trains_for_its_epochs(tmp_path):
    run = live_run(tmp_path / "run", time_budget=None)
    with pytest.raises(TextgenError, match="no time budget: it trains for its set number of epochs"):
        control.send(run, "add_time", 60)


def test_a_paused_run_takes_continue_but_not_another_pause(tmp_path):
    run = live_run(tmp_path / "run", state="paused")
    with pytest.raises(TextgenError, match="paused already"):
        control.send(run, "pause")
    assert control.send(run, "continue")["kind"] == "continue"


def test_a_finished_run_or_a_folder_that_is_no_run_cannot_be_steered(tmp_path):
    run = live_run(tmp_path / "run")
    runs.write_status(run, state="completed")
    with pytest.raises(TextgenError) as finished:
        control.send(run, "pause")
    assert str(finished.value) == ("This run has finished (completed), so it cannot be steered. "
                                   "Resume it to train it further.")
    assert finished.value.params == {"state": "completed"}  # the pages translate the state
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextgenError, match="is not a run folder"):
        control.send(tmp_path / "empty", "pause")


def test_the_sender_learns_the_step_its_request_was_applied_at(tmp_path):
    run = live_run(tmp_path / "run")
    first, second = control.send(run, "pause"), control.send(run, "learning_rate", 0.001)
    assert control.wait_applied(run, first["id"], timeout_s=0.2) is None
    status = runs.read_status(run)
    runs.write_status(run, **control.acknowledgement(status, [first["id"], second["id"]], 42))
    assert control.wait_applied(run, first["id"], timeout_s=0.2) == 42  # not the last one acknowledged
    assert control.wait_applied(run, second["id"], timeout_s=0.2) == 42


# --- the paused state ---------------------------------------------------------------


def test_a_paused_job_is_active_keeps_its_slot_and_is_interrupted_once_its_heartbeat_stops(tmp_path):
    run = live_run(tmp_path / "runs" / "paused-run", state="paused")
    assert "paused" in runs.STATES and "paused" in runs.ACTIVE_STATES
    assert runs.read_status(run)["state"] == "paused"
    assert jobs.queue_position("paused-run", tmp_path / "runs") == (None, 1)  # it holds a slot
    status = read_json(run / "status.json")
    atomic_write_json(run / "status.json", dict(status, updated_at=time.time() - runs.HEARTBEAT_TIMEOUT_S - 5))
    assert runs.read_status(run)["state"] == "interrupted"


# --- the decay when the time budget changes ----------------------------------------------


def test_the_rate_in_use_is_said_to_warm_up_while_it_rises_and_to_decay_after():
    config = {"learning_rate": 9e-4, "min_lr_ratio": 0.1, "warmup_steps": 50}
    rising = [{"step": 20, "lr": 0.000846}, {"step": 40, "lr": 0.000899449}]
    assert control.learning_rates(config, rising) == {"now": 0.000899449, "peak": 9e-4, "floor": 9e-5,
                                                      "warming_up": True}
    assert control.learning_rates(config, rising[:1])["warming_up"]  # one record, within the warm-up steps
    falling = rising + [{"step": 120, "lr": 0.00088}]
    assert not control.learning_rates(config, falling)["warming_up"]
    assert not control.learning_rates(config, [{"step": 400, "lr": 0.0005}])["warming_up"]
    assert control.learning_rates(config, []) is None
    assert [control.rate_text(r) for r in (0.000899449, 9e-5, 9e-4, 0.012)] == ["0.000899", "0.00009", "0.0009",
                                                                              "0.012"]


def test_the_decay_never_jumps_back_when_time_is_added_and_runs_ahead_when_time_is_taken():
    state = TrainingState(step=500, total_steps=10**9, decay_began=10.0)
    config = {"time_budget": 100.0, "learning_rate": 0.002, "min_lr_ratio": 0.1, "warmup_steps": 10}
    clock = RunClock(state, config, started=time.time() - 54.0)
    before = clock.budget_progress()
    assert before == pytest.approx(44 / 88, abs=0.01)  # (54 - 10) s of the (100 - 10 - 2) s then left
    clock.change_budget(100.0)
    assert clock.budget_progress() == pytest.approx(before, abs=0.01)  # no jump back
    clock.started -= 10.0  # ten more seconds of training
    # the rest of the decay is spread over the 144 s now left (of 200 s, less the reserve)
    assert clock.budget_progress() == pytest.approx(before + (1 - before) * 10 / (200 - 54 - 2), abs=0.01)
    rate = learning_rate_at(config, state.step, state.total_steps, clock.budget_progress())
    assert rate < learning_rate_at(config, state.step, state.total_steps, 0.0)  # still decayed
    ahead = clock.budget_progress()
    clock.change_budget(-80.0)
    assert clock.budget_progress() == pytest.approx(ahead, abs=0.01)
    clock.started -= 10.0
    assert clock.budget_progress() > ahead + 10 / (200 - 64 - 2)  # less time left: faster decay
    clock.change_budget(-1000.0)
    assert config["time_budget"] > 0 and clock.out_of_time()  # a budget taken away ends the run


def test_paused_seconds_count_neither_against_the_budget_nor_on_the_clock():
    clock = RunClock(TrainingState(), {"time_budget": 100.0}, started=time.time() - 50.0, offset=20.0)
    clock.paused = 30.0
    assert clock.elapsed() == pytest.approx(20.0, abs=0.5)
    assert clock.run_seconds() == pytest.approx(40.0, abs=0.5)
    assert clock.budget_left() == pytest.approx(80.0, abs=0.5)


def test_the_clock_stands_still_while_paused_so_a_change_sent_then_keeps_the_decay_where_it_was():
    state = TrainingState(step=500, total_steps=10**9, decay_began=10.0)
    config = {"time_budget": 120.0, "learning_rate": 0.012, "min_lr_ratio": 0.1, "warmup_steps": 10}
    clock = RunClock(state, config, started=time.time() - 40.0)
    before = clock.budget_progress()
    clock.pause()
    clock.started, clock.paused_at = clock.started - 300.0, clock.paused_at - 300.0  # five minutes on
    assert clock.elapsed() == pytest.approx(40.0, abs=0.5)
    assert clock.budget_progress() == pytest.approx(before, abs=0.01)
    clock.change_budget(-60.0)  # −1 min while paused: the decay goes on from where it stood
    assert clock.budget_progress() == pytest.approx(before, abs=0.01) and before < 0.5
    assert learning_rate_at(config, state.step, state.total_steps, clock.budget_progress()) > 0.006
    assert not clock.out_of_time()  # 40 s of the 60 s left trained
    assert clock.resume() == pytest.approx(300.0, abs=0.5) and clock.paused_at is None
    assert clock.elapsed() == pytest.approx(40.0, abs=0.5)  # the pause left out once it ended too


def test_what_is_sent_while_paused_waits_in_order_for_the_step_after_the_continue(tmp_path):
    metrics = SimpleNamespace(carry={})
    controls = Controls(TrainingState(step=7), tmp_path, {}, None, metrics, None, None, None, since=0.0)
    ask = [{"id": kind, "kind": kind, "value": value} for kind, value in
           (("learning_rate", 0.001), ("pause", None), ("add_time", -60.0))]
    controls.queue = list(ask)
    assert not controls.take_continue() and controls.queue == ask and metrics.carry == {}
    controls.queue += [{"id": "continue", "kind": "continue", "value": None},
                       {"id": "later", "kind": "learning_rate", "value": 0.002}]
    assert controls.take_continue()
    assert [r["id"] for r in controls.queue] == ["learning_rate", "add_time", "later"]
    assert metrics.carry == {"control": [{"kind": "continue", "value": None}]}
    assert sorted(controls.applied) == ["continue", "pause"]  # a second pause is passed over


# --- the chart ---------------------------------------------------------------------


def test_the_loss_chart_marks_each_control_with_a_dotted_line_and_a_label():
    records = [{"step": 10, "time": 1.0, "train_loss": 3.0},
               {"step": 20, "time": 2.0, "train_loss": 2.8,
                "control": [{"kind": "learning_rate", "value": 0.001}, {"kind": "add_time", "value": 60}]},
               {"step": 30, "time": 3.0, "train_loss": 2.7, "control": [{"kind": "pause", "value": None}]},
               {"step": 31, "time": 3.1, "train_loss": 2.7, "control": [{"kind": "continue", "value": None}]},
               {"step": 40, "time": 4.0, "train_loss": 2.6, "control": [{"kind": "add_time", "value": -60}]}]
    fig = charts.loss_figure(records)
    assert [(s.x0, s.line.dash) for s in fig.layout.shapes] == [(20, "dot"), (30, "dot"), (31, "dot"), (40, "dot")]
    assert [a.text for a in fig.layout.annotations] == ["lr 0.001, +60 s", "paused", "continued", "−60 s"]
    by_time = charts.loss_figure(records, x="time")
    assert [s.x0 for s in by_time.layout.shapes] == [2.0, 3.0, 3.1, 4.0]
    fine_tune = charts.loss_figure(records, base_records=[{"step": 100, "train_loss": 2.0}])
    assert [s.x0 for s in fine_tune.layout.shapes] == [120, 130, 131, 140]  # moved as its curve is
    chinese = charts.loss_figure(records, translate=lambda text, **p: "学习率 {value:g}".format(**p)
                                 if text == "lr {value:g}" else text.format(**p))
    assert chinese.layout.annotations[0].text.startswith("学习率 0.001")


# --- a real job, steered through the CLI --------------------------------------------------


def cli_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}


def start_job(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "textgen", "train", *map(str, args)], cwd=ROOT,
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def steer(run: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textgen", "control", str(run), *map(str, args)], cwd=ROOT,
                          env=cli_env(), capture_output=True, text=True, timeout=60)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status(run: Path) -> dict:
    return runs.read_status(run)


def training(run: Path, after: int = 0) -> bool:
    s = status(run)
    return s.get("state") == "running" and (s.get("step") or 0) > after


def applied_at(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stderr
    found = re.search(r"applied at step ([\d,]+)\.$", result.stdout.strip())
    assert found, result.stdout
    return int(found.group(1).replace(",", ""))


def records(run: Path) -> list[dict]:
    return read_jsonl(run / "metrics.jsonl")[0]


@pytest.fixture
def prose(tmp_path) -> Path:
    corpus = tmp_path / "prose.txt"
    corpus.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:150_000], encoding="utf-8")
    return corpus


def test_controls_steer_a_real_job_and_a_job_killed_while_paused_resumes_where_it_paused(tmp_path, prose):
    run = tmp_path / "run"
    job = start_job([prose, "--out", run, "--time-budget", "120", *TINY_GRU])
    resumed = None
    try:
        wait_for(lambda: training(run), 120, "the job to train")
        wait_for(lambda: any(r["lr"] > 0.001 for r in records(run)), 60, "the warm-up to end")

        # A new learning rate: the schedule continues from the new peak.
        step = applied_at(steer(run, "--learning-rate", "0.0005"))
        wait_for(lambda: any(r["step"] > step + 5 for r in records(run)), 30, "records after the new rate")
        marked = next(r for r in records(run) if r["step"] == step)
        assert marked["control"] == [{"kind": "learning_rate", "value": 0.0005}]
        assert max(r["lr"] for r in records(run) if r["step"] < step) > 0.0005
        after = [r["lr"] for r in records(run) if r["step"] > step]
        assert after and all(0.0001 < lr <= 0.0005 * 1.0001 for lr in after)
        assert read_json(run / "config.json")["learning_rate"] == 0.0005  # --resume keeps it

        # More time: the budget grows, in config.json and status.json.
        step = applied_at(steer(run, "--add-time", "60"))
        assert read_json(run / "config.json")["time_budget"] == 180
        assert status(run)["time_budget"] == 180
        wait_for(lambda: any(r.get("control") == [{"kind": "add_time", "value": 60.0}] for r in records(run)),
                 10, "the record of the time added")

        # Pause: the step stands still while the heartbeat goes on.
        paused_at = applied_at(steer(run, "--pause"))
        paused = status(run)
        assert paused["state"] == "paused" and paused["step"] == paused_at
        time.sleep(2.5)
        later = status(run)
        assert later["state"] == "paused" and later["step"] == paused_at
        assert later["updated_at"] > paused["updated_at"] + 1
        assert later["paused_at"] == pytest.approx(paused["updated_at"], abs=2)
        assert records(run)[-1]["step"] == paused_at
        assert records(run)[-1]["control"] == [{"kind": "pause", "value": None}]

        # Bad values and a second pause: exit 2 with one sentence; nothing changes.
        for args, words in ((["--pause"], "paused already"), (["--learning-rate", "5"], "learning rate"),
                            (["--add-time", "0"], "other than 0"), (["--add-time", "abc"], "other than 0")):
            refused = steer(run, *args)
            assert refused.returncode == 2 and refused.stderr.startswith("error: ") and words in refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1

        # A rate sent while paused waits for the continue: the paused step's record is written.
        began = time.time()
        waiting = steer(run, "--learning-rate", "0.0008")
        assert waiting.returncode == 0 and time.time() - began < 8, waiting.stderr
        assert waiting.stdout.strip() == "Learning rate 0.0008: sent; the job applies it at its next step."
        time.sleep(0.5)
        assert read_json(run / "config.json")["learning_rate"] == 0.0005 and status(run)["step"] == paused_at

        # Continue: it trains on; the continue and the rate are recorded at the next step.
        applied_at(steer(run, "--continue"))
        wait_for(lambda: training(run, after=paused_at), 10, "training to go on")
        wait_for(lambda: any(r["step"] > paused_at and r.get("control") for r in records(run)),
                 10, "the record of the continue")
        marked = next(r for r in records(run) if r["step"] > paused_at and r.get("control"))
        assert marked["control"] == [{"kind": "continue", "value": None},
                                     {"kind": "learning_rate", "value": 0.0008}]
        assert read_json(run / "config.json")["learning_rate"] == 0.0008
        resumed_status = status(run)
        assert resumed_status["paused_s"] >= 2.5 and resumed_status["paused_at"] is None

        # Killed while paused: nothing is lost, --resume continues from the paused step.
        paused_again = applied_at(steer(run, "--pause"))
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
        assert checkpoint_meta(run)["step"] == paused_again
        assert status(run)["state"] == "interrupted"
        resumed = start_job(["--out", run, "--resume"])
        wait_for(lambda: training(run, after=paused_again), 120, "the resumed job to train")
        steps = [r["step"] for r in records(run)]
        assert steps == sorted(set(steps)) and paused_again in steps

        # Time taken away while paused ends the run at the continue, as a spent budget does;
        # its last record still marks the time taken away.
        paused_last = applied_at(steer(run, "--pause"))
        assert steer(run, "--add-time", "-1000").stdout.strip() == "−1000 s: sent; the job applies it at its next step."
        assert status(run)["state"] == "paused"
        applied_at(steer(run, "--continue"))
        assert resumed.wait(timeout=60) == 0, resumed.stderr.read()[-2000:]
        final = status(run)
        assert final["state"] == "completed" and "time budget ran out" in final["message"]
        last = records(run)[-1]
        assert last["step"] > paused_last
        assert last["control"] == [{"kind": "continue", "value": None}, {"kind": "add_time", "value": -1000.0}]

        # A finished run says so.
        finished = steer(run, "--pause")
        assert finished.returncode == 2
        assert finished.stderr.strip() == ("error: This run has finished (completed), so it cannot be "
                                           "steered. Resume it to train it further.")
    finally:
        for proc in (job, resumed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
