"""Training end to end on tiny models: it learns, it resumes, it fine-tunes, it stops."""

import json
import math
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from textgen import callbacks, files, runs
from textgen.config import resolve_config
from textgen.errors import TextgenError
from textgen.callbacks import DivergenceWatch, RunMonitor, TrainingState, eta_seconds, learning_rate_at
from textgen.i18n import translate_error
from textgen.training import train, RandomWindows, total_steps_for

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
    return files.read_jsonl(Path(run_dir) / "metrics.jsonl")[0]


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_a_tiny_model_learns_a_pattern(tmp_path, pattern_corpus, arch):
    config = tiny_config(arch=arch, epochs=6)
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


def test_the_last_line_says_when_the_held_out_loss_read_only_the_start_of_the_held_out_part(tmp_path,
                                                                                          pattern_corpus):
    said = []
    train([str(pattern_corpus)], tmp_path / "part", tiny_config(epochs=1, eval_max_chars=200), log=said.append)
    held_out = len(PATTERN * 120) - int(len(PATTERN * 120) * 0.9)
    assert said[-1].endswith(f"nats per character. Scored on the first 200 of its {held_out:,} held-out characters, "
                             "which keeps scoring quick; python -m textgen evaluate scores all of them, and the "
                             "end of a text may score differently.")
    said.clear()
    train([str(pattern_corpus)], tmp_path / "whole", tiny_config(epochs=1), log=said.append)
    assert said[-1].endswith("nats per character.")


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


def samples(run_dir):
    return files.read_jsonl(Path(run_dir) / "samples.jsonl")[0]


def test_training_ends_with_a_sample_of_the_kept_model_at_the_last_live_samples_settings(tmp_path,
                                                                                          pattern_corpus):
    import textgen
    from textgen import metrics as run_metrics

    run = tmp_path / "run"
    status = train([str(pattern_corpus)], run, tiny_config(epochs=30, sample_every_s=0.3, eval_every_s=0.5,
                                                           sample_length=60), log=lambda m: None)
    assert status["state"] == "completed"
    records = samples(run)
    live, kept = records[:-1], records[-1]
    assert live and not any(r.get("kept") for r in live)
    # Every record says how it was written; a live sample's seed is its step.
    assert all(r["temperature"] == 0.8 and isinstance(r["time"], float) for r in records)
    assert all(r["seed"] == r["step"] for r in live)
    assert kept["kept"] is True and kept["step"] == status["best_step"] <= status["step"]
    assert kept["seed"] == live[-1]["seed"] and kept["temperature"] == 0.8
    assert run_metrics.kept_sample(records) == kept and run_metrics.live_samples(records) == live
    # It is exactly what Generate writes with the kept model at those settings.
    model = textgen.load_run(run)
    assert model.generate(length=60, temperature=0.8, seed=kept["seed"]) == kept["text"]


def test_a_run_shorter_than_one_sample_interval_still_shows_what_its_kept_model_writes(tmp_path,
                                                                                      pattern_corpus):
    run = tmp_path / "run"
    status = train([str(pattern_corpus)], run, tiny_config(epochs=1, sample_every_s=1e6), log=lambda m: None)
    (kept,) = samples(run)
    assert kept["kept"] is True and kept["step"] == status["best_step"]
    assert kept["seed"] == status["step"] and kept["temperature"] == 0.8 and kept["text"]


def test_a_resumed_run_keeps_its_earlier_samples_and_ends_with_a_new_kept_sample(tmp_path, pattern_corpus):
    from textgen import metrics as run_metrics

    run = tmp_path / "run"
    first = train([str(pattern_corpus)], run, tiny_config(epochs=20, sample_every_s=0.3), log=lambda m: None)
    before = samples(run)
    assert before[-1]["kept"]
    second = train([], run, tiny_config(epochs=40, sample_every_s=0.3), explicit={"epochs": 40}, resume=True,
                   log=lambda m: None)
    after = samples(run)
    assert after[:len(before)] == before  # nothing of the first session was after its checkpoint
    assert [r for r in after if r.get("kept")] == [before[-1], after[-1]]
    assert run_metrics.kept_sample(after)["step"] == second["best_step"]
    live_steps = [r["step"] for r in run_metrics.live_samples(after)]
    assert live_steps == sorted(set(live_steps)) and live_steps[-1] > first["step"]


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
    # 0.3 x its own rate, but no more than fine-tunes were measured at (config.FINE_TUNE_MAX_LR).
    assert config["learning_rate"] == pytest.approx(min(TINY["learning_rate"] * 0.3, 9e-4))
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
    # Kept with its template, so a page in Chinese shows it in Chinese, number and all.
    from textgen.i18n import message_text, translate
    steps = status["message_params"]["steps"]
    assert status["message"] == f"Finished: the time budget ran out after {steps:,} steps."
    shown = message_text(status, lambda text, **params: translate(text, "zh", **params))
    assert shown == f"已完成：训练了 {steps:,} 步后，时间预算用完。"


def test_nan_loss_stops_the_run_and_says_why(tmp_path):
    class FakeOptimizer:
        learning_rate = None

    class FakeModel:
        stop_training = False
        optimizer = FakeOptimizer()

    config = tiny_config()
    state = TrainingState(step=0, total_steps=10, train_tokens=100)
    monitor = RunMonitor(tmp_path, config, state, None, None, None, 0, 0, 1.0)
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
    shape = dict(arch="gru", seq_len=8, batch_size=4)
    data = RandomWindows(ids, shape, seed=1)
    x, y = data[0]
    assert x.shape == (4, 8) and np.array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(data[5][0], RandomWindows(ids, shape, seed=1, first_step=5)[0][0])

    # A million tokens in windows of 64: every window laid out would take 65 x the ids'
    # 4 MB. The dataset keeps the ids themselves and nothing of their size, and a batch
    # costs a batch's worth of memory, read from the ids at random offsets.
    ids = np.arange(1_000_000, dtype=np.int32)
    tracemalloc.start()
    try:
        data = RandomWindows(ids, dict(arch="gru", seq_len=64, batch_size=4), seed=1)
        x, y = data[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < ids.nbytes / 10, peak
    assert data.ids is ids
    held = [v for v in vars(data).values() if isinstance(v, np.ndarray) and v is not ids]
    assert sum(v.nbytes for v in held) < ids.nbytes / 100, [v.shape for v in held]
    # Each row is a stretch of consecutive ids: a window read at an offset, its target one on.
    assert x.shape == (4, 64) and (np.diff(x, axis=1) == 1).all() and (y == x + 1).all()
    assert len(set(x[:, 0])) > 1  # at different offsets


# --- a loss that runs away without becoming NaN ------------------------------------------------

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"


@pytest.fixture
def prose_corpus(tmp_path):
    path = tmp_path / "prose.txt"
    path.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    return path


# Learning rate 1.0 blows each of these up (the LSTM needs a little more width to do so).
BLOWS_UP = {"gru": 64, "lstm": 128, "transformer": 64}


@pytest.mark.parametrize("arch", sorted(BLOWS_UP))
def test_a_run_whose_loss_blows_up_fails_naming_the_learning_rate(tmp_path, prose_corpus, arch):
    run = tmp_path / "run"
    config = tiny_config(arch=arch, units=BLOWS_UP[arch], embedding_dim=32, seq_len=32,
                         learning_rate=1.0, epochs=4, eval_every_s=0.0, sample_every_s=0,
                         checkpoint_every_s=3600)  # a busy machine's 30 s would save one before the rise
    status = train([str(prose_corpus)], run, config, log=lambda m: None)
    assert status["state"] == "failed", status
    message = status["message"]
    assert "the learning rate 1 is too high. Try 0.01 or lower." in message, message
    assert "nats per character" in message
    assert message.endswith("The best checkpoint from before is kept.")
    assert runs.read_status(run)["state"] == "failed"
    assert status["step"] < status["total_steps"]  # it stopped as soon as it was sure
    # The kept model is the one from before the rise: about as good as a uniform guess or better.
    vocab = json.loads((run / "config.json").read_text())["vocab_size"]
    assert status["best_val_loss"] < math.log(vocab) + 1.0
    assert not (run / "checkpoint").exists()  # no resume checkpoint of the blown-up weights
    assert not [r for r in samples(run) if r.get("kept")]  # a diverged run ends with no kept sample
    steps = [r["step"] for r in metrics(run)]
    assert steps == sorted(set(steps))


def test_a_run_that_blows_up_before_any_checkpoint_says_there_is_none(tmp_path, prose_corpus):
    config = tiny_config(arch="transformer", units=64, embedding_dim=32, seq_len=32,
                         learning_rate=1.0, epochs=4, eval_every_s=1e6, sample_every_s=0)
    status = train([str(prose_corpus)], tmp_path / "run", config, log=lambda m: None)
    assert status["state"] == "failed"
    assert "No checkpoint was saved before that" in status["message"]
    assert not (tmp_path / "run" / "model.keras").exists()


def watch(losses, vocab=60, tokens_per_step=256):
    """Feed per-token batch losses to a run's divergence watch: the step it trips at."""
    class Tokenizer:
        vocab_size = vocab

    config = tiny_config(batch_size=tokens_per_step // 4, seq_len=4)
    divergence = DivergenceWatch(TrainingState(), ".", config, Tokenizer.vocab_size, 1.0)
    return next((i for i, loss in enumerate(losses) if divergence.diverging(loss)), None)


def test_healthy_noisy_runs_and_fine_tunes_do_not_trip_the_divergence_watch():
    rng = np.random.default_rng(0)
    uniform = math.log(60)
    steps = np.arange(3000)
    # A fresh run on tiny batches (4 tokens a step): the curve falls, each batch is very noisy.
    fresh = (1.5 + (uniform - 1.5) * np.exp(-steps / 300)) * rng.lognormal(0, 0.6, steps.size)
    assert watch(fresh, tokens_per_step=4) is None
    # A fine-tune starts low and wobbles up a little before it settles.
    tune = 1.2 + 0.8 * np.exp(-((steps - 200) / 100.0) ** 2) + rng.normal(0, 0.3, steps.size)
    assert watch(np.abs(tune)) is None
    # A Transformer starts a little above the uniform guess.
    assert watch(uniform + 0.7 - steps / 3000 + rng.normal(0, 0.2, steps.size)) is None


def test_a_loss_that_climbs_past_the_uniform_guess_trips_the_watch_within_a_window():
    uniform = math.log(60)
    climbing = [uniform + 0.3 * i for i in range(200)]
    tripped = watch(climbing)
    assert tripped is not None and tripped < 40
    # A fine-tune that falls apart: it started low, and climbs well past the uniform guess.
    assert watch([1.0] * 50 + [uniform + 3.0] * 50) is not None
    assert watch([1.0, float("nan")]) == 1


def test_a_fine_tune_with_tiny_noisy_batches_completes(tmp_path, pattern_corpus):
    base = tmp_path / "base"
    train([str(pattern_corpus)], base, tiny_config(epochs=2), log=lambda m: None)
    new_text = tmp_path / "new.txt"
    new_text.write_text("the dog sat on the log. a cat ran to the mat. " * 40, encoding="utf-8")
    status = train([str(new_text)], tmp_path / "tuned",
                   tiny_config(init_from=str(base), batch_size=1, seq_len=4, epochs=1),
                   explicit={"init_from": str(base)}, log=lambda m: None)
    assert status["state"] == "completed", status["message"]
    assert status["step"] == status["total_steps"] > 300


# --- steps follow the tokens ---------------------------------------------------------------------


def test_a_tiny_corpus_never_shows_more_epochs_than_the_setting(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(PATTERN * 5, encoding="utf-8")  # 230 characters: less than one step's 256 tokens
    status = train([str(corpus)], tmp_path / "run", tiny_config(epochs=20), log=lambda m: None)
    assert status["state"] == "completed"
    train_tokens = 207  # the first nine tenths of the text
    assert status["total_steps"] == 20 * train_tokens // 256 == 16
    assert 19.0 <= status["epoch"] <= 20.0
    assert max(r["epoch"] for r in metrics(tmp_path / "run")) <= 20.0


def test_total_steps_are_the_epochs_tokens_over_the_tokens_a_step_reads():
    config = tiny_config(epochs=3)  # 16 x 16 = 256 tokens a step
    assert total_steps_for(config, 1000) == 11
    assert total_steps_for(config, 10) == 1  # at least one step
    assert total_steps_for(tiny_config(epochs=1), 256 * 7) == 7


# --- the seed's promise ------------------------------------------------------------------------


def test_seeded_runs_that_finish_within_their_time_budget_end_with_identical_weights(tmp_path,
                                                                                   pattern_corpus):
    import time
    # The same seed and settings; one run started up a minute slower, and scores and samples
    # at other moments. Both finish their epochs well within the budget.
    a = train([str(pattern_corpus)], tmp_path / "a",
              tiny_config(epochs=2, time_budget=600, eval_every_s=0.2, sample_every_s=0),
              started=time.time(), log=lambda m: None)
    b = train([str(pattern_corpus)], tmp_path / "b",
              tiny_config(epochs=2, time_budget=600, eval_every_s=1.0, sample_every_s=0.5),
              started=time.time() - 60, log=lambda m: None)
    assert a["state"] == b["state"] == "completed"
    assert a["step"] == b["step"] == a["total_steps"]
    with np.load(tmp_path / "a" / "checkpoint" / "state.npz") as wa, \
            np.load(tmp_path / "b" / "checkpoint" / "state.npz") as wb:
        assert wa.files == wb.files
        for key in wa.files:
            np.testing.assert_array_equal(wa[key], wb[key])


def test_the_learning_rate_follows_the_clock_only_when_the_budget_runs_ahead_of_the_steps():
    config = resolve_config("balanced", learning_rate=1e-3)
    on_pace = learning_rate_at(config, 500, 1000, time_progress=0.3)
    assert on_pace == learning_rate_at(config, 500, 1000)
    behind = learning_rate_at(config, 500, 1000, time_progress=0.9)
    assert behind < on_pace
    assert learning_rate_at(config, 500, 1000, time_progress=1.0) == pytest.approx(1e-4)
    # A fresh optimizer warms up again from the step it starts at.
    assert learning_rate_at(config, 500, 1000, warmup_from=500) == pytest.approx(on_pace / 50)


# --- a time budget shorter than the start-up -----------------------------------------------------


@pytest.mark.parametrize("budget", [0.001, 1.0])
def test_a_budget_spent_before_training_began_ends_cleanly_with_nothing_trained(tmp_path,
                                                                               pattern_corpus, budget):
    import time
    run = tmp_path / "run"
    status = train([str(pattern_corpus)], run, tiny_config(epochs=5, time_budget=budget),
                   started=time.time() - 2, log=lambda m: None)
    assert status["state"] == "stopped"
    assert status["message"].startswith(f"The time budget of {budget:g} s ran out before training "
                                        "began (start-up took ")
    assert "so nothing was trained" in status["message"]
    assert status["step"] == 0 and status["best_val_loss"] is None
    assert runs.read_status(run)["state"] == "stopped"
    assert not (run / "model.keras").exists() and not (run / "checkpoint").exists()
    assert not metrics(run)
    # What was prepared is kept: the run resumes with more time.
    more = train([], run, tiny_config(), explicit={"time_budget": 0}, resume=True, log=lambda m: None)
    assert more["state"] == "completed" and more["step"] == more["total_steps"]


def test_a_budget_that_runs_out_says_after_how_many_steps(tmp_path, pattern_corpus):
    import time
    status = train([str(pattern_corpus)], tmp_path / "run", tiny_config(epochs=10_000, time_budget=8),
                   started=time.time(), log=lambda m: None)
    assert status["state"] == "completed"
    assert status["message"] == f"Finished: the time budget ran out after {status['step']:,} steps."
    assert status["step"] > 0


# --- the time left, and errors that translate ------------------------------------------------------


def test_the_time_left_is_the_steps_left_at_the_latest_speed_or_the_budget_left_if_sooner():
    state = TrainingState(step=10, total_steps=110, chars_per_sec=1000.0)
    # 100 steps of 64 tokens of 2.5 characters each, at 1,000 characters a second.
    assert eta_seconds(state, 64, 2.5, None) == pytest.approx(16.0)
    assert eta_seconds(state, 64, 2.5, 5.0) == 5.0
    assert eta_seconds(state, 64, 2.5, -3.0) == 0.0  # a budget overrun is no time left, not less
    assert eta_seconds(TrainingState(), 64, 2.5, None) is None  # no speed measured, no budget
    assert eta_seconds(TrainingState(), 64, 2.5, 30.0) == 30.0


def test_resuming_a_folder_without_a_run_is_refused_in_a_sentence_that_translates(tmp_path, pattern_corpus):
    empty = tmp_path / "empty"
    with pytest.raises(TextgenError) as refused:
        train([str(pattern_corpus)], empty, tiny_config(), resume=True, log=lambda m: None)
    assert str(refused.value) == f"There is no run to resume in {empty}."
    assert translate_error(refused.value, "zh") == f"{empty} 里没有可以继续的训练。"
    assert not empty.exists()


def test_time_spent_writing_samples_does_not_count_as_training_time(tmp_path, pattern_corpus, monkeypatch):
    # A sample written at every step, each taking 0.2 s (as compiling the sampler can): were
    # that time counted, no record could show more than 16 x 16 characters / 0.2 s = 1,280 a second.
    monkeypatch.setattr(callbacks.SampleWriter, "write", lambda self: time.sleep(0.2))
    run = tmp_path / "run"
    status = train([str(pattern_corpus)], run, tiny_config(epochs=1, sample_every_s=0.01, eval_every_s=1e6),
                   log=lambda m: None)
    assert status["state"] == "completed" and status["step"] >= 10
    speeds = sorted(r["chars_per_sec"] for r in metrics(run) if r.get("chars_per_sec"))
    assert speeds and speeds[len(speeds) // 2] > 1.5 * 1280


def test_not_training_takes_its_time_out_of_the_throughput_window(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(callbacks.time, "time", lambda: now[0])
    state = TrainingState(step=0, total_steps=100)
    log = callbacks.MetricsLog(state, tmp_path, SimpleNamespace(run_seconds=lambda: 0.0), 256, 1.0, 0.0)
    for _ in range(10):
        state.step += 1
        log.add(2.0)
    now[0] += 1.0  # ten steps in a second
    with log.not_training():
        now[0] += 3.0  # a checkpoint written
    assert log.take_window()["chars_per_sec"] == pytest.approx(2560)
