"""Training end to end on tiny models: it learns, it resumes, it fine-tunes, it stops."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from textgen import runs
from textgen.config import resolve_config
from textgen.errors import TextgenError
from textgen.training import train, RunMonitor, learning_rate_at, RandomWindows

PATTERN = "the cat sat on the mat. a dog ran to the log. "
TINY = dict(layers=1, units=32, embedding_dim=16, seq_len=16, batch_size=16, dropout=0.0,
            learning_rate=1e-2, seed=3)


@pytest.fixture
def pattern_corpus(tmp_path):
    path = tmp_path / "pattern.txt"
    path.write_text(PATTERN * 120, encoding="utf-8")
    return path


def tiny_config(**overrides):
    return resolve_config("quick", **{**TINY, "time_budget": 0, "epochs": 3,
                                      "eval_every_s": 1.0, "sample_every_s": 1.0, **overrides})


def metrics(run_dir):
    return runs.read_jsonl(Path(run_dir) / "metrics.jsonl")[0]


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_a_tiny_model_learns_a_pattern(tmp_path, pattern_corpus, arch):
    config = tiny_config(arch=arch, epochs=6, units=32 if arch != "transformer" else 32)
    status = train([str(pattern_corpus)], tmp_path / "run", config, log=lambda m: None)
    assert status["state"] == "completed"
    vocab = len(set(PATTERN))
    # Uniform guessing costs ln(vocab) nats per character; the pattern is nearly certain.
    assert status["best_val_loss"] < 0.25 * math.log(vocab)
    records = metrics(tmp_path / "run")
    assert records and all("train_loss" in r and "step" in r for r in records)
    assert any("val_loss" in r for r in records)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["corpus"]["sha256"] and saved["vocab_size"] == vocab and saved["arch"] == arch
    assert (tmp_path / "run" / "model.keras").exists()
    assert (tmp_path / "run" / "tokenizer.json").exists()


def test_resume_continues_without_repeating_steps(tmp_path, pattern_corpus):
    run = tmp_path / "run"
    first = train([str(pattern_corpus)], run, tiny_config(epochs=2), log=lambda m: None)
    steps_before = first["step"]
    second = train([], run, tiny_config(epochs=4), explicit={"epochs": 4}, resume=True,
                   log=lambda m: None)
    assert second["step"] > steps_before
    steps = [r["step"] for r in metrics(run) if "val_loss" not in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    times = [r["time"] for r in metrics(run)]
    assert times == sorted(times)  # the clock continues across the resume


def test_a_finished_run_is_never_overwritten(tmp_path, pattern_corpus):
    run = tmp_path / "run"
    train([str(pattern_corpus)], run, tiny_config(epochs=1), log=lambda m: None)
    before = (run / "model.keras").read_bytes()
    with pytest.raises(TextgenError, match="--resume"):
        train([str(pattern_corpus)], run, tiny_config(epochs=1), log=lambda m: None)
    assert (run / "model.keras").read_bytes() == before


def test_init_from_extends_the_vocabulary_and_keeps_known_rows(tmp_path, pattern_corpus):
    import textgen
    base = tmp_path / "base"
    train([str(pattern_corpus)], base, tiny_config(epochs=2), log=lambda m: None)
    new_text = tmp_path / "new.txt"
    new_text.write_text(("the cat sat on the mat. ZEBRA! " * 100), encoding="utf-8")
    tuned = tmp_path / "tuned"
    status = train([str(new_text)], tuned, tiny_config(epochs=1, init_from=str(base), freeze_layers=1),
                   explicit={"init_from": str(base)}, log=lambda m: None)
    assert status["state"] == "completed"
    config = json.loads((tuned / "config.json").read_text())
    assert config["init_from"] == str(base.resolve())
    assert config["learning_rate"] == pytest.approx(TINY["learning_rate"] * 0.3)
    base_run, tuned_run = textgen.load_run(base), textgen.load_run(tuned)
    old, new = base_run.tokenizer, tuned_run.tokenizer
    assert new.tokens[: old.vocab_size] == old.tokens and "Z" in new.tokens
    # Frozen embedding: rows of known characters are exactly the base model's.
    base_emb = base_run.model.get_layer("embedding").get_weights()[0]
    tuned_emb = tuned_run.model.get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(tuned_emb[: old.vocab_size], base_emb)


def test_fine_tune_refuses_a_different_shape(tmp_path, pattern_corpus):
    base = tmp_path / "base"
    train([str(pattern_corpus)], base, tiny_config(epochs=1), log=lambda m: None)
    with pytest.raises(TextgenError, match="shape"):
        train([str(pattern_corpus)], tmp_path / "x", tiny_config(init_from=str(base), units=64),
              explicit={"init_from": str(base), "units": 64}, log=lambda m: None)
    assert not (tmp_path / "x" / "config.json").exists()


def test_same_seed_same_losses(tmp_path, pattern_corpus):
    a = train([str(pattern_corpus)], tmp_path / "a", tiny_config(epochs=1), log=lambda m: None)
    b = train([str(pattern_corpus)], tmp_path / "b", tiny_config(epochs=1), log=lambda m: None)
    assert a["step"] == b["step"]
    # Scores happen on a clock, but the weights follow the seed alone.
    with np.load(tmp_path / "a" / "checkpoint" / "state.npz") as wa, \
            np.load(tmp_path / "b" / "checkpoint" / "state.npz") as wb:
        for key in wa.files:
            np.testing.assert_allclose(wa[key], wb[key], rtol=1e-5, atol=1e-6)


def test_stop_file_stops_cleanly_and_keeps_the_model(tmp_path, pattern_corpus):
    run = tmp_path / "run"
    run.mkdir()
    (run / "STOP").touch()
    status = train([str(pattern_corpus)], run, tiny_config(epochs=50), log=lambda m: None)
    assert status["state"] == "stopped"
    assert (run / "model.keras").exists()  # the final score still saves a model


def test_time_budget_ends_training(tmp_path, pattern_corpus):
    import time
    began = time.time()
    status = train([str(pattern_corpus)], tmp_path / "run", tiny_config(epochs=10_000, time_budget=12),
                   started=began, log=lambda m: None)
    assert status["state"] == "completed" and "time budget" in status["message"]
    assert time.time() - began < 25


def test_nan_loss_stops_the_run_and_says_why(tmp_path):
    class FakeOptimizer:
        learning_rate = None

    class FakeModel:
        stop_training = False
        optimizer = FakeOptimizer()

    config = tiny_config()
    state = {"step": 0, "total_steps": 10, "train_tokens": 100}
    monitor = RunMonitor(tmp_path, config, state, None, None, 1, None, 0, 0, 1.0)
    monitor.set_model(FakeModel())
    monitor.on_train_batch_end(0, {"loss": float("nan")})
    assert monitor.model.stop_training
    assert monitor.stop_reason[0] == "failed" and "learning rate" in monitor.stop_reason[1]


def test_learning_rate_warms_up_then_decays():
    config = resolve_config("balanced", learning_rate=1e-3)
    rates = [learning_rate_at(config, s, 1000, 0) for s in (0, 25, 49, 500, 999)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert rates[3] < rates[2] and rates[4] == pytest.approx(1e-4, rel=0.01)


def test_windows_are_gathered_not_materialised():
    ids = np.arange(1000, dtype=np.int32)
    data = RandomWindows(ids, seq_len=8, batch_size=4, seed=1)
    x, y = data[0]
    assert x.shape == (4, 8) and np.array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(data[5][0], RandomWindows(ids, 8, 4, seed=1, first_step=5)[0][0])
