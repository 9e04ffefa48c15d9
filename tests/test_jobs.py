"""What a training job left behind: why it failed, and resuming it on its own corpus."""

from __future__ import annotations

import pytest

from textgen import jobs
from textgen.errors import TextgenError
from textgen.files import atomic_write_json


def test_the_last_error_line_of_a_log_says_why_a_job_failed():
    log = ("Loading the corpus...\nerror: The corpus is empty.\nRetrying\n"
           "error:  The sequence length must be a whole number from 4 to 4096; got 2. \nbye\n")
    assert jobs.log_error(log) == "The sequence length must be a whole number from 4 to 4096; got 2."


def test_a_log_without_an_error_line_gives_no_reason():
    assert jobs.log_error("") is None
    assert jobs.log_error("Traceback (most recent call last):\n  an error: deep inside\n") is None


def test_a_missing_log_reads_as_empty_and_a_stray_byte_as_a_replacement_character(tmp_path):
    assert jobs.training_log(tmp_path) == ""
    (tmp_path / "train.log").write_bytes(b"step 1\nerror: bad \xff byte\n")
    assert jobs.training_log(tmp_path) == "step 1\nerror: bad \ufffd byte\n"
    assert jobs.log_error(jobs.training_log(tmp_path)) == "bad \ufffd byte"


def test_resuming_a_run_that_does_not_record_its_corpus_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "start_training", lambda *args: pytest.fail("must not start"))
    with pytest.raises(TextgenError, match="does not record its corpus"):
        jobs.resume_training(tmp_path)
    atomic_write_json(tmp_path / "config.json", {"corpus": {"name": "x", "sources": []}})
    with pytest.raises(TextgenError, match="does not record its corpus"):
        jobs.resume_training(tmp_path)


def test_resuming_a_run_starts_it_again_on_its_recorded_corpus(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "start_training", lambda *args: calls.append(args) or 1234)
    atomic_write_json(tmp_path / "config.json", {"corpus": {"name": "x", "sources": ["a.txt", "builtin:sample"]}})
    assert jobs.resume_training(str(tmp_path)) == 1234
    assert calls == [(["a.txt", "builtin:sample"], tmp_path, {"resume": True})]
