"""What a run will be before it starts, from the corpus the Train page has chosen."""

from __future__ import annotations

from textgen import config, estimates, speeds
from textgen.corpus import load_corpus, split_text
from textgen.heldout import held_out_novelty


def test_a_rough_estimate_counts_the_model_of_the_guessed_vocabulary():
    resolved = config.resolve_config("quick")
    stats = {"chars": 100_000, "distinct_chars": 80, "words": 20_000}
    found = estimates.rough_estimates(resolved, stats, distinct_words=3000)
    assert found["parameters"] == config.count_parameters(resolved, 80)
    assert found["seconds"] == resolved["time_budget"] == 60  # no speed measured: the budget bounds it
    word = config.resolve_config("quick", tokenizer="word", max_vocab=1000)
    assert estimates.rough_estimates(word, stats, 3000)["parameters"] == config.count_parameters(word, 1002)


def test_unknown_shares_of_a_corpus_are_zero_for_characters_and_positive_for_a_small_word_list(tmp_path):
    text = " ".join(f"word{i % 400}" for i in range(4000)) + " " + " ".join(f"rare{i}" for i in range(300))
    path = tmp_path / "words.txt"
    path.write_text(text, encoding="utf-8")
    assert estimates.corpus_unknown_shares([str(path)], "char", 20000, 0.1) == {"training": 0.0, "held_out": 0.0}
    shares = estimates.corpus_unknown_shares([str(path)], "word", 50, 0.1)
    assert 0 < shares["training"] < shares["held_out"] <= 1


def test_held_out_novelty_of_a_corpus_is_measured_on_the_split_training_makes():
    text = load_corpus(["builtin:sample"]).text
    assert estimates.corpus_held_out_novelty(("builtin:sample",), 0.2) == held_out_novelty(*split_text(text, 0.2))


def test_the_time_comes_from_the_speed_measured_for_these_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_HOME", str(tmp_path))
    corpus = load_corpus(["builtin:sample"])
    resolved = config.resolve_config("quick", epochs=2, time_budget=3600)
    before = estimates.run_estimates(resolved, ["builtin:sample"], corpus.sha256)
    assert before["tokens_per_s"] is None and before["seconds"] == 3600  # nothing measured: the budget
    speeds.remember_speed(resolved, before["vocab_size"], speeds.probe_where(), 1000.0)
    after = estimates.run_estimates(resolved, ["builtin:sample"], corpus.sha256)
    assert after["tokens_per_s"] == 1000.0
    assert after["seconds"] == 2 * after["train_tokens"] / 1000.0  # two epochs at the measured speed
    other = config.resolve_config("quick", epochs=2, time_budget=3600, units=64)
    assert estimates.run_estimates(other, ["builtin:sample"], corpus.sha256)["tokens_per_s"] is None


def test_a_probe_measures_real_training_steps_in_a_child_process_and_remembers_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_HOME", str(tmp_path))
    settings = config.resolve_config("quick", units=32, embedding_dim=8, seq_len=16, batch_size=4)
    tokens_per_s = speeds.measure_in_child(settings, 50)
    assert 10 < tokens_per_s < 1e8
    assert speeds.remembered_speed(settings, 50, speeds.probe_where()) == round(tokens_per_s, 1)
    assert speeds.remembered_speed(settings, 51, speeds.probe_where()) is None


def test_a_damaged_speeds_file_means_nothing_measured(tmp_path):
    (tmp_path / "speeds.json").write_text("[1, 2")
    assert speeds.remembered_speed(config.resolve_config("quick"), 65, "tensorflow CPU", tmp_path) is None
    speeds.remember_speed(config.resolve_config("quick"), 65, "tensorflow CPU", 500.0, tmp_path)
    assert speeds.remembered_speed(config.resolve_config("quick"), 65, "tensorflow CPU", tmp_path) == 500.0
