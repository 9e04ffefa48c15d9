"""AppTest: Train and Runs say when a held-out part holds much its training part lacks."""

import json
import os
import time

from textgen import files, runs
from textgen.corpus import builtin_text, split_text
from textgen.heldout import held_out_novelty

LACKS = "holds much that the training part lacks"


def chinese_tail_corpus(path):
    english = "The keeper climbs the stairs and lights the lamp at dusk. " * 40
    path.write_text(english + "\n\n" + builtin_text("sample-zh")[:400], encoding="utf-8")
    return path


def finished_run(home, name, text):
    """A finished run folder whose config.json records its held-out part, as training writes it."""
    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {
        "preset": "quick", "arch": "gru", "tokenizer": "char", "parameters": 1234,
        "corpus": {"name": "tail.txt"}, "held_out": {"novelty": held_out_novelty(*split_text(text, 0.1))}})
    runs.write_status(run_dir, state="completed", pid=os.getpid(), started_at=time.time() - 10,
                      best_val_loss=3.0)
    metrics = [{"step": 10, "time": 1.0, "train_loss": 3.0, "val_loss": 4.0},
               {"step": 20, "time": 2.0, "train_loss": 2.0, "val_loss": 3.9}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return run_dir


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


def test_train_warns_before_starting_when_the_held_out_part_is_unlike_the_rest(open_page, tmp_path):
    corpus = chinese_tail_corpus(tmp_path / "english-then-chinese.txt")
    at = open_page("train", session_state={"corpus_spec": [str(corpus)], "corpus_name": corpus.name})
    (warning,) = [w for w in warnings(at) if LACKS in w]
    assert "Chinese characters make up" in warning
    assert not any(b.disabled for b in at.button if b.label == "Start training")  # said, not refused


def test_train_says_nothing_of_the_kind_for_the_sample(open_page):
    at = open_page("train")
    assert not [w for w in warnings(at) if LACKS in w]


def test_the_warning_is_translated(open_page, tmp_path):
    corpus = chinese_tail_corpus(tmp_path / "english-then-chinese.txt")
    at = open_page("train", session_state={"corpus_spec": [str(corpus)], "corpus_name": corpus.name,
                                           "lang": "zh"})
    assert any("留出部分" in w and "汉字占其" in w for w in warnings(at)), warnings(at)


def test_the_note_stands_under_the_runs_curves_on_train_and_runs(open_page, app_home, tmp_path):
    text = chinese_tail_corpus(tmp_path / "tail.txt").read_text(encoding="utf-8")
    finished_run(app_home, "tail-run", text)
    finished_run(app_home, "sample-run", builtin_text("sample"))
    at = open_page("train", session_state={"selected_run": "tail-run"})
    assert len([w for w in warnings(at) if LACKS in w]) == 1
    at = open_page("train", session_state={"selected_run": "sample-run"})
    assert not [w for w in warnings(at) if LACKS in w]
    at = open_page("runs")
    notes = [w for w in warnings(at) if LACKS in w]
    assert len(notes) == 1 and notes[0].startswith("tail-run: ")


SCORED_PART = "Scored on the first 50,000 of its 111,540 held-out characters"


def test_a_held_out_loss_read_on_the_start_of_a_long_held_out_part_says_so(open_page, app_home):
    long_run = finished_run(app_home, "long-run", builtin_text("sample"))
    config = files.read_json(long_run / "config.json", {})
    config["held_out"]["chars"], config["eval_max_chars"] = 111_540, 50_000
    files.atomic_write_json(long_run / "config.json", config)
    whole_run = finished_run(app_home, "whole-run", builtin_text("sample"))
    config = files.read_json(whole_run / "config.json", {})
    config["held_out"]["chars"], config["eval_max_chars"] = 20_000, 50_000
    files.atomic_write_json(whole_run / "config.json", config)

    at = open_page("train", session_state={"selected_run": "long-run"})
    (summary,) = [s.value for s in at.success if "Best held-out loss 3.000" in s.value]
    assert SCORED_PART + ", which keeps scoring quick; python -m textgen evaluate scores all of them" in summary
    (metric,) = [m for m in at.metric if m.label == "Best held-out loss"]
    assert SCORED_PART in metric.proto.help
    at = open_page("train", session_state={"selected_run": "whole-run"})
    assert not [s for s in at.success if "Scored on the first" in s.value]
    (metric,) = [m for m in at.metric if m.label == "Best held-out loss"]
    assert metric.proto.help == "Measured on text the model never trains on; lower is better."
