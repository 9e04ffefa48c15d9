"""The learning-rate finder: the range test's arithmetic, and real tests on small models whose
answer is known (the rate measured best for Quick on tinyshakespeare, a blow-up past 1)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from textgen import child, config, lr_range
from textgen.errors import TextgenError
from textgen.files import read_json
from textgen.lr_finder import find_in_this_process, find_learning_rate

CORPUS = Path("/work/shared/corpora/tinyshakespeare.txt")
BASE = Path(__file__).resolve().parent.parent / "assets" / "base-model"
QUICK_BEST_RATE = 1.2e-2  # benchmarks/README.md: Quick's rate that learnt most in a minute
TINY = dict(arch="gru", layers=1, units=32, embedding_dim=16, seq_len=32, batch_size=16)


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """The first 300,000 characters of tinyshakespeare, as a corpus file."""
    path = tmp_path_factory.mktemp("corpus") / "shakespeare.txt"
    path.write_text(CORPUS.read_text(encoding="utf-8")[:300_000], encoding="utf-8")
    return str(path)


def test_the_rate_rises_exponentially_from_the_start_to_the_end():
    rates = [lr_range.rate_at(i, 11) for i in range(11)]
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(1.0)
    assert rates[5] == pytest.approx(math.sqrt(1e-5 * 1.0))  # halfway in log space
    assert all(b / a == pytest.approx(10 ** 0.5) for a, b in zip(rates, rates[1:]))


def test_the_smoothed_loss_is_bias_corrected_and_a_blow_up_is_seen():
    assert lr_range.smoothed([3.0, 3.0, 3.0], 0.98) == pytest.approx([3.0, 3.0, 3.0])
    smooth = lr_range.smoothed([3.0, 2.0, 1.0, 2.0, 9.0], 0.5)
    assert smooth[1] == pytest.approx((0.25 * 3 + 0.5 * 2) / 0.75)
    assert not lr_range.blown_up(lr_range.smoothed([3.0, 2.0, 1.0], 0.5))
    assert lr_range.blown_up([3.0, 1.0, 4.5]) and not lr_range.blown_up([3.0, 1.0, 3.9])
    assert lr_range.smoothed([1.0, math.nan, 1.0], 0.5)[1:] == [math.inf, math.inf]
    assert lr_range.blown_up([1.0, math.inf])
    assert lr_range.smoothing_for(100) == pytest.approx(0.98) and lr_range.smoothing_for(20) == pytest.approx(0.9)


def test_the_suggestion_is_a_tenth_of_the_rate_at_the_lowest_smoothed_loss_within_the_range():
    rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert lr_range.suggest_rate(rates, [4.0, 3.0, 2.0, 1.5, math.inf]) == pytest.approx(1e-2)
    _, low, high, _ = config.RANGES["learning_rate"]
    assert lr_range.suggest_rate([1e-7, 1e-6], [1.0, 2.0]) == low
    with pytest.raises(TextgenError, match="no finite loss"):
        lr_range.suggest_rate(rates, [math.inf] * 5)


def test_the_finder_on_quick_suggests_a_rate_near_the_one_measured_best(shakespeare):
    result = find_learning_rate(config.resolve_config("quick", "cpu", seed=1), [shakespeare], seconds=8)
    assert QUICK_BEST_RATE / 4 <= result["suggested"] <= QUICK_BEST_RATE * 4, result["suggested"]
    assert lr_range.MIN_STEPS <= result["steps"] == len(result["rates"]) == len(result["losses"])
    assert all(b > a for a, b in zip(result["rates"], result["rates"][1:]))
    # the curve falls from about ln(vocabulary) before it rises
    assert min(result["smoothed"]) < result["smoothed"][0] - 0.4


def test_the_finder_stops_when_the_loss_blows_up():
    ids = np.tile(np.arange(20, dtype=np.int32), 500)  # a counting sequence a tiny GRU learns
    settings = config.resolve_config("quick", "cpu", seed=3, **TINY)
    result = find_learning_rate(dict(settings, vocab_size=20), ids, seconds=60, steps=60, end=100.0)
    assert result["stopped"] == "blow-up" and result["steps"] < 60
    smooth = [x if x is not None else math.inf for x in result["smoothed"]]
    assert smooth[-1] > lr_range.BLOW_UP * min(smooth)
    assert all(b > a for a, b in zip(result["rates"], result["rates"][1:]))
    assert result["minimum_rate"] < result["rates"][-1]


def test_a_fine_tune_starts_from_the_base_weights(shakespeare):
    settings = config.resolve_config("balanced", "cpu", seed=1, batch_size=16)
    tuned = find_learning_rate(dict(settings, init_from=str(BASE)), [shakespeare], steps=4)
    vocab_size = read_json(BASE / "config.json")["vocab_size"]
    # fresh weights would start near ln(vocabulary); the base model already writes English
    assert tuned["losses"][0] < math.log(vocab_size) - 2.0
    _, low, high, _ = config.RANGES["learning_rate"]
    assert low <= tuned["suggested"] <= high


def test_a_word_model_is_tried_in_a_child_process(shakespeare):
    settings = config.resolve_config("quick", "cpu", seed=1, tokenizer="word", max_vocab=2000, **TINY)
    result = lr_range.find_in_child(settings, [shakespeare], seconds=3)
    assert result["steps"] >= lr_range.MIN_STEPS and result["suggested"] > 0
    assert len(result["rates"]) == len(result["losses"])


def test_a_corpus_too_short_is_refused_with_a_sentence(tmp_path, monkeypatch):
    short = tmp_path / "short.txt"
    short.write_text("To be, or not to be.", encoding="utf-8")
    settings = config.resolve_config("quick", "cpu", **TINY)
    answer = find_in_this_process(settings, [str(short)], 3)
    assert answer["suggested"] is None and answer["error"]["params"]["chars"] == 20
    # what the child answers becomes the app's sentence
    monkeypatch.setattr(child, "call", lambda *args, timeout_s: answer)
    with pytest.raises(TextgenError, match="could not run: The corpus has 20 characters"):
        lr_range.find_in_child(settings, [str(short)], seconds=3)
