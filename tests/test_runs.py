"""Run folders and the job queue: plain file IO, no TensorFlow."""

import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from textgen import archive, files, jobs, runs
from textgen.errors import TextgenError


def make_run(root: Path, name: str, state="completed", **status) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "gru", "preset": "quick"}))
    (run / "model.keras").write_bytes(b"weights")
    (run / "tokenizer.json").write_text('{"kind": "char", "tokens": ["a"]}')
    (run / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2.0}\n')
    fields = {"state": state, "pid": os.getpid(), "started_at": time.time() - 5,
              "updated_at": time.time(), "best_val_loss": 1.25, **status}
    (run / "status.json").write_text(json.dumps(fields))
    return run


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: the pid names no process now
    return proc.pid


# --- metrics.jsonl -------------------------------------------------------------------


def test_read_jsonl_leaves_a_half_written_line_for_later(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": 2, "train_')
    records, offset = files.read_jsonl(path)
    assert records == [{"step": 1}]
    assert offset == len(b'{"step": 1}\n')
    with open(path, "ab") as f:
        f.write(b'loss": 1.5}\n{"step": 3}\n')
    more, offset2 = files.read_jsonl(path, offset)
    assert more == [{"step": 2, "train_loss": 1.5}, {"step": 3}]
    assert offset2 == path.stat().st_size
    assert files.read_jsonl(path, offset2) == ([], offset2)


def test_read_jsonl_skips_garbage_and_non_objects(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n\x00\xffnot json at all\n[1, 2]\n\n{"step": 2}\n')
    records, offset = files.read_jsonl(path)
    assert records == [{"step": 1}, {"step": 2}]
    assert offset == path.stat().st_size


def test_read_jsonl_of_a_missing_file(tmp_path):
    assert files.read_jsonl(tmp_path / "nope.jsonl", 7) == ([], 7)


def test_append_jsonl_round_trips(tmp_path):
    path = tmp_path / "samples.jsonl"
    files.append_jsonl(path, {"step": 1, "text": "héllo\nworld 你好"})
    files.append_jsonl(path, {"step": 2, "text": ""})
    assert files.read_jsonl(path)[0] == [{"step": 1, "text": "héllo\nworld 你好"},
                                        {"step": 2, "text": ""}]


# --- status ----------------------------------------------------------------------------


def test_missing_status_with_a_model_reads_as_interrupted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"x")
    status = runs.read_status(run)
    assert status["state"] == "interrupted" and status["message"]


def test_missing_status_without_a_model_reads_as_failed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert runs.read_status(run)["state"] == "failed"
    (run / "status.json").write_text("{not json")  # damaged reads like missing
    assert runs.read_status(run)["state"] == "failed"


def test_a_running_job_whose_process_died_reads_as_interrupted(tmp_path):
    run = make_run(tmp_path, "run", state="running", pid=dead_pid())
    status = runs.read_status(run)
    assert status["state"] == "interrupted"
    assert "resume" in status["message"]
    assert status["best_val_loss"] == 1.25  # the rest of the status is kept
    # The file itself is not rewritten by a reader.
    assert json.loads((run / "status.json").read_text())["state"] == "running"


def test_a_queued_job_whose_process_died_reads_as_interrupted(tmp_path):
    run = make_run(tmp_path, "run", state="queued", pid=dead_pid())
    assert runs.read_status(run)["state"] == "interrupted"


def test_a_live_job_with_a_fresh_heartbeat_is_running(tmp_path):
    run = make_run(tmp_path, "run", state="running", pid=os.getpid())
    assert runs.read_status(run)["state"] == "running"


def test_a_stale_heartbeat_reads_as_interrupted_even_if_the_pid_lives(tmp_path):
    stale = time.time() - runs.HEARTBEAT_TIMEOUT_S - 10
    run = make_run(tmp_path, "run", state="running", pid=os.getpid(), updated_at=stale)
    assert runs.read_status(run)["state"] == "interrupted"


def test_finished_states_are_reported_as_written(tmp_path):
    for state in ("completed", "stopped", "failed"):
        run = make_run(tmp_path, state, state=state, pid=dead_pid(), updated_at=0)
        assert runs.read_status(run)["state"] == state


def test_write_status_merges_fields_and_stamps_the_heartbeat(tmp_path):
    before = time.time()
    runs.write_status(tmp_path, state="running", step=3)
    status = runs.write_status(tmp_path, step=4)
    assert status["state"] == "running" and status["step"] == 4
    assert status["updated_at"] >= before
    assert json.loads((tmp_path / "status.json").read_text()) == status


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "..", ".", "/etc", "a/b", "a\\b", "", ".hidden",
                                  "-dash-first", "x" * 81, "name with space", "tab\there",
                                  "new\nline", None, 7, "春天 夏天", "-春天", "春天/..", "春" * 81,
                                  "春天?", "a:b", "名字\x00"])
def test_unsafe_run_names_are_refused(name):
    with pytest.raises(TextgenError, match="run name"):
        runs.check_run_name(name)


@pytest.mark.parametrize("name", ["a", "gru-sample-20261128-101500", "Run_2.v3", "x" * 80,
                                  "春天", "gru-春天-20261130-101500", "Привет_мир", "हिन्दी-1",
                                  "春" * 80])
def test_safe_run_names_are_accepted(name):
    assert runs.check_run_name(name) == name


def test_a_run_name_in_chinese_keeps_its_letters(tmp_path):
    name = runs.new_run_name("gru-春天", tmp_path)
    assert name.startswith("gru-春天-") and runs.check_run_name(name) == name
    assert runs.new_run_name("lstm-Привет, мир!", tmp_path).startswith("lstm-Привет-мир-")
    path = runs.run_path("春天的故事", tmp_path)
    assert path.parent == tmp_path and path.name == "春天的故事"


def test_run_path_stays_under_the_root(tmp_path):
    root = tmp_path / "runs"
    path = runs.run_path("my-run", root)
    assert path.parent == root and path.name == "my-run"
    assert path.resolve().is_relative_to(root.resolve())
    for bad in ("../escape", "/etc", "a/../../b"):
        with pytest.raises(TextgenError):
            runs.run_path(bad, root)


def test_runs_root_follows_textgen_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_HOME", str(tmp_path))
    assert runs.runs_root() == tmp_path / "runs"
    assert runs.runs_root(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_new_run_names_are_unique_and_safe(tmp_path):
    names = []
    for _ in range(4):
        name = runs.new_run_name("gru my corpus/../../etc", tmp_path)
        assert runs.check_run_name(name) == name
        assert name not in names
        (tmp_path / name).mkdir()
        names.append(name)
    assert all(n.startswith("gru-my-corpus") for n in names)
    assert runs.check_run_name(runs.new_run_name("///", tmp_path))
    assert len(runs.new_run_name("p" * 500, tmp_path)) <= 80


# --- listing, deleting, restoring, zipping -------------------------------------------------


def test_list_runs_shows_state_and_best_loss(tmp_path):
    make_run(tmp_path, "older", started_at=100.0)
    make_run(tmp_path, "newer", started_at=200.0, best_val_loss=0.5)
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / ".trash").mkdir()
    rows = runs.list_runs(tmp_path)
    assert [r["name"] for r in rows] == ["newer", "older"]
    assert rows[0]["state"] == "completed" and rows[0]["best_val_loss"] == 0.5
    assert rows[0]["best_val_bpc"] == pytest.approx(0.5 / 0.6931471805599453)
    assert rows[0]["has_model"] and rows[0]["arch"] == "gru"
    assert runs.list_runs(tmp_path / "missing") == []


def test_delete_moves_to_the_trash_and_restore_brings_it_back(tmp_path):
    run = make_run(tmp_path, "keep.me", state="completed")
    files = {p.name: p.read_bytes() for p in run.iterdir()}
    trashed = runs.delete_run(run)
    assert not run.exists() and trashed.exists()
    assert trashed.parent == tmp_path / ".trash"
    assert [r["name"] for r in runs.list_runs(tmp_path)] == []
    restored = runs.restore_run(trashed)
    assert restored == run and not trashed.exists()
    assert {p.name: p.read_bytes() for p in run.iterdir()} == files


def test_restore_refuses_to_overwrite_a_new_run_of_the_same_name(tmp_path):
    trashed = runs.delete_run(make_run(tmp_path, "twice"))
    make_run(tmp_path, "twice")
    with pytest.raises(TextgenError):
        runs.restore_run(trashed)
    assert trashed.exists()


def test_delete_refuses_an_active_run(tmp_path):
    for state in ("running", "queued"):
        run = make_run(tmp_path, state, state=state, pid=os.getpid())
        with pytest.raises(TextgenError, match="still training"):
            runs.delete_run(run)
        assert run.exists()


def test_zip_holds_the_run_under_its_name_without_the_checkpoint(tmp_path):
    run = make_run(tmp_path, "zip-me")
    (run / "checkpoint").mkdir()
    (run / "checkpoint" / "state.npz").write_bytes(b"big")
    (run / ".model.123.tmp.keras").write_bytes(b"half written")
    (run / "samples.jsonl").write_text('{"step": 1, "text": "hi"}\n')
    data = archive.zip_run(run)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert names == {"zip-me/config.json", "zip-me/model.keras", "zip-me/tokenizer.json",
                         "zip-me/metrics.jsonl", "zip-me/status.json", "zip-me/samples.jsonl"}
        assert zf.read("zip-me/model.keras") == b"weights"
        assert zf.testzip() is None


# --- atomic writes -------------------------------------------------------------------------


def test_atomic_write_json_keeps_the_old_file_when_encoding_fails(tmp_path):
    path = tmp_path / "status.json"
    files.atomic_write_json(path, {"state": "completed"})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        files.atomic_write_json(path, {"state": "running", "bad": object()})
    with pytest.raises(ValueError):
        files.atomic_write_json(path, _circular())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def _circular():
    d = {}
    d["self"] = d
    return d


def test_atomic_write_bytes_replaces_in_one_step_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "file.json"
    files.atomic_write_bytes(path, b"one")
    files.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]
    assert files.read_json(path) is None  # not JSON: read_json falls back to the default
    assert files.read_json(tmp_path / "missing.json", {"x": 1}) == {"x": 1}


# --- jobs ----------------------------------------------------------------------------------


def test_train_command_builds_the_flags():
    cmd = jobs.train_command(["a.txt", "builtin:sample"], Path("/r/run"),
                             {"preset": "quick", "seq_len": 64, "learning_rate": 0.002,
                              "resume": True, "init_from": None, "time_budget": None,
                              "dropout": 0.0, "epochs": 0, "flag_off": False})
    assert cmd[:5] == [sys.executable, "-m", "textgen", "train", "a.txt"]
    assert cmd[5:8] == ["builtin:sample", "--out", "/r/run"]
    rest = cmd[8:]
    assert rest == ["--preset", "quick", "--seq-len", "64", "--learning-rate", "0.002",
                    "--resume", "--dropout", "0.0", "--epochs", "0"]
    assert "--init-from" not in cmd and "--time-budget" not in cmd and "--flag-off" not in cmd


def test_the_train_command_parses_with_the_cli():
    from textgen.cli import build_parser
    cmd = jobs.train_command(["c.txt"], Path("out"), {"arch": "lstm", "units": 32,
                                                       "resume": True, "time_budget": 30.0})
    args = build_parser().parse_args(cmd[3:])
    assert args.corpus == ["c.txt"] and args.out == "out" and args.arch == "lstm"
    assert args.units == 32 and args.resume is True and args.time_budget == 30.0


def test_max_jobs_reads_the_environment(monkeypatch):
    monkeypatch.delenv("TEXTGEN_MAX_JOBS", raising=False)
    assert jobs.max_jobs() == 1
    for value, expected in (("3", 3), ("0", 1), ("-2", 1), ("many", 1)):
        monkeypatch.setenv("TEXTGEN_MAX_JOBS", value)
        assert jobs.max_jobs() == expected


def test_without_a_queue_dir_a_slot_is_free_at_once(monkeypatch):
    monkeypatch.delenv(jobs.QUEUE_ENV, raising=False)
    with jobs.training_slot(should_stop=lambda: True) as acquired:
        assert acquired is True


@pytest.fixture
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv(jobs.QUEUE_ENV, str(tmp_path / "queue"))
    monkeypatch.setenv("TEXTGEN_MAX_JOBS", "1")
    return tmp_path / "queue"


def hold_slot(holding: threading.Event, release: threading.Event, results: dict):
    deadline = time.monotonic() + 20  # never hang the test run
    with jobs.training_slot(should_stop=lambda: time.monotonic() > deadline,
                            poll_s=0.01) as acquired:
        results["first"] = acquired
        holding.set()
        release.wait(10)
        results["first_released_at"] = time.monotonic()


def test_a_second_job_waits_for_the_slot(queue):
    holding, release, waiting, results = threading.Event(), threading.Event(), threading.Event(), {}
    first = threading.Thread(target=hold_slot, args=(holding, release, results))
    first.start()
    assert holding.wait(10)

    def second_job():
        deadline = time.monotonic() + 20  # never hang the test run
        with jobs.training_slot(should_stop=lambda: time.monotonic() > deadline,
                                on_wait=waiting.set, poll_s=0.01) as acquired:
            results["second"] = acquired
            results["second_got_at"] = time.monotonic()

    second = threading.Thread(target=second_job)
    second.start()
    try:
        assert waiting.wait(10), "the second job never reported that it waits"
        time.sleep(0.2)
        assert "second" not in results  # still waiting while the first holds the slot
    finally:
        release.set()
        first.join(10)
        second.join(10)
    assert results["first"] is True and results["second"] is True
    assert results["second_got_at"] >= results["first_released_at"]
    assert (queue / "slot-0.lock").exists()


def test_two_slots_let_two_jobs_run_together(queue, monkeypatch):
    monkeypatch.setenv("TEXTGEN_MAX_JOBS", "2")
    holding, release, results = threading.Event(), threading.Event(), {}
    first = threading.Thread(target=hold_slot, args=(holding, release, results))
    first.start()
    try:
        assert holding.wait(10)
        deadline = time.monotonic() + 2
        with jobs.training_slot(should_stop=lambda: time.monotonic() > deadline,
                                poll_s=0.01) as acquired:
            assert acquired is True  # the second slot is free while the first is held
    finally:
        release.set()
        first.join(10)


def test_should_stop_makes_a_waiting_job_give_up(queue):
    holding, release, results = threading.Event(), threading.Event(), {}
    first = threading.Thread(target=hold_slot, args=(holding, release, results))
    first.start()
    try:
        assert holding.wait(10)
        asked = []
        began = time.monotonic()
        with jobs.training_slot(should_stop=lambda: len(asked) > 3 or asked.append(1),
                                poll_s=0.01) as acquired:
            assert acquired is False
        assert time.monotonic() - began < 5
    finally:
        release.set()
        first.join(10)
    # Once the holder is gone the slot is free again.
    with jobs.training_slot(poll_s=0.01) as acquired:
        assert acquired is True


# --- run titles -------------------------------------------------------------------------


def test_a_title_is_one_trimmed_line_of_any_script():
    assert runs.check_title("  Team notes 团队笔记 ") == "Team notes 团队笔记"
    assert runs.check_title("   ") is None and runs.check_title(None) is None
    for bad in ("two\nlines", "tab\tinside", "x" * (runs.MAX_TITLE_CHARS + 1), 42):
        with pytest.raises(TextgenError):
            runs.check_title(bad)


def test_a_title_is_changed_by_rewriting_config_json_and_only_when_the_run_is_not_active(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    files.atomic_write_json(run_dir / "config.json", {"arch": "gru", "seed": 3})
    runs.write_status(run_dir, state="completed")
    assert runs.set_title(run_dir, " Team notes ") == "Team notes"
    assert files.read_json(run_dir / "config.json") == {"arch": "gru", "seed": 3, "title": "Team notes"}
    assert runs.run_summary(run_dir)["title"] == "Team notes"
    runs.set_title(run_dir, "")
    assert "title" not in files.read_json(run_dir / "config.json") and runs.run_summary(run_dir)["title"] is None
    runs.write_status(run_dir, state="running", pid=os.getpid())
    with pytest.raises(TextgenError, match="still training"):
        runs.set_title(run_dir, "Changed while training")
    assert "title" not in files.read_json(run_dir / "config.json")
    with pytest.raises(TextgenError, match="no saved settings"):
        (run_dir / "config.json").unlink()
        runs.write_status(run_dir, state="stopped")
        runs.set_title(run_dir, "x")


def test_a_title_starting_with_a_dash_reaches_the_job_as_its_title():
    from textgen.cli import build_parser

    cmd = jobs.train_command(["c.txt"], Path("out"), {"title": "-- draft, 初稿", "units": 32})
    args = build_parser().parse_args(cmd[3:])
    assert args.title == "-- draft, 初稿" and args.units == 32
