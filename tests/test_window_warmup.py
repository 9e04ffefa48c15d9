"""Sequence-length warm-up: a GRU or LSTM trains on short windows, then on its full ones for
the last tenth of the run, with the same tokens a step; a Transformer always reads its full
window; a small text shrinks the long windows to what it holds."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from textgen import callbacks, files, training
from textgen.callbacks import long_windows
from textgen.config import fitted_seq_len, resolve_config, short_window, tokens_per_step, windows_a_step
from textgen.training import RandomWindows, train

PATTERN = "the cat sat on the mat. a dog ran to the log. "
TINY = dict(layers=1, units=16, embedding_dim=8, seq_len=32, short_seq_len=8, batch_size=4,
            dropout=0.0, learning_rate=1e-2, seed=3, time_budget=0, eval_every_s=1.0,
            sample_every_s=60.0)


def test_balanced_reads_64_windows_of_64_tokens_then_16_of_256_with_the_same_tokens_a_step():
    balanced = resolve_config("balanced")
    assert windows_a_step(balanced, long=False) == (64, 64)
    assert windows_a_step(balanced, long=True) == (16, 256)
    assert tokens_per_step(balanced) == 64 * 64 == 16 * 256


def test_quality_reads_64_windows_of_64_tokens_then_32_of_128():
    quality = resolve_config("quality")
    assert (windows_a_step(quality, False), windows_a_step(quality, True)) == ((64, 64), (32, 128))


@pytest.mark.parametrize("preset, device", [("quick", "cpu"), ("balanced", "gpu"), ("quality", "gpu")])
def test_presets_whose_windows_are_64_tokens_or_a_transformers_read_one_length_throughout(preset, device):
    settings = resolve_config(preset, device)
    assert windows_a_step(settings, False) == windows_a_step(settings, True) == (
        settings["batch_size"], settings["seq_len"])
    assert tokens_per_step(settings) == settings["batch_size"] * settings["seq_len"]


def test_a_transformer_always_reads_its_whole_window_since_its_later_positions_would_stay_untrained():
    settings = resolve_config("balanced", arch="transformer")
    assert settings["short_seq_len"] == 64 and short_window(settings) == settings["seq_len"] == 256
    assert windows_a_step(settings, False) == windows_a_step(settings, True) == (64, 256)


def test_a_sequence_length_at_or_below_the_short_window_means_no_warm_up():
    assert windows_a_step(resolve_config("balanced", seq_len=64), True) == (64, 64)
    assert windows_a_step(resolve_config("balanced", seq_len=32), True) == (64, 32)
    # Not a multiple: as many long windows as hold about the same tokens.
    assert windows_a_step(resolve_config("balanced", seq_len=100), True) == (40, 100)


def test_the_long_windows_take_the_last_tenth_of_the_steps_or_of_the_time_budget():
    balanced = resolve_config("balanced")  # 50 warm-up steps, then the decay over 950
    assert not long_windows(balanced, 904, 1000)
    assert long_windows(balanced, 905, 1000) and long_windows(balanced, 999, 1000)
    # A run that would not finish its steps in time switches by its clock.
    assert not long_windows(balanced, 100, 1000, time_progress=0.89)
    assert long_windows(balanced, 100, 1000, time_progress=0.9)


def test_windows_switch_length_at_the_step_the_schedule_says_and_stay_repeatable():
    ids = np.arange(10_000, dtype=np.int32)
    settings = resolve_config("balanced")
    data = RandomWindows(ids, settings, seed=1, first_step=10, long_at=lambda step: step >= 12)
    shapes = [data[i][0].shape for i in range(4)]
    assert shapes == [(64, 64), (64, 64), (16, 256), (16, 256)]
    x, y = data[2]
    assert np.array_equal(x[:, 1:], y[:, :-1]) and np.array_equal(y[:, -1], x[:, -1] + 1)
    again = RandomWindows(ids, settings, seed=1, first_step=12, long_at=lambda step: True)
    np.testing.assert_array_equal(again[0][0], x)
    # Two processes feeding one step each take their share of the windows.
    share = RandomWindows(ids, settings, seed=1, shard=0, shards=2, long_at=lambda step: True)
    assert share[0][0].shape == (8, 256)


def test_a_small_text_shrinks_the_long_windows_to_what_each_part_holds_but_not_below_the_short_ones():
    balanced = resolve_config("balanced")
    assert fitted_seq_len(balanced, 1_000_000, 100_000) == 256
    assert fitted_seq_len(balanced, 5_000, 200) == 128
    assert fitted_seq_len(balanced, 5_000, 100) == 64
    assert fitted_seq_len(balanced, 50, 20) == 64  # too small even so: require_min_tokens says so
    transformer = resolve_config("balanced", arch="transformer")  # no warm-up: the setting stands
    assert fitted_seq_len(transformer, 5_000, 100) == 256


def test_a_run_trains_on_short_windows_then_long_ones_and_is_scored_on_the_long_ones(tmp_path, monkeypatch):
    corpus = tmp_path / "pattern.txt"
    corpus.write_text(PATTERN * 60, encoding="utf-8")
    seen = []
    original = RandomWindows.__getitem__
    monkeypatch.setattr(RandomWindows, "__getitem__",
                        lambda self, i: seen.append(original(self, i)[0].shape) or original(self, i))
    settings = resolve_config("quick", **TINY, epochs=4)
    status = train([str(corpus)], tmp_path / "run", settings, log=lambda m: None)
    assert status["state"] == "completed"
    saved = files.read_json(tmp_path / "run" / "config.json")
    assert (saved["seq_len"], saved["short_seq_len"]) == (32, 8)
    assert (4, 8) in seen and (1, 32) in seen
    assert seen.index((1, 32)) > len(seen) // 2  # the long windows come last
    assert seen[-1] == (1, 32)
    steps = [r for r in files.read_jsonl(tmp_path / "run" / "metrics.jsonl")[0] if "train_loss" in r]
    # The epoch counts the same tokens a step in both parts: 32 a step over the training tokens.
    assert steps[-1]["epoch"] == pytest.approx(steps[-1]["step"] * 32 / (len(PATTERN * 60) * 0.9), rel=0.01)


def test_a_text_too_small_for_the_long_windows_trains_with_shorter_ones_and_says_so(tmp_path):
    corpus = tmp_path / "small.txt"
    corpus.write_text(PATTERN * 4, encoding="utf-8")  # 184 characters: 18 held out
    said = []
    settings = resolve_config("quick", **dict(TINY, seq_len=64, short_seq_len=8), epochs=2)
    status = train([str(corpus)], tmp_path / "run", settings, log=said.append)
    assert status["state"] == "completed"
    assert files.read_json(tmp_path / "run" / "config.json")["seq_len"] == 16
    assert any("windows grow from 8 to 16 tokens, not 64" in line for line in said)


def test_a_run_saved_before_the_warm_up_resumes_with_one_window_length_throughout(tmp_path, monkeypatch):
    import time

    corpus = tmp_path / "pattern.txt"
    corpus.write_text(PATTERN * 60, encoding="utf-8")
    run = tmp_path / "run"
    # Prepared, then stopped before its first step; its config.json as a run saved before the
    # warm-up existed has it: no short_seq_len.
    first = train([str(corpus)], run, resolve_config("quick", **dict(TINY, time_budget=0.001), epochs=2),
                  started=time.time() - 2, log=lambda m: None)
    assert first["state"] == "stopped"
    saved = files.read_json(run / "config.json")
    del saved["short_seq_len"]
    files.atomic_write_json(run / "config.json", saved)
    seen = []
    original = RandomWindows.__getitem__
    monkeypatch.setattr(RandomWindows, "__getitem__",
                        lambda self, i: seen.append(original(self, i)[0].shape) or original(self, i))
    status = train([], run, resolve_config("quick", **TINY, epochs=2), explicit={"time_budget": 0}, resume=True,
                   log=lambda m: None)
    assert status["state"] == "completed" and status["step"] == status["total_steps"]
    assert set(seen) == {(4, 32)}
    assert "short_seq_len" not in files.read_json(run / "config.json")


def test_the_base_model_target_pins_the_shape_the_shipped_model_has():
    root = Path(__file__).resolve().parent.parent
    shipped = files.read_json(root / "assets" / "base-model" / "config.json")
    recipe = (root / "Makefile").read_text(encoding="utf-8")
    assert f"--embedding-dim {shipped['embedding_dim']} --seq-len {shipped['seq_len']}" in recipe


def test_a_warm_up_runs_speed_for_the_next_estimate_weighs_short_and_long_windows_by_their_steps(
        tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(callbacks.time, "time", lambda: now[0])
    state = callbacks.TrainingState(step=0, total_steps=100)
    log = callbacks.MetricsLog(state, tmp_path, SimpleNamespace(run_seconds=lambda: 0.0), 4096, 1.0, 0.0,
                               long_at=lambda step: step >= 90)

    def train_steps(count, seconds_each):
        for _ in range(count):
            state.step += 1
            log.add(2.0)
        now[0] += count * seconds_each
        log.take_window()

    assert log.run_chars_per_sec() is None  # nothing trained yet
    train_steps(90, 0.1)
    assert log.run_chars_per_sec() == pytest.approx(40960)  # before the long windows: the short ones'
    train_steps(10, 0.25)
    assert state.chars_per_sec == pytest.approx(16384)  # the last record: the long windows alone
    # 90 % of the steps at 0.1 s and 10 % at 0.25 s: 0.115 s a step of 4,096 characters.
    assert log.run_chars_per_sec() == pytest.approx(4096 / 0.115)


def test_a_session_that_trained_only_long_windows_leaves_the_estimate_alone(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(callbacks.time, "time", lambda: now[0])
    state = callbacks.TrainingState(step=95, total_steps=100)  # resumed in the run's last tenth
    log = callbacks.MetricsLog(state, tmp_path, SimpleNamespace(run_seconds=lambda: 0.0), 4096, 1.0, 0.0,
                               long_at=lambda step: step >= 90)
    state.step, now[0] = 100, now[0] + 1.0
    log.add(2.0)
    log.take_window()
    assert state.chars_per_sec and log.run_chars_per_sec() is None


def test_the_speed_probe_of_a_warm_up_times_short_and_long_windows_and_weighs_them_by_steps(monkeypatch):
    clock, shapes = [0.0], []

    class TimedModel:
        def train_on_batch(self, x, y):
            shapes.append(x.shape)
            clock[0] += 0.1 if x.shape[1] == 8 else 0.25  # a long window's step is slower

    monkeypatch.setattr(training, "compiled_model", lambda *args: TimedModel())
    monkeypatch.setattr(training, "configure_devices", lambda: None)
    monkeypatch.setattr(training.time, "perf_counter", lambda: clock[0])
    settings = resolve_config("balanced", **{k: TINY[k] for k in ("layers", "units", "embedding_dim",
                                                                   "seq_len", "short_seq_len", "batch_size")})
    tokens_per_s = training.measure_speed(settings, 20, steps=4)
    assert set(shapes) == {(4, 8), (1, 32)}  # 4 windows of 8, then 1 of 32: 32 tokens a step
    assert tokens_per_s == pytest.approx(32 / (0.9 * 0.1 + 0.1 * 0.25))
    one_length = training.measure_speed(dict(settings, short_seq_len=None), 20, steps=4)
    assert one_length == pytest.approx(4 * 32 / 0.25)  # no warm-up: 4 windows of 32, timed alone
