"""Reading a run's recorded curves back: incrementally, through rewrites, and the
numbers shown above a live curve."""

from __future__ import annotations

import json
import math

import pytest

from textgen import metrics
from textgen.files import atomic_write_json


def _append(path, *records, end="\n"):
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in records) + end)


def test_a_reader_returns_complete_records_and_later_reads_only_what_was_appended(tmp_path, monkeypatch):
    reads = []
    read_jsonl = metrics.read_jsonl
    monkeypatch.setattr(metrics, "read_jsonl", lambda path, offset=0: reads.append(offset) or read_jsonl(path, offset))
    path = tmp_path / "metrics.jsonl"
    _append(path, {"step": 1}, {"step": 2})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"step": 3')  # still being written
    reader = metrics.RecordsReader()
    assert [r["step"] for r in reader.records(tmp_path)] == [1, 2]
    with open(path, "a", encoding="utf-8") as f:
        f.write("}\n")
    assert [r["step"] for r in reader.records(tmp_path)] == [1, 2, 3]
    assert reads == [0, len('{"step": 1}\n{"step": 2}\n')]
    reader.records(tmp_path)  # nothing new: the file is not read again
    assert len(reads) == 2


def test_a_rewritten_file_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "samples.jsonl"
    _append(path, {"step": 1, "text": "a long first sample"}, {"step": 2, "text": "another one"})
    reader = metrics.RecordsReader()
    assert len(reader.records(tmp_path, metrics.SAMPLES_FILE)) == 2
    path.write_text(json.dumps({"step": 7, "text": "new"}) + "\n", encoding="utf-8")
    assert reader.records(tmp_path, metrics.SAMPLES_FILE) == [{"step": 7, "text": "new"}]


def test_a_run_without_a_metrics_file_has_no_records_and_no_metrics(tmp_path):
    assert metrics.RecordsReader().records(tmp_path) == []
    assert metrics.read_records(tmp_path) == []
    assert not metrics.has_metrics(tmp_path)
    _append(tmp_path / "metrics.jsonl", {"step": 1, "val_loss": 2.0})
    assert metrics.has_metrics(tmp_path)
    assert metrics.read_records(tmp_path) == [{"step": 1, "val_loss": 2.0}]


def test_a_fine_tunes_curve_continues_its_base_runs_records(tmp_path):
    base, tuned, scratch = tmp_path / "base", tmp_path / "tuned", tmp_path / "scratch"
    for folder in (base, tuned, scratch):
        folder.mkdir()
    _append(base / "metrics.jsonl", {"step": 100, "val_loss": 1.5})
    atomic_write_json(tuned / "config.json", {"init_from": str(base)})
    atomic_write_json(scratch / "config.json", {"init_from": None})
    reader = metrics.RecordsReader()
    assert metrics.base_run(tuned) == base
    assert reader.base_records(tuned) == [{"step": 100, "val_loss": 1.5}]
    assert metrics.base_run(scratch) is None and reader.base_records(scratch) is None
    (base / "metrics.jsonl").unlink()
    assert reader.base_records(tuned) is None  # a base without curves


def test_live_figures_take_the_best_loss_from_the_status_or_else_from_the_records():
    records = [{"step": 10, "train_loss": 2.0, "val_loss": 1.9, "chars_per_sec": 900.0},
               {"step": 20, "train_loss": 1.5, "val_loss": 1.6},
               {"step": 30, "train_loss": float("nan")}]
    status = {"state": "running", "step": 31, "started_at": 1000.0, "device": "CPU"}
    figures = metrics.live_figures(status, records, now=1060.0)
    assert figures == {"step": 31, "train_loss": None, "best_val_loss": 1.6, "chars_per_sec": 900.0,
                       "elapsed_s": 60.0}
    assert metrics.live_figures(dict(status, best_val_loss=1.55), records, now=1060.0)["best_val_loss"] == 1.55
    assert metrics.live_figures({}, [], now=5.0) == {"step": 0, "train_loss": None, "best_val_loss": None,
                                                     "chars_per_sec": None, "elapsed_s": None}


@pytest.mark.parametrize("state, elapsed", [("queued", None), ("running", 50.0), ("completed", 20.0)])
def test_a_queued_run_has_no_training_time_and_a_finished_one_its_whole_time(state, elapsed):
    status = {"state": state, "started_at": 100.0, "updated_at": 120.0}
    found = metrics.live_figures(status, [{"step": 3, "train_loss": 2.5}], now=150.0)["elapsed_s"]
    assert found == elapsed or (found is not None and math.isclose(found, elapsed))


def test_the_training_time_so_far_leaves_out_the_seconds_paused_the_current_pause_too():
    status = {"state": "running", "started_at": 1000.0, "paused_s": 45.0}
    assert metrics.live_figures(status, [], now=1120.0)["elapsed_s"] == 75.0  # 120 s, 45 of them paused
    paused = dict(status, state="paused", paused_at=1100.0)
    assert metrics.live_figures(paused, [], now=1120.0)["elapsed_s"] == 55.0
    assert metrics.live_figures(paused, [], now=1500.0)["elapsed_s"] == 55.0  # it stands still
    killed = dict(paused, state="interrupted", updated_at=1130.0)
    assert metrics.live_figures(killed, [], now=2000.0)["elapsed_s"] == 55.0


def test_the_kept_sample_counts_only_while_it_is_the_last_record_and_is_never_a_live_one():
    early = {"step": 10, "text": "a"}
    kept_then = {"step": 8, "text": "k", "temperature": 0.8, "seed": 10, "kept": True}
    later = {"step": 20, "text": "b", "temperature": 0.8, "seed": 20}
    kept_now = {"step": 18, "text": "K", "temperature": 0.8, "seed": 20, "kept": True}
    assert metrics.live_samples([early, kept_then, later, kept_now]) == [early, later]
    assert metrics.kept_sample([early, kept_then, later, kept_now]) == kept_now
    assert metrics.kept_sample([early, kept_then, later]) is None  # it trained on after that one
    assert metrics.kept_sample([]) is None
    assert metrics.sample_settings(early) == (0.8, 10)  # written before records said how
    assert metrics.sample_settings(kept_now) == (0.8, 20)


def test_each_sample_is_shown_with_the_last_held_out_loss_measured_at_or_before_its_step():
    samples = [{"step": 5, "time": 1.0, "text": "xq zv"},  # before any score
               {"step": 20, "time": 4.5, "text": "the hae"},  # exactly at a score
               {"step": 35, "time": 7.25, "text": "the head"},  # between scores: the earlier one
               {"step": 20, "time": 8.0, "text": "The heart", "kept": True}]
    records = [{"step": 10, "train_loss": 3.0, "val_loss": 3.1},
               {"step": 20, "train_loss": 2.0, "val_loss": 2.2},
               {"step": 30, "train_loss": 1.8},  # no held-out score at this step
               {"step": 32, "train_loss": 1.7, "val_loss": float("nan")},  # not a score
               {"step": 40, "train_loss": 1.5, "val_loss": 1.9}]  # after the last live sample
    timeline = metrics.learning_timeline(samples, records)
    assert [(s["step"], s["text"], s["kept"]) for s in timeline] == [
        (5, "xq zv", False), (20, "the hae", False), (35, "the head", False), (20, "The heart", True)]
    assert [(s["val_loss"], s["val_step"]) for s in timeline] == [(None, None), (2.2, 20), (2.2, 20), (2.2, 20)]
    assert [s["time"] for s in timeline] == [1.0, 4.5, 7.25, 8.0]


def test_a_kept_sample_from_an_earlier_session_is_not_shown_and_a_run_without_samples_has_none():
    samples = [{"step": 10, "text": "a"}, {"step": 8, "text": "k", "kept": True}, {"step": 20, "text": "b"},
               {"step": 30}]  # a record without its text is left out
    timeline = metrics.learning_timeline(samples, [])
    assert [(s["step"], s["kept"], s["val_loss"], s["time"]) for s in timeline] == [
        (10, False, None, None), (20, False, None, None)]
    assert metrics.learning_timeline([], [{"step": 1, "val_loss": 2.0}]) == []
