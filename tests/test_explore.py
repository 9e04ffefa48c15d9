"""The sampling explorer (textgen.explore): next-token chances before and after the cut."""

import math

import numpy as np
import pytest

from textgen import explore

TOKENS = ["a", "b", "c", "d", " ", "\n"]


def logits_for(probs):
    return np.log(np.asarray(probs, dtype=np.float64))


def rows_for(probs, **settings):
    tokens = TOKENS[:len(probs)]
    return explore.distribution_from_logits(tokens, logits_for(probs), top=None,
                                            **{"temperature": 1.0, **settings})


def kept(rows):
    return [r["token"] for r in rows if r["kept"]]


def test_probabilities_sum_to_one_and_come_likeliest_first():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=6) * 3
    rows = explore.distribution_from_logits(TOKENS, logits, temperature=0.7, top_k=3, top_p=0.9, top=None)
    for key in ("prob_model", "prob_temperature", "prob_filtered"):
        assert math.isclose(sum(r[key] for r in rows), 1.0, abs_tol=1e-6), key
    model = [r["prob_model"] for r in rows]
    assert model == sorted(model, reverse=True)
    assert all(r["kept"] == (r["prob_filtered"] > 0) for r in rows)
    # top= keeps only the head of the same list
    head = explore.distribution_from_logits(TOKENS, logits, temperature=0.7, top_k=3, top_p=0.9, top=2)
    assert head == rows[:2]


def test_settings_off_keep_everything_as_learnt():
    probs = [0.4, 0.3, 0.2, 0.1]
    rows = rows_for(probs)
    assert kept(rows) == ["a", "b", "c", "d"]
    for r, p in zip(rows, probs):
        assert r["prob_model"] == pytest.approx(p, abs=1e-6)
        assert r["prob_filtered"] == pytest.approx(p, abs=1e-6)
    assert kept(rows_for(probs, top_k=0, top_p=1.0)) == ["a", "b", "c", "d"]


def test_top_k_one_keeps_exactly_the_likeliest():
    rows = rows_for([0.1, 0.5, 0.3, 0.1], top_k=1)
    assert kept(rows) == ["b"]
    assert rows[0]["prob_filtered"] == pytest.approx(1.0)


def test_top_k_keeps_the_k_likeliest():
    rows = rows_for([0.1, 0.5, 0.3, 0.1], top_k=2)
    assert kept(rows) == ["b", "c"]
    assert rows[0]["prob_filtered"] == pytest.approx(0.5 / 0.8, abs=1e-6)


def test_top_p_keeps_the_smallest_head_that_reaches_p():
    probs = [0.5, 0.3, 0.15, 0.05]
    # 0.5 alone does not reach 0.6, 0.5 + 0.3 does: two kept, renormalised.
    rows = rows_for(probs, top_p=0.6)
    assert kept(rows) == ["a", "b"]
    assert [r["prob_filtered"] for r in rows[:2]] == pytest.approx([0.625, 0.375], abs=1e-6)
    assert kept(rows_for(probs, top_p=0.5)) == ["a"]      # the likeliest alone reaches 0.5
    assert kept(rows_for(probs, top_p=0.9)) == ["a", "b", "c"]
    assert kept(rows_for(probs, top_p=0.0)) == ["a"]      # the likeliest always stays


def test_temperature_zero_keeps_the_likeliest_alone():
    rows = rows_for([0.2, 0.3, 0.25, 0.25], temperature=0.0)
    assert kept(rows) == ["b"]
    assert rows[0]["prob_filtered"] == 1.0 and rows[0]["prob_temperature"] == 1.0
    assert rows[0]["prob_model"] == pytest.approx(0.3)


def test_temperature_sharpens_below_one_and_flattens_above():
    probs = [0.6, 0.3, 0.1]
    cold, hot = rows_for(probs, temperature=0.5), rows_for(probs, temperature=2.0)
    assert cold[0]["prob_temperature"] > 0.6 > hot[0]["prob_temperature"]
    assert cold[0]["prob_temperature"] == pytest.approx(0.36 / (0.36 + 0.09 + 0.01), abs=1e-6)


def test_sampling_draws_only_kept_tokens_and_follows_the_seed():
    rows = rows_for([0.4, 0.3, 0.2, 0.1], top_k=2)
    draws = [explore.sample_token(rows, np.random.default_rng(i)) for i in range(200)]
    assert set(draws) == {"a", "b"}
    assert explore.sample_token(rows, 5) == explore.sample_token(rows, 5)
    assert explore.likeliest_token(rows) == "a"


def test_figure_greys_out_the_cut_bars():
    rows = rows_for([0.4, 0.3, 0.2, 0.05, 0.03, 0.02], top_k=2)
    fig = explore.distribution_figure(rows)
    before, after = fig.data
    assert list(before.x) == ["a", "b", "c", "d", "␣", "↵"]
    assert list(before.marker.color) == [explore.KEPT_COLOUR] * 2 + [explore.CUT_COLOUR] * 4
    assert list(after.y)[2:] == [0.0] * 4


def test_chart_labels_stay_distinct():
    labels = explore._unique_labels([" ", "␣", "\n"])
    assert len(set(labels)) == 3 and labels[0].startswith("␣")


# --- with a real (untrained, tiny) model ------------------------------------------------


def tiny_run(tmp_path, arch):
    from textgen.config import resolve_config
    from textgen.inference import Run
    from textgen.models import build_model
    from textgen.tokenizers import CharTokenizer

    tokenizer = CharTokenizer.fit("the cat sat on the mat.\n")
    config = resolve_config("quick", arch=arch, layers=1, units=16, embedding_dim=8, seq_len=8, dropout=0.0)
    config["vocab_size"] = tokenizer.vocab_size
    return Run(tmp_path, config, tokenizer, build_model(config, tokenizer.vocab_size))


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_a_model_gives_a_distribution_over_its_vocabulary(tmp_path, arch):
    run = tiny_run(tmp_path, arch)
    prompt = "the cat sat on the mat. the cat"  # longer than the Transformer's window of 8
    rows = explore.next_token_distribution(run, prompt, temperature=1.0, top=None)
    assert sorted(r["token"] for r in rows) == sorted(run.tokenizer.tokens)
    assert math.isclose(sum(r["prob_model"] for r in rows), 1.0, abs_tol=1e-5)
    assert len(explore.next_token_distribution(run, "", top_k=3)) == min(explore.TOP, run.tokenizer.vocab_size)
    if arch == "transformer":  # only its window of the last seq_len tokens counts
        window = explore.next_token_distribution(run, prompt[-8:], top=None)
        assert [r["prob_model"] for r in window] == pytest.approx([r["prob_model"] for r in rows], abs=1e-5)


def test_the_likeliest_is_what_greedy_generation_writes(tmp_path):
    run = tiny_run(tmp_path, "gru")
    for prompt in ("the c", ""):
        rows = explore.next_token_distribution(run, prompt, temperature=0.0, top=None)
        assert run.generate(prompt, length=1, temperature=0.0) == explore.likeliest_token(rows)


def test_unknown_characters_are_a_sentence(tmp_path):
    from textgen.errors import TextgenError

    with pytest.raises(TextgenError, match="never seen"):
        explore.next_token_distribution(tiny_run(tmp_path, "gru"), "ꙮ")


def test_the_explorer_takes_the_settings_as_generation_does():
    from textgen.errors import TextgenError
    from textgen.sampling_settings import SamplingSettings

    probs = [0.4, 0.3, 0.2, 0.1]
    assert rows_for(probs, top_k=0, top_p=1.0) == rows_for(probs, top_k=None, top_p=None)
    for bad in ({"temperature": -0.5}, {"top_k": -1}, {"top_p": 1.5}):
        with pytest.raises(TextgenError) as explorer:
            rows_for(probs, **bad)
        with pytest.raises(TextgenError) as settings:
            SamplingSettings(**bad)
        assert str(explorer.value) == str(settings.value)
