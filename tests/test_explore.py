"""The sampling explorer (textgen.explore): next-token chances before and after the cut."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    if arch == "transformer":  # only the latest tokens its key/value cache holds count: 7 of 31
        window = explore.next_token_distribution(run, prompt[-7:], top=None)
        assert [r["prob_model"] for r in window] == pytest.approx([r["prob_model"] for r in rows], abs=1e-5)
        greedy = explore.next_token_distribution(run, prompt, temperature=0.0, top=None)
        assert run.generate(prompt, length=1, temperature=0.0) == explore.likeliest_token(greedy)


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


# --- the caption says what the bars show -------------------------------------------------

TEMPERATURES = (0.0, 0.01, 0.05, 0.3, 0.7, 1.0, 1.5, 2.0)
CUTS = ({}, {"top_k": 1}, {"top_k": 5}, {"top_p": 0.5}, {"top_p": 0.95}, {"top_k": 8, "top_p": 0.7})


def peaked_logits(vocab=60, seed=0):
    """Logits like a trained model's: a few likely tokens, a long tail, one tie at the top."""
    logits = np.random.default_rng(seed).normal(size=vocab) * 4
    logits[7] = logits[3] = logits.max() + 1.0
    return logits


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("cut", CUTS, ids=str)
def test_the_caption_says_what_the_bars_show_at_every_temperature(temperature, cut):
    tokens = [f"t{i}" for i in range(60)]
    rows = explore.distribution_from_logits(tokens, peaked_logits(), temperature=temperature, top=None,
                                            never=[0], **cut)
    said = explore.summary(rows)
    fig = explore.distribution_figure(rows)  # every possible token as a bar
    before, after = fig.data
    kept_bars = [c == explore.KEPT_COLOUR for c in before.marker.color]
    assert said["total"] == len(before.x) == 59  # "<unk>"-like id 0 is no possible next token
    assert said["kept"] == sum(kept_bars) == sum(1 for y in after.y if y > 0)
    assert said["before"] == before.y[0] and said["after"] == after.y[0]
    assert f"{said['before']:.1%}" == f"{before.y[0]:.1%}" and f"{said['after']:.1%}" == f"{after.y[0]:.1%}"
    assert sum(after.y) == pytest.approx(1.0) and sum(before.y) == pytest.approx(1.0)
    # After the cut the kept bars keep their proportions: the same bars, scaled up.
    kept_before = sum(y for y, k in zip(before.y, kept_bars) if k)
    assert [a for a, k in zip(after.y, kept_bars) if k] == pytest.approx(
        [b / kept_before for b, k in zip(before.y, kept_bars) if k])
    if temperature == 0 or cut.get("top_k") == 1:
        assert said["kept"] == 1 and said["after"] == 1.0
    if temperature == 0:
        assert said["before"] == 1.0 and kept_bars[0]  # greedy: the likeliest bar alone, even in a tie
    if not cut and temperature >= 0.3:
        assert said["kept"] == said["total"]  # settings off: every possible token stays


def test_a_tie_at_temperature_zero_keeps_the_token_greedy_generation_takes():
    rows = explore.distribution_from_logits(["a", "b", "c"], np.array([1.0, 3.0, 3.0]), temperature=0.0, top=None)
    assert [r["token"] for r in rows if r["kept"]] == ["b"] == [rows[0]["token"]]
    assert rows[0]["prob_temperature"] == rows[0]["prob_filtered"] == 1.0


def test_the_caption_numbers_come_from_the_likeliest_row():
    rows = rows_for([0.5, 0.3, 0.15, 0.05], temperature=0.5, top_k=2)
    said = explore.summary(rows)
    assert said == {"kept": 2, "total": 4, "token": "a", "before": rows[0]["prob_temperature"],
                    "after": rows[0]["prob_filtered"], "learnt": pytest.approx(0.5)}
    assert said["before"] == pytest.approx(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025))
    assert said["after"] == pytest.approx(0.25 / (0.25 + 0.09))


def test_a_long_text_shows_its_end():
    text = "Once upon a time " * 40 + "the keeper lit the lamp"
    tail = explore.text_tail(text)
    assert tail.startswith("…") and tail.endswith("the keeper lit the lamp")
    assert len(tail) == explore.TAIL_CHARS + 1
    assert explore.text_tail("short") == "short"


def test_line_breaks_at_the_end_of_the_explored_text_are_marked():
    assert explore.shown_end("the keeper lit\n") == "the keeper lit↵\n"  # a code block hides the last break
    assert explore.shown_end("lit\n\n") == "lit↵\n↵\n"
    assert explore.shown_end("a\nb") == "a\nb"  # breaks inside show as they are


# --- word and subword models: explored by word or by piece -------------------------------

TEXT = "the keeper lit the lamp. the gull sang to the sea.\nthe baker mended the bell.\n" * 6


def tokenized_run(tmp_path, kind):
    from textgen.config import resolve_config
    from textgen.inference import Run
    from textgen.models import build_model
    from textgen.tokenizers import make_tokenizer

    tokenizer = make_tokenizer(kind, TEXT, max_vocab=40)
    config = resolve_config("quick", arch="gru", layers=1, units=16, embedding_dim=8, seq_len=8, dropout=0.0,
                            tokenizer=kind)
    config["vocab_size"] = tokenizer.vocab_size
    return Run(tmp_path, config, tokenizer, build_model(config, tokenizer.vocab_size))


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_word_and_subword_models_are_explored_by_whole_tokens(tmp_path, kind):
    run = tokenized_run(tmp_path, kind)
    prompt = "the keeper lit the"
    rows = explore.next_token_distribution(run, prompt, temperature=1.0, top=None)
    assert "<unk>" not in [r["token"] for r in rows]  # generation never writes it
    assert sorted(r["token"] for r in rows) == sorted(run.tokenizer.tokens[1:])
    assert explore.summary(rows)["total"] == run.tokenizer.vocab_size - 1
    # The explorer reads the text as Generate reads its prompt ...
    assert list(explore.prompt_ids(run, prompt)) == list(run.prompt_ids(prompt))
    # ... so its likeliest token is what greedy generation writes next: one whole token.
    greedy = explore.next_token_distribution(run, prompt, temperature=0.0, top=None)
    assert run.generate(prompt, length=1, temperature=0.0) == explore.likeliest_token(greedy)
    assert explore.sample_token(rows, 1) in run.tokenizer.tokens
    # Labels show the words or pieces themselves, their spaces and line breaks made visible.
    labels = set(explore.distribution_figure(rows).data[0].x)
    assert all(label.strip() and "<unk>" not in label for label in labels)
    if kind == "word":
        assert {"the", "␣", "↵", "."} <= labels
    else:
        assert "␣the" in labels  # the piece " the"


# --- on Generate, with tiny trained word and subword runs -------------------------------


@pytest.fixture(scope="module")
def token_runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny word run and a tiny subword run, trained with the CLI for two epochs (seconds)."""
    root = Path(__file__).resolve().parents[1]
    corpus = tmp_path_factory.mktemp("token-corpus") / "keeper.txt"
    corpus.write_text(TEXT * 8, encoding="utf-8")
    out = {}
    for kind in ("word", "bpe"):
        run_dir = tmp_path_factory.mktemp("token-runs") / f"{kind}-run"
        cmd = [sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(run_dir), "--tokenizer", kind,
               "--max-vocab", "40", "--layers", "1", "--units", "16", "--embedding-dim", "8", "--seq-len", "8",
               "--epochs", "2", "--time-budget", "0", "--seed", "1"]
        env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        out[kind] = run_dir
    return out


@pytest.mark.parametrize("kind, unit", [("word", "word"), ("bpe", "subword piece")])
def test_sample_one_and_take_the_likeliest_add_a_whole_word_or_piece(open_page, app_home, token_runs,
                                                                       no_shipped_models, kind, unit):
    from textgen.inference import load_run

    shutil.copytree(token_runs[kind], app_home / "runs" / token_runs[kind].name)
    tokens = set(load_run(token_runs[kind]).tokenizer.tokens[1:])
    at = open_page("generate")
    assert f"Explore the next {unit}" in [h.value for h in at.subheader]
    at.text_area(key="explore_text").input("the keeper lit")
    next(b for b in at.button if b.label == "Take the likeliest").click().run()
    assert not at.exception and not at.error
    first = at.text_area(key="explore_text").value
    assert first.startswith("the keeper lit") and first[len("the keeper lit"):] in tokens
    next(b for b in at.button if b.label == "Sample one").click().run()
    second = at.text_area(key="explore_text").value
    assert second.startswith(first) and second[len(first):] in tokens
    figure = at.get("plotly_chart")[0].proto.spec
    assert f"next {unit}s" in figure and "<unk>" not in figure
    assert any(c.value.startswith("The settings keep") and f"possible next {unit}s" in c.value
               for c in at.caption)
    # The end of the text, above the chart (a line break at its end marked, as a code block hides it).
    assert [c.value for c in at.code][-1].rstrip("\n").endswith(explore.shown_end(second).rstrip("\n"))
