"""textgen.inside against first principles: what each view shows is recomputed here by hand
(numpy, from the model's own weights) or checked against the definition it claims."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import textgen
from textgen import inside
from textgen.errors import TextgenError
from tests.conftest import APP_ROOT

TEXT = ('First Citizen:\nBefore we proceed any further, hear me speak.\n\n'
        'All:\n"Speak, speak." (Say (it) again)\n')


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return {arch: textgen.load_run(path) for arch, path in tiny_runs.items()}


def weights_of(layer) -> list[np.ndarray]:
    return [np.asarray(w) for w in layer.get_weights()]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_by_hand(cell, xs):
    """Keras's GRU (reset_after=True) stepped one token at a time from h = 0."""
    kernel, recurrent, bias = weights_of(cell)
    h = np.zeros(recurrent.shape[0])
    out = []
    for x in xs:
        xz, xr, xh = np.split(x @ kernel + bias[0], 3)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        out.append(h)
    return np.array(out)


def lstm_by_hand(cell, xs):
    """Keras's LSTM stepped one token at a time from h = c = 0."""
    kernel, recurrent, bias = weights_of(cell)
    h = np.zeros(recurrent.shape[0])
    c = np.zeros_like(h)
    out = []
    for x in xs:
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.array(out)


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_hidden_activations_equal_the_cells_stepped_by_hand_from_a_zero_state(runs, arch):
    run = runs[arch]
    ids, _ = inside.token_spans(run, TEXT)
    x = weights_of(run.model.get_layer("embedding"))[0][ids].astype(np.float64)
    step = gru_by_hand if arch == "gru" else lstm_by_hand
    assert inside.recurrent_layers(run) == 2
    for layer in range(2):
        x = step(run.model.get_layer(f"rnn_{layer}").cell, x)
        found = inside.hidden_activations(run, TEXT, layer)
        assert found.shape == (len(ids), 32) and found.dtype == np.float32
        np.testing.assert_allclose(found, x, atol=1e-5)


def test_a_character_models_tokens_each_cover_one_character(runs):
    ids, spans = inside.token_spans(runs["gru"], TEXT)
    assert ids.dtype == np.int32 and len(ids) == len(TEXT)
    assert spans == [(i, i + 1) for i in range(len(TEXT))]


def layer_norm(x, layer):
    gamma, beta = weights_of(layer)
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * gamma + beta


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def test_attention_rows_sum_to_one_and_are_zero_past_the_position(runs):
    maps = inside.attention_maps(runs["transformer"], TEXT)
    weights = maps["weights"]
    steps = len(maps["ids"])
    assert steps == 32 and weights.shape == (2, runs["transformer"].config["heads"], 32, 32)
    assert maps["spans"][-1] == (len(TEXT) - 1, len(TEXT))  # the last seq_len tokens of the text
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[..., np.triu_indices(steps, 1)[0], np.triu_indices(steps, 1)[1]] == 0)
    assert np.all(weights[..., 1:, 0] < 1)  # later positions spread their attention


def test_the_attention_computed_by_hand_reproduces_the_models_logits(runs):
    run = runs["transformer"]
    maps = inside.attention_maps(run, TEXT)
    ids, found = maps["ids"], maps["weights"]
    steps = len(ids)
    embedding = run.model.get_layer("embedding")
    x = (weights_of(embedding.tokens)[0][ids] + weights_of(embedding.positions)[0][:steps]).astype(np.float64)
    causal = np.tril(np.ones((steps, steps), bool))
    for index in range(run.config["layers"]):
        block = run.model.get_layer(f"block_{index}")
        attention = block.attention
        h = layer_norm(x, block.norm1)
        project = [np.einsum("tw,whd->thd", h, w[0]) + w[1] for w in
                   (weights_of(attention._query_dense), weights_of(attention._key_dense),
                    weights_of(attention._value_dense))]
        query, key, value = project
        scores = np.einsum("qhd,khd->hqk", query, key) / math.sqrt(query.shape[-1])
        scores = np.where(causal, scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        np.testing.assert_allclose(found[index], weights, atol=1e-5)
        out_kernel, out_bias = weights_of(attention._output_dense)
        x = x + np.einsum("hqk,khd,hdw->qw", found[index].astype(np.float64), value, out_kernel) + out_bias
        expand_kernel, expand_bias = weights_of(block.expand)
        project_kernel, project_bias = weights_of(block.project)
        x = x + gelu(layer_norm(x, block.norm2) @ expand_kernel + expand_bias) @ project_kernel + project_bias
    head_kernel, head_bias = weights_of(run.model.get_layer("logits"))
    logits = layer_norm(x, run.model.get_layer("final_norm")) @ head_kernel + head_bias
    model_logits = np.asarray(run.model(ids[None], training=False))[0]
    np.testing.assert_allclose(logits, model_logits, atol=1e-3)


def test_the_logit_lens_last_stage_is_the_models_own_prediction(runs):
    run = runs["transformer"]
    maps = inside.attention_maps(run, TEXT)
    position = 20
    stages = inside.logit_lens(run, TEXT, position, top=3)
    assert [s["stage"] for s in stages] == ["embedding", "block 1", "block 2"]
    logits = np.asarray(run.model(maps["ids"][None], training=False))[0, position]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    best = np.argsort(-p)[:3]
    expected = [(inside.token_label(run.tokenizer, int(i)), float(p[i])) for i in best]
    assert [label for label, _ in stages[-1]["top"]] == [label for label, _ in expected]
    np.testing.assert_allclose([q for _, q in stages[-1]["top"]], [q for _, q in expected], atol=1e-5)
    for stage in stages:
        assert len(stage["top"]) == 3 and 0 < sum(q for _, q in stage["top"]) <= 1 + 1e-6


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_saliency_is_zero_at_and_after_the_target_and_nonzero_before_it(runs, arch):
    run = runs[arch]
    position = 25
    found = inside.saliency(run, TEXT, position)
    steps = 32 if arch == "transformer" else len(TEXT)
    assert found.shape == (steps,) and found.dtype == np.float32
    assert np.all(found[position:] == 0)
    assert np.count_nonzero(found[:position]) == position


def test_saliency_is_the_gradient_of_the_log_probability_times_the_input(runs):
    """A finite difference along the embedding of one earlier token recovers its entry."""
    run = runs["gru"]
    position, earlier, eps = 12, 9, 1e-2
    ids, _ = inside.token_spans(run, TEXT)
    table = weights_of(run.model.get_layer("embedding"))[0]
    embedded = table[ids[:position]][None].astype(np.float32)

    def log_p(scale):
        x = embedded.copy()
        x[0, earlier] *= scale
        for layer in range(2):
            x = np.asarray(run.model.get_layer(f"rnn_{layer}")(x))
        logits = np.asarray(run.model.get_layer("logits")(x[:, -1]))[0].astype(np.float64)
        return logits[ids[position]] - np.log(np.exp(logits - logits.max()).sum()) - logits.max()

    # d log p / d scale at scale 1 is the gradient dotted with the embedding.
    expected = (log_p(1 + eps) - log_p(1 - eps)) / (2 * eps)
    assert inside.saliency(run, TEXT, position)[earlier] == pytest.approx(expected, rel=2e-2, abs=1e-4)


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_the_per_character_losses_average_to_what_evaluate_gives(runs, arch):
    run = runs[arch]
    found = inside.surprise(run, TEXT)
    expected = run.evaluate(TEXT)["nats_per_char"]
    assert found["nats_per_char"] == pytest.approx(expected, abs=1e-4)
    assert np.isnan(found["token_nats"][0]) and np.isnan(found["char_nats"][0])
    assert np.nanmean(found["char_nats"]) == pytest.approx(expected, abs=1e-4)
    hardest = found["hardest"]
    assert len(hardest) == 10 and hardest[0]["nats"] == pytest.approx(np.nanmax(found["token_nats"]))
    assert [h["nats"] for h in hardest] == sorted((h["nats"] for h in hardest), reverse=True)


def train_tiny(tmp_path, tokenizer: str):
    out = tmp_path / f"tiny-{tokenizer}"
    cmd = [sys.executable, "-m", "textgen", "train", "builtin:sample", "--out", str(out),
           "--arch", "gru", "--layers", "1", "--units", "16", "--embedding-dim", "8",
           "--seq-len", "16", "--batch-size", "16", "--time-budget", "0", "--epochs", "1",
           "--tokenizer", tokenizer, "--max-vocab", "300", "--seed", "1"]
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    done = subprocess.run(cmd, cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return textgen.load_run(out)


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
def test_word_and_subword_losses_average_to_what_evaluate_gives_unknowns_included(tmp_path, tokenizer):
    run = train_tiny(tmp_path, tokenizer)
    text = "Citizens, the zyzzyva quorbled: “Ω is ∮ unknown!”\nSpeak, speak."
    assert run.unknown_in(text)  # unknown words (word) or characters (subword) are charged
    ids, spans = inside.token_spans(run, text)
    assert list(ids) == list(run.tokenizer.encode(text))
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert "".join(text[s:e] for s, e in spans) == text
    found = inside.surprise(run, text)
    assert found["nats_per_char"] == pytest.approx(run.evaluate(text)["nats_per_char"], abs=1e-4)
    assert np.nanmean(found["char_nats"]) == pytest.approx(found["nats_per_char"], abs=1e-9)
    unknown = [i for i, token in enumerate(ids) if token == run.tokenizer.unknown_id]
    assert unknown and spans[unknown[0]][1] - spans[unknown[0]][0] >= 1


def test_the_quotes_pattern_marks_inside_straight_and_curly_quotes_only():
    text = 'a "bc" d “ef” g'
    assert "".join(c for c, m in zip(text, inside.pattern_mask(text, "quotes")) if m) == "bcef"
    assert inside.pattern_mask('x "open', "quotes").tolist() == [False] * 3 + [True] * 4


def test_the_brackets_pattern_marks_nested_brackets():
    text = "a(b[c{d}e]f)g) h"
    mask = inside.pattern_mask(text, "brackets")
    assert "".join(c for c, m in zip(text, mask) if m) == "bcdef"


def test_line_start_after_space_and_char_patterns():
    text = "ab\ncd e\n\nf"
    assert np.flatnonzero(inside.pattern_mask(text, "line_start")).tolist() == [0, 3, 8, 9]
    assert np.flatnonzero(inside.pattern_mask(text, "after_space")).tolist() == [6]
    assert np.flatnonzero(inside.pattern_mask(text, "char", "d")).tolist() == [4]
    for pattern in ("quotes", "line_start", "after_space", "brackets"):
        assert inside.pattern_mask("", pattern).shape == (0,)


def test_a_bad_pattern_is_refused_with_a_sentence():
    with pytest.raises(TextgenError, match="no pattern called vowels"):
        inside.pattern_mask("abc", "vowels")
    with pytest.raises(TextgenError, match="exactly one character"):
        inside.pattern_mask("abc", "char", "ab")


def test_a_token_is_marked_when_any_character_it_covers_is():
    spans = [(0, 2), (2, 3), (3, 6)]
    assert inside.token_mask(spans, [False, True, False, False, False, False]).tolist() == [True, False, False]
    assert inside.token_mask(spans, [False, False, False, False, False, True]).tolist() == [False, False, True]


def test_rank_units_finds_a_unit_planted_by_hand():
    rng = np.random.default_rng(0)
    marked = rng.random(200) < 0.3
    activations = rng.normal(size=(200, 8))
    activations[:, 3] = marked + 0.01 * rng.normal(size=200)
    activations[:, 5] = -marked.astype(float)
    found = inside.rank_units(activations, marked, top=3)
    assert [f["unit"] for f in found[:2]] == [3, 5]
    assert found[0]["score"] == pytest.approx(1.0) and found[0]["sign"] == 1
    assert found[1]["score"] == pytest.approx(1.0) and found[1]["sign"] == -1
    assert found[2]["score"] < 0.3


def test_rank_units_scores_are_the_roc_area_counted_pair_by_pair():
    rng = np.random.default_rng(1)
    marked = np.array([True, False, True, False, False, True, False])
    activations = rng.integers(0, 3, size=(7, 4)).astype(float)  # ties are counted as half
    for found in inside.rank_units(activations, marked, top=4):
        column = activations[:, found["unit"]]
        pairs = [(a > b) + 0.5 * (a == b) for a in column[marked] for b in column[~marked]]
        auc = np.mean(pairs)
        assert found["score"] == pytest.approx(abs(2 * auc - 1))
        assert found["sign"] == (1 if auc >= 0.5 else -1)


def test_rank_units_needs_marked_and_unmarked_tokens():
    with pytest.raises(TextgenError, match="not all of them and not none"):
        inside.rank_units(np.zeros((3, 2)), [True, True, True])
    with pytest.raises(TextgenError, match="not all of them and not none"):
        inside.rank_units(np.zeros((3, 2)), [False, False, False])


def test_principal_components_of_a_known_matrix():
    # Points spread 10 along (1, 1, 0)/sqrt2 and 1 along (0, 0, 1), none along the third axis.
    along = np.array([-2, -1, 0, 1, 2], float)
    across = np.array([1, -1, 0, -1, 1], float) * 0.5
    matrix = (np.outer(along * 5, [1, 1, 0]) / math.sqrt(2) + np.outer(across, [0, 0, 1]) + 7)
    coords, explained = inside.principal_components(matrix)
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(along * 5), atol=1e-5)
    np.testing.assert_allclose(np.abs(coords[:, 1]), np.abs(across - across.mean()), atol=1e-5)
    total = np.sum((along * 5) ** 2) + np.sum((across - across.mean()) ** 2)
    np.testing.assert_allclose(explained, [np.sum((along * 5) ** 2) / total,
                                           np.sum((across - across.mean()) ** 2) / total], atol=1e-6)


def test_the_token_map_places_every_token_and_names_invisible_ones(runs):
    run = runs["gru"]
    found = inside.token_map(run)
    vocab = run.tokenizer.vocab_size
    assert found["coords"].shape == (vocab, 2) and len(found["tokens"]) == vocab
    assert "␣" in found["tokens"] and "↵" in found["tokens"]
    assert 0 < found["explained"][1] <= found["explained"][0] <= 1


def test_nearest_tokens_leave_the_token_itself_out_best_first(runs):
    run = runs["gru"]
    token = int(run.tokenizer.encode("e")[0])
    found = inside.nearest_tokens(run, token, k=5)
    assert len(found) == 5 and "e" not in [label for label, _ in found]
    similarities = [s for _, s in found]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
    table = weights_of(run.model.get_layer("embedding"))[0]
    cosine = table @ table[token] / (np.linalg.norm(table, axis=1) * np.linalg.norm(table[token]))
    cosine[token] = -2
    assert similarities[0] == pytest.approx(cosine.max(), abs=1e-5)
    with pytest.raises(TextgenError, match="There is no token"):
        inside.nearest_tokens(run, run.tokenizer.vocab_size)


def test_views_refuse_what_they_cannot_show_with_a_sentence(runs):
    with pytest.raises(TextgenError, match="at most 2,000"):
        inside.token_spans(runs["gru"], "a" * (inside.MAX_CHARS + 1))
    with pytest.raises(TextgenError, match="needs a GRU or LSTM model"):
        inside.hidden_activations(runs["transformer"], TEXT, 0)
    with pytest.raises(TextgenError, match="needs a Transformer model"):
        inside.attention_maps(runs["gru"], TEXT)
    with pytest.raises(TextgenError, match="numbered 0 to 1; there is no layer 2"):
        inside.hidden_activations(runs["gru"], TEXT, 2)
    with pytest.raises(TextgenError, match="there is no position 0"):
        inside.saliency(runs["lstm"], TEXT, 0)
    with pytest.raises(TextgenError, match="there is no position 32"):
        inside.logit_lens(runs["transformer"], TEXT, 32)
    with pytest.raises(TextgenError, match="too little text"):
        inside.surprise(runs["gru"], "a")
    assert inside.recurrent_layers(runs["transformer"]) == 0
