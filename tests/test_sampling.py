"""Sampling: the probability filters, the inverse-CDF draw, the compiled Sampler and Run's API."""

import inspect
import math

import numpy as np
import pytest
from keras import ops

import textgen
from textgen.config import resolve_config
from textgen.errors import TextgenError
from textgen.i18n import translate_error
from textgen.models import build_model, make_stepper
from textgen.sampling import CHUNK, Sampler, filter_probabilities, pick
from textgen.sampling_settings import DEFAULT_TEMPERATURE, SamplingSettings

OFF_K, OFF_P = 2**30, 2.0  # what Sampler passes when top-k / top-p are off
VOCAB = 20


def filtered(logits, temperature=1.0, top_k=OFF_K, top_p=OFF_P):
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float32))
    probs, ids = filter_probabilities(logits, np.float32(temperature), np.int32(top_k),
                                      np.float32(top_p))
    return ops.convert_to_numpy(probs), ops.convert_to_numpy(ids)


def kept(logits, **kwargs):
    """{token id: probability} of the tokens that survive the filters."""
    probs, ids = filtered(logits, **kwargs)
    return {int(i): float(p) for i, p in zip(ids[0], probs[0]) if p > 0}


PROBS = np.array([0.05, 0.4, 0.1, 0.3, 0.15])  # token 1 likeliest, then 3, 4, 2, 0
LOGITS = np.log(PROBS)


# --- filter_probabilities ------------------------------------------------------------


def test_probabilities_come_sorted_with_their_ids():
    probs, ids = filtered(LOGITS)
    assert list(ids[0]) == [1, 3, 4, 2, 0]
    np.testing.assert_allclose(probs[0], np.sort(PROBS)[::-1], rtol=1e-5)


def test_top_k_1_keeps_only_the_likeliest():
    assert kept(LOGITS, top_k=1) == pytest.approx({1: 1.0})


def test_top_k_3_keeps_three_renormalised():
    result = kept(LOGITS, top_k=3)
    assert set(result) == {1, 3, 4}
    total = 0.4 + 0.3 + 0.15
    assert result == pytest.approx({1: 0.4 / total, 3: 0.3 / total, 4: 0.15 / total}, rel=1e-5)


def test_top_p_keeps_the_smallest_set_reaching_p():
    assert set(kept(LOGITS, top_p=0.5)) == {1, 3}          # 0.4 < 0.5 <= 0.4 + 0.3
    assert set(kept(LOGITS, top_p=0.3)) == {1}             # 0.4 alone reaches 0.3
    assert set(kept(LOGITS, top_p=0.8)) == {1, 3, 4}       # 0.7 < 0.8 <= 0.85
    result = kept(LOGITS, top_p=0.5)
    assert result == pytest.approx({1: 0.4 / 0.7, 3: 0.3 / 0.7}, rel=1e-5)


def test_top_p_1_and_off_keep_everything():
    for top_p in (1.0, OFF_P):
        assert kept(LOGITS, top_p=top_p) == pytest.approx(dict(enumerate(PROBS)), rel=1e-5)


def test_top_k_and_top_p_combine():
    assert set(kept(LOGITS, top_k=2, top_p=0.8)) == {1, 3}
    assert set(kept(LOGITS, top_k=4, top_p=0.3)) == {1}


def test_a_tiny_top_p_still_keeps_the_likeliest_token():
    assert kept(LOGITS, top_p=1e-9) == pytest.approx({1: 1.0})


def test_temperature_scales_the_logits():
    logits = np.array([2.0, 1.0, 0.5, -1.0], dtype=np.float32)
    for t in (0.25, 0.5, 1.0, 2.0, 5.0):
        expected = np.exp(logits / t) / np.exp(logits / t).sum()
        assert kept(logits, temperature=t) == pytest.approx(dict(enumerate(expected)), rel=1e-4)
    top = [max(kept(logits, temperature=t).values()) for t in (0.25, 0.5, 1.0, 2.0, 5.0)]
    assert top == sorted(top, reverse=True)  # lower temperature: sharper distribution

    def entropy(t):
        p = np.array(list(kept(logits, temperature=t).values()))
        return -(p * np.log(p)).sum()

    assert entropy(0.5) < entropy(1.0) < entropy(2.0) < math.log(4)


def test_rows_of_a_batch_are_filtered_independently():
    logits = np.stack([LOGITS, LOGITS[::-1]]).astype(np.float32)
    probs, ids = filtered(logits, top_k=2)
    assert list(ids[0, :2]) == [1, 3] and list(ids[1, :2]) == [3, 1]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (probs[:, 2:] == 0).all()


# --- pick -----------------------------------------------------------------------------


def draw(logits, uniforms, **kwargs):
    uniforms = np.asarray(uniforms, dtype=np.float32)
    logits = np.broadcast_to(np.asarray(logits, dtype=np.float32), (len(uniforms), len(logits)))
    probs, ids = filtered(logits, **kwargs)
    return ops.convert_to_numpy(pick(probs, ids, uniforms))


def test_pick_at_the_ends_of_the_unit_interval():
    assert list(draw(LOGITS, [0.0, 1e-6])) == [1, 1]        # the likeliest
    assert list(draw(LOGITS, [0.9999, 1.0])) == [0, 0]      # the least likely
    assert list(draw(LOGITS, [0.9999], top_k=3)) == [4]     # the least likely *kept*
    assert list(draw(LOGITS, [0.9999], top_p=0.5)) == [3]


def test_pick_follows_the_cumulative_distribution():
    # Sorted: 1 (0.4), 3 (0.3), 4 (0.15), 2 (0.1), 0 (0.05); boundaries 0.4, 0.7, 0.85, 0.95.
    assert list(draw(LOGITS, [0.39, 0.41, 0.69, 0.71, 0.84, 0.86, 0.94, 0.96])) == \
        [1, 3, 3, 4, 4, 2, 2, 0]


@pytest.mark.parametrize("kwargs,expected", [
    ({}, dict(enumerate(PROBS))),
    ({"top_k": 3}, {1: 0.4 / 0.85, 3: 0.3 / 0.85, 4: 0.15 / 0.85}),
    ({"temperature": 0.5}, dict(enumerate(PROBS**2 / (PROBS**2).sum()))),
])
def test_empirical_frequencies_match_the_probabilities(kwargs, expected):
    n = 40_000
    uniforms = np.random.default_rng(0).random(n, dtype=np.float32)
    counts = np.bincount(draw(LOGITS, uniforms, **kwargs), minlength=len(PROBS))
    for token in range(len(PROBS)):
        if token not in expected:
            assert counts[token] == 0
    chi2 = sum((counts[t] - n * p) ** 2 / (n * p) for t, p in expected.items())
    # 4 degrees of freedom at most: chi-square above 25 has probability below 1e-4.
    assert chi2 < 25, (counts, expected)


# --- the compiled Sampler on fresh random models -----------------------------------------


def tiny(arch):
    return resolve_config("quick", arch=arch, layers=1, units=16, embedding_dim=8, seq_len=8)


@pytest.fixture(scope="module", params=["gru", "lstm", "transformer"])
def sampler(request):
    config = tiny(request.param)
    model = build_model(config, VOCAB)
    return Sampler(model, config)


def generate(sampler, prompt=(1, 2), length=50, **kwargs):
    chunks = list(sampler.generate(list(prompt), length, **kwargs))
    assert all(c.ndim == 2 for c in chunks)
    return np.concatenate(chunks, axis=1)


@pytest.mark.parametrize("length", [1, CHUNK - 1, CHUNK, 300])
def test_generate_yields_exactly_length_tokens(sampler, length):
    for prompt in ([3], [1, 2, 3, 4, 5]):
        ids = generate(sampler, prompt, length, seed=0)
        assert ids.shape == (1, length)
        assert ids.min() >= 0 and ids.max() < VOCAB


def test_a_long_prompt_across_chunks_is_not_echoed(sampler):
    prompt = list(np.arange(CHUNK + 10) % VOCAB)
    ids = generate(sampler, prompt, 30, seed=0)
    assert ids.shape == (1, 30)


def test_the_same_seed_gives_the_same_tokens(sampler):
    a = generate(sampler, length=60, seed=7)
    b = generate(sampler, length=60, seed=7)
    c = generate(sampler, length=60, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_batch_gives_one_row_per_sample(sampler):
    ids = generate(sampler, length=40, seed=1, batch=3)
    assert ids.shape == (3, 40)
    assert len({tuple(row) for row in ids}) == 3  # independent draws differ
    greedy = generate(sampler, length=40, temperature=0, batch=3)
    assert (greedy == greedy[0]).all()  # but greedy decoding is the same in every row


def test_greedy_is_argmax_decoding_with_the_full_model(sampler):
    prompt = [1, 2]
    transformer = sampler.stepper.config["arch"] == "transformer"
    # The Transformer's window holds seq_len (8) tokens: 2 prompt + 6 new fill it exactly.
    steps = 6 if transformer else 20
    first = generate(sampler, prompt, steps, temperature=0)[0]
    second = generate(sampler, prompt, steps, temperature=0, seed=123)[0]
    np.testing.assert_array_equal(first, second)  # greedy ignores the seed

    model = sampler.stepper.model
    ids = list(prompt)
    for token in first:
        logits = ops.convert_to_numpy(model(np.array([ids], dtype=np.int32), training=False))[0, -1]
        best = int(np.argmax(logits))
        if token != best:  # only a near-tie may go either way
            assert logits[best] - logits[token] < 1e-4, (ids, token, best)
        ids.append(int(token))


def test_top_k_1_equals_greedy(sampler):
    greedy = generate(sampler, length=30, temperature=0)
    top1 = generate(sampler, length=30, temperature=1.0, top_k=1, seed=5)
    np.testing.assert_array_equal(greedy, top1)


def cache_context_lengths(tokens: int, size: int) -> list[int]:
    """How many tokens the key/value cache holds after each of ``tokens`` steps: it fills
    up to ``size``, then slides back to ``size // 2`` (CachedTransformerStepper)."""
    filled, lengths = 0, []
    for _ in range(tokens):
        filled = (size // 2 if filled >= size else filled) + 1
        lengths.append(filled)
    return lengths


def test_the_key_value_cache_gives_the_full_models_logits_within_and_past_the_window():
    config = resolve_config("quick", arch="transformer", layers=2, units=32, seq_len=8)
    model = build_model(config, VOCAB)
    stepper = make_stepper(model, config)
    tokens = np.random.default_rng(0).integers(0, VOCAB, size=(2, 30)).astype(np.int32)
    state = stepper.initial_state(2)
    for t, length in enumerate(cache_context_lengths(30, 8)):
        logits, state = stepper.step(tokens[:, t], state)
        full = model(tokens[:, t + 1 - length: t + 1], training=False)[:, -1]
        np.testing.assert_allclose(ops.convert_to_numpy(logits), ops.convert_to_numpy(full), atol=1e-4)


def test_compiled_greedy_sampling_with_the_cache_is_greedy_decoding_with_the_full_model():
    config = resolve_config("quick", arch="transformer", layers=1, units=16, seq_len=8)
    model = build_model(config, VOCAB)
    prompt, steps = [1, 2, 3], 25  # 28 tokens: past the window of 8 three times
    got = generate(Sampler(model, config), prompt, steps, temperature=0)[0]
    ids = list(prompt)
    lengths = cache_context_lengths(len(prompt) + steps, 8)
    for i, token in enumerate(got):
        context = ids[len(ids) - lengths[len(prompt) - 1 + i]:]
        logits = ops.convert_to_numpy(model(np.array([context], dtype=np.int32), training=False))[0, -1]
        best = int(np.argmax(logits))
        if token != best:  # only a near-tie may go either way
            assert logits[best] - logits[token] < 1e-4, (context, token, best)
        ids.append(int(token))


# --- Run: a trained tiny model --------------------------------------------------------------

PATTERN = "the cat sat on the mat. a dog ran to the log. "


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from textgen.training import train
    folder = tmp_path_factory.mktemp("sampling")
    corpus = folder / "pattern.txt"
    corpus.write_text(PATTERN * 120, encoding="utf-8")
    config = resolve_config("quick", layers=1, units=32, embedding_dim=16, seq_len=16,
                            batch_size=16, learning_rate=1e-2, seed=3, epochs=2, time_budget=0)
    status = train([str(corpus)], folder / "run", config, log=lambda m: None)
    assert status["state"] == "completed"
    return textgen.load_run(folder / "run")


def test_generate_returns_only_the_continuation(run):
    for prompt in ("", "the ", "a dog"):
        text = run.generate(prompt, length=50, seed=1)
        assert isinstance(text, str) and len(text) == 50
        assert set(text) <= set(PATTERN)
    assert run.generate("the ", length=1, seed=1) in set(PATTERN)


def test_generate_is_repeatable_with_a_seed(run):
    assert run.generate("the ", 80, seed=4) == run.generate("the ", 80, seed=4)
    assert run.generate("the ", 80, temperature=0) == run.generate("the ", 80, temperature=0)


def test_stream_pieces_join_to_the_generated_text(run):
    pieces = list(run.stream("the ", length=300, seed=9))
    assert len(pieces) >= 3 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == run.generate("the ", length=300, seed=9)


def test_samples_returns_num_samples_texts(run):
    texts = run.samples("the ", length=40, seed=2, num_samples=3)
    assert len(texts) == 3 and all(len(t) == 40 for t in texts)
    assert texts == run.samples("the ", length=40, seed=2, num_samples=3)


@pytest.mark.parametrize("kwargs", [
    {"length": 0}, {"length": -3}, {"length": 2.5}, {"length": 10**9},
    {"temperature": float("nan")}, {"temperature": -1.0}, {"temperature": float("inf")},
    {"top_p": 1.5}, {"top_p": -0.1}, {"top_k": -1}, {"top_k": 2.5},
])
def test_bad_sampling_arguments_raise_textgen_error(run, kwargs):
    with pytest.raises(TextgenError):
        run.generate("the ", **kwargs)


@pytest.mark.parametrize("num_samples", [0, 100, 2.0])
def test_bad_sample_counts_raise_textgen_error(run, num_samples):
    with pytest.raises(TextgenError, match="number of samples"):
        run.samples("the ", length=10, num_samples=num_samples)


def test_a_prompt_with_unseen_characters_names_them(run):
    with pytest.raises(TextgenError, match='"Q"'):
        run.generate("Quiet", length=5)
    with pytest.raises(TextgenError):
        run.generate(123, length=5)


def test_banned_tokens_are_never_sampled():
    config = tiny("gru")
    model = build_model(config, VOCAB)
    free = generate(Sampler(model, config), length=400, temperature=3.0, seed=0)
    assert 0 in free and 5 in free  # a hot random model samples every token now and then
    banned = generate(Sampler(model, config, banned_ids=[0, 5]), length=400, temperature=3.0, seed=0)
    assert 0 not in banned and 5 not in banned


# --- SamplingSettings: one place for the rules ------------------------------------------------


def test_off_and_greedy_are_said_one_way_and_read_as_the_filter_expects():
    off = SamplingSettings(temperature=0.7, top_k=0, top_p=1.0)
    assert (off.top_k, off.top_p) == (None, None) and not off.greedy
    assert off.filter_values() == (np.float32(0.7), OFF_K, OFF_P)
    assert SamplingSettings(0.7, None, None) == off
    assert SamplingSettings(0.5, 3, 0.9).filter_values() == (np.float32(0.5), 3, np.float32(0.9))
    assert SamplingSettings(top_p=0.0).filter_values()[2] == np.float32(1e-9)  # the likeliest alone
    greedy = SamplingSettings(temperature=0, top_k=5, top_p=0.5)
    assert greedy.greedy and greedy.filter_values() == (1.0, 1, OFF_P)
    assert kept(LOGITS, **dict(zip(("temperature", "top_k", "top_p"), greedy.filter_values()))) == \
        pytest.approx({1: 1.0})


@pytest.mark.parametrize("kwargs, message", [
    ({"length": 0}, "The length must be a whole number from 1 to 100,000."),
    ({"temperature": -1.0}, "The temperature must be a number from 0 (always the likeliest) to 10."),
    ({"temperature": None}, "The temperature must be a number from 0 (always the likeliest) to 10."),
    ({"top_k": 2.5}, "The top-k must be a whole number of 0 (off) or more."),
    ({"top_p": float("nan")}, "The top-p must be a number from 0 to 1 (1 is off)."),
    ({"num_samples": 17}, "The number of samples must be a whole number from 1 to 16."),
    ({"seed": -1}, "The seed must be a whole number of 0 or more."),
])
def test_a_bad_sampling_setting_is_a_sentence_in_english_and_chinese(kwargs, message):
    with pytest.raises(TextgenError) as caught:
        SamplingSettings(**kwargs)
    assert str(caught.value) == message
    chinese = translate_error(caught.value, "zh")
    assert chinese != message and any("\u4e00" <= c <= "\u9fff" for c in chinese)


def test_run_the_cli_and_the_explorer_share_one_default_temperature():
    from textgen import cli, explore
    from textgen.inference import Run

    defaults = {inspect.signature(fn).parameters["temperature"].default
                for fn in (Run.generate, Run.stream, Run.samples, Run.stream_samples, Sampler.generate,
                           explore.next_token_distribution, explore.distribution_from_logits)}
    generate = cli.build_parser().parse_args(["generate", "some-run"])
    assert defaults == {generate.temperature} == {DEFAULT_TEMPERATURE} == {1.0}


def test_the_explorer_reads_the_context_the_sampler_reads_past_the_window():
    from textgen.models import cached_context

    assert [cached_context(n, 8) for n in range(1, 30)] == cache_context_lengths(29, 8)
    assert cached_context(64, 64) == 64 and cached_context(65, 64) == 33 and cached_context(96, 64) == 64
