"""Runs as tables show them: the Runs table and the ranked comparison."""

from __future__ import annotations

from datetime import datetime

from textgen import comparison

RUNS = [
    {"name": "new", "state": "running", "preset": "quick", "arch": "transformer", "tokenizer": "bpe",
     "corpus": "tales.txt", "parameters": 1000, "best_val_bpc": None, "duration_s": None,
     "init_from": "/home/runs/base-run", "started_at": 1_700_000_000.0, "step": 5},
    {"name": "old", "state": "completed", "preset": "balanced", "arch": "gru", "tokenizer": "char",
     "corpus": "built-in sample", "parameters": 2000, "best_val_bpc": 2.5, "duration_s": 75.0,
     "init_from": None, "started_at": None, "step": 900},
]


def _shout(text, **params):
    return text.format(**params).upper()


def test_the_runs_table_keeps_the_order_given_and_writes_values_as_people_read_them():
    rows = comparison.runs_table_rows(RUNS)
    assert [r["Run"] for r in rows] == ["new", "old"]
    assert list(rows[0]) == ["Run", "Title", "State", "Preset", "Architecture", "Tokenizer", "Corpus", "Parameters",
                             "Best bits/char", "Duration", "Fine-tuned from", "Started"]
    assert rows[0]["State"] == "running" and rows[0]["Architecture"] == "Transformer"
    assert rows[0]["Tokenizer"] == "subword" and rows[0]["Fine-tuned from"] == "base-run"
    assert rows[0]["Started"] == datetime.fromtimestamp(1_700_000_000.0) and rows[1]["Started"] is None
    assert rows[1]["Architecture"] == "GRU" and rows[1]["Duration"] == "1 min 15 s"
    assert rows[1]["Best bits/char"] == 2.5 and rows[0]["Duration"] is None


def test_the_runs_table_writes_states_presets_and_durations_in_the_interface_language():
    rows = comparison.runs_table_rows(RUNS, _shout, state_name=lambda run: f"<{run['state']}>")
    assert [r["State"] for r in rows] == ["<running>", "<completed>"]
    assert [r["Preset"] for r in rows] == ["QUICK", "BALANCED"]
    assert [r["Tokenizer"] for r in rows] == ["SUBWORD", "CHAR"]
    assert rows[1]["Duration"] == "1 MIN 15 S"
    assert rows[1]["Corpus"] == "BUILT-IN SAMPLE" and rows[0]["Corpus"] == "tales.txt"  # file names as they are


def test_ranked_rows_write_tokenizers_and_durations_in_the_interface_language():
    rows = comparison.comparison_rows(RUNS, _shout)
    assert [r["Run"] for r in rows] == ["old", "new"]
    assert rows[0]["Tokenizer"] == "CHAR" and rows[0]["Duration"] == "1 MIN 15 S"
    assert rows[1]["Tokenizer"] == "SUBWORD" and rows[1]["Steps"] == 5


def test_values_outside_the_known_presets_and_tokenizers_are_shown_as_they_are():
    assert comparison.value_name("bpe") == "subword"
    assert comparison.value_name("mystery") == "mystery" and comparison.value_name(None) is None
    assert comparison.architecture_name("lstm") == "LSTM" and comparison.architecture_name(None) is None
