"""What a run will be before it starts, from the corpus the Train page has chosen."""

from __future__ import annotations

from textgen import config, estimates
from textgen.corpus import load_corpus, split_text
from textgen.heldout import held_out_novelty


def test_a_rough_estimate_counts_the_model_of_the_guessed_vocabulary():
    resolved = config.resolve_config("quick")
    stats = {"chars": 100_000, "distinct_chars": 80, "words": 20_000}
    found = estimates.rough_estimates(resolved, stats, distinct_words=3000)
    assert found["parameters"] == config.count_parameters(resolved, 80)
    assert found["seconds"] == config.estimate_seconds(resolved, 80, 90_000)
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
