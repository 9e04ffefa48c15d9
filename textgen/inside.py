"""What a model computes inside: the numbers behind the Inside page and the report's surprise view.

Every function takes a loaded run (``textgen.load_run``) and returns plain numpy arrays,
lists and dicts. Texts are read in tokens; ``token_spans`` says which characters each token
covers, so a view can colour the text character by character.

- Hidden units of a GRU/LSTM over a text and the units that fire on a pattern, after
  Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks",
  and Strobelt et al. (2018), "LSTMVis".
- A Transformer's attention weights and nostalgebraist's "logit lens" (2020).
- The loss at each character, by the evaluation protocol (``textgen.evaluation``).
- Gradient x input saliency (Simonyan, Vedaldi & Zisserman 2014; Shrikumar et al. 2017).
- The token embeddings in two dimensions (principal components) and their nearest neighbours.

Nothing here changes the model; everything runs on every Keras backend.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import keras
from keras import ops

from textgen.backend import compile_function, gradient
from textgen.charts import visible_char
from textgen.errors import TextgenError
from textgen.evaluation import target_chars
from textgen.models import body_layers
from textgen.unknowns import SpellingModel, unknown_pieces

MAX_CHARS = 2000
PATTERNS = ("quotes", "line_start", "after_space", "brackets", "char")
HARDEST = 10
# Token sequences are padded up to a multiple of this, so compiled functions see few shapes.
PAD_TOKENS = 128
# The functions here are compiled as graphs without XLA (TensorFlow): a text is analysed
# once, and XLA's compiling takes seconds (7 s for a 2x256 Transformer on a 2-core CPU)
# where it saves milliseconds.

_OPENING_QUOTES, _CLOSING_QUOTES, _STRAIGHT_QUOTE = "“", "”", '"'
_OPENING_BRACKETS, _CLOSING_BRACKETS = "([{", ")]}"

# Compiled functions per model: {model: {name: function}}, dropped with the model.
_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _cached(run, name, build):
    functions = _compiled.setdefault(run.model, {})
    if name not in functions:
        functions[name] = build()
    return functions[name]


def _numpy(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor))


def _padded(ids: np.ndarray, size: int) -> np.ndarray:
    """``ids`` (T,) followed by zeros up to ``size`` tokens, as a batch of one (1, size) int32."""
    out = np.zeros((1, size), np.int32)
    out[0, :len(ids)] = ids
    return out


def _padded_length(tokens: int) -> int:
    return max(PAD_TOKENS, -(-tokens // PAD_TOKENS) * PAD_TOKENS)


# --- reading a text in tokens -------------------------------------------------------------


def _checked_text(text) -> str:
    if not isinstance(text, str):
        raise TextgenError("The text to look inside the model with must be text.")
    if len(text) > MAX_CHARS:
        raise TextgenError("The text is {length:,} characters long; these views read at most "
                           "{limit:,}. Choose a shorter passage.", length=len(text), limit=MAX_CHARS)
    return text


def _token_lengths(tokenizer, text: str, ids: np.ndarray) -> np.ndarray:
    """Characters each token of ``ids`` covers: one a character token, the piece a word
    token (an ``<unk>`` its unknown piece) and a subword token's own text (an ``<unk>`` one character)."""
    if tokenizer.kind == "char":
        return np.ones(len(ids), np.int64)
    if tokenizer.kind == "word":
        return np.array([len(piece) for piece in tokenizer.split(text)], np.int64)
    return np.array([tokenizer.token_length(int(i)) for i in ids], np.int64)


def token_spans(run, text) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The tokens of ``text`` and where each stands in it.

    Returns (ids (T,) int32 exactly as ``run.tokenizer.encode(text)`` gives them, a list of
    T (start, end) character offsets into ``text``): a character model's token i covers
    (i, i + 1); a word or subword token the characters it stands for, ``<unk>`` included.
    The spans follow each other and cover the whole text.

    Raises TextgenError for a text longer than MAX_CHARS characters, or (character models)
    for characters the model never saw.
    """
    text = _checked_text(text)
    ids = np.asarray(run.tokenizer.encode(text), np.int32)
    ends = np.cumsum(_token_lengths(run.tokenizer, text, ids))
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return ids, [(int(s), int(e)) for s, e in zip(starts, ends)]


def token_label(tokenizer, token_id: int) -> str:
    """How a token is shown: its text with a space as "␣", a line break as "↵" (other
    invisible characters as symbols or code points), and "<unk>" for the unknown token."""
    if token_id == getattr(tokenizer, "unknown_id", None):
        return "<unk>"
    return "".join(visible_char(char) for char in tokenizer.decode([token_id]))


# --- surprise: the loss at every character ---------------------------------------------------


def _token_nats_function(run):
    model = run.model

    def nats(x, y):
        logits = model(x, training=False)
        return ops.cast(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True),
                        "float32")

    return compile_function(nats, xla=False, model=model)


def _model_token_nats(run, ids: np.ndarray) -> np.ndarray:
    """(T - 1,) nats of predicting ids[1:], in non-overlapping windows of seq_len tokens,
    each from a fresh state (the rows of one batch), as ``textgen.evaluation.windows``."""
    seq_len = run.config["seq_len"]
    targets = len(ids) - 1
    windows = math.ceil(targets / seq_len)
    rows = 1 << max(windows - 1, 0).bit_length()  # a power of two: few compiled shapes
    x = np.zeros(rows * seq_len, np.int32)
    y = np.zeros(rows * seq_len, np.int32)
    x[:targets], y[:targets] = ids[:-1], ids[1:]
    nats = _cached(run, "token_nats", lambda: _token_nats_function(run))
    out = _numpy(nats(x.reshape(rows, seq_len), y.reshape(rows, seq_len)))
    return out.reshape(-1)[:targets].astype(np.float64)


def _spelling_nats(run, text: str, ids: np.ndarray) -> np.ndarray:
    """(T,) the spelling charge of each predicted ``<unk>`` token (0 elsewhere), as
    ``textgen.evaluation.HeldOutText`` charges them."""
    charge = np.zeros(len(ids))
    unknown_id = getattr(run.tokenizer, "unknown_id", None)
    if unknown_id is None:
        return charge
    pieces = unknown_pieces(run.tokenizer, text)
    if not pieces:
        return charge
    speller = SpellingModel.for_tokenizer(run.tokenizer)
    for index, piece in zip(np.flatnonzero(ids == unknown_id), pieces):
        if index > 0:  # the first token is never predicted, so never charged
            charge[index] = speller.piece_nats(piece)
    return charge


def surprise(run, text) -> dict:
    """The model's loss at each token and character of ``text``, by the evaluation protocol.

    Tokens are scored in non-overlapping windows of the run's seq_len, each from a fresh
    state; an ``<unk>`` token is charged, on top, the cost of spelling out what it stands
    for (``textgen.unknowns.SpellingModel``), exactly as ``Run.evaluate`` scores a text.

    Returns {"token_nats": (T,) float64 nats per token, nan for the first (never predicted),
    "char_nats": (len(text),) float64, each token's nats spread evenly over the characters
    it covers (nan for the first token's), "nats_per_char": the mean over the scored
    characters, equal to ``run.evaluate(text)["nats_per_char"]``, "hardest": the HARDEST
    tokens of highest loss, hardest first, as {"start", "end" (character offsets), "nats"}}.

    Raises TextgenError for a text under two characters or over MAX_CHARS, or one a
    character model cannot read.
    """
    ids, spans = token_spans(run, text)
    if len(text) < 2 or len(ids) < 2:
        raise TextgenError("There is too little text to score. Give at least two characters.")
    token_nats = np.full(len(ids), np.nan)
    token_nats[1:] = _model_token_nats(run, ids)
    token_nats += _spelling_nats(run, text, ids)
    char_nats = np.full(len(text), np.nan)
    for (start, end), nats in zip(spans[1:], token_nats[1:]):
        char_nats[start:end] = nats / max(end - start, 1)
    chars = max(target_chars(run.tokenizer, text, ids), 1)
    order = np.argsort(-token_nats[1:], kind="stable")[:HARDEST] + 1
    return {
        "token_nats": token_nats,
        "char_nats": char_nats,
        "nats_per_char": float(np.sum(token_nats[1:]) / chars),
        "hardest": [{"start": spans[i][0], "end": spans[i][1], "nats": float(token_nats[i])}
                    for i in order],
    }


# --- hidden units of a recurrent model -------------------------------------------------------


def recurrent_layers(run) -> int:
    """How many GRU/LSTM layers the model stacks (0 for a Transformer)."""
    if run.config["arch"] == "transformer":
        return 0
    return len(body_layers(run.model))


def _require_arch(run, recurrent: bool) -> None:
    if recurrent and run.config["arch"] == "transformer":
        raise TextgenError("This view needs a GRU or LSTM model; {name} is a Transformer.",
                           name=run.name)
    if not recurrent and run.config["arch"] != "transformer":
        raise TextgenError("This view needs a Transformer model; {name} is a {arch} model.",
                           name=run.name, arch=run.config["arch"].upper())


def _hidden_function(run, layer: int):
    embedding = run.model.get_layer("embedding")
    stack = body_layers(run.model)[:layer + 1]

    def hidden(ids):
        x = embedding(ids)
        for rnn in stack:
            x = rnn(x, training=False)
        return x

    return compile_function(hidden, xla=False, model=run.model)


def hidden_activations(run, text, layer) -> np.ndarray:
    """(T, units) float32: the output (hidden state h) of recurrent layer ``layer`` (0 = the
    bottom one) after each token of ``text``, the whole text read in one pass from a zero
    state, as Karpathy et al. (2015) colour text by single cells. Values lie in (-1, 1).

    Raises TextgenError for a Transformer run, a layer out of range, or a text
    ``token_spans`` refuses.
    """
    _require_arch(run, recurrent=True)
    count = recurrent_layers(run)
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < count:
        raise TextgenError("This model has {layers} recurrent layers, numbered 0 to {last}; "
                           "there is no layer {layer}.", layers=count, last=count - 1, layer=layer)
    ids, _ = token_spans(run, text)
    if len(ids) == 0:
        return np.zeros((0, run.config["units"]), np.float32)
    # Padding after the text leaves a recurrent layer's earlier outputs as they are.
    hidden = _cached(run, f"hidden_{int(layer)}", lambda: _hidden_function(run, int(layer)))
    out = _numpy(hidden(_padded(ids, _padded_length(len(ids)))))
    return out[0, :len(ids)].astype(np.float32)


# --- patterns and the units that fire on them ------------------------------------------------


def _inside_pairs(text: str, opening: str, closing: str, toggles: str = "") -> np.ndarray:
    """True for the characters inside (nested) pairs of ``opening``/``closing`` marks, or
    between a ``toggles`` mark and the next; the marks themselves are not inside."""
    mask = np.zeros(len(text), bool)
    depth, toggled = 0, False
    for i, char in enumerate(text):
        if char in opening:
            depth += 1
        elif char in closing:
            depth = max(depth - 1, 0)
        elif char in toggles:
            toggled = not toggled
        else:
            mask[i] = depth > 0 or toggled
    return mask


def pattern_mask(text, pattern, char=None) -> np.ndarray:
    """(len(text),) bool: which characters of ``text`` belong to a ready pattern.

    "quotes": inside "..." or “...” (the quote marks excluded; an unclosed quote runs to the
    end); "line_start": the first character of each line; "after_space": a character right
    after a space; "brackets": inside (), [] or {}, nested (the brackets excluded); "char":
    equal to ``char``. Raises TextgenError for another pattern, or "char" without one character.
    """
    if not isinstance(text, str):
        raise TextgenError("The text to look inside the model with must be text.")
    if pattern not in PATTERNS:
        raise TextgenError("There is no pattern called {pattern}. Choose one of: {patterns}.",
                           pattern=pattern, patterns=", ".join(PATTERNS))
    if pattern == "quotes":
        return _inside_pairs(text, _OPENING_QUOTES, _CLOSING_QUOTES, _STRAIGHT_QUOTE)
    if pattern == "brackets":
        return _inside_pairs(text, _OPENING_BRACKETS, _CLOSING_BRACKETS)
    before = "\n" + text[:-1]  # the character before each one (a line break before the first)
    if pattern == "line_start":
        return np.array([c == "\n" for c in before[:len(text)]], bool)
    if pattern == "after_space":
        return np.array([c == " " for c in before[:len(text)]], bool)
    if not isinstance(char, str) or len(char) != 1:
        raise TextgenError('The pattern "char" needs exactly one character to look for.')
    return np.array([c == char for c in text], bool)


def token_mask(spans, char_mask) -> np.ndarray:
    """(T,) bool: a token is marked if any character it covers is marked in ``char_mask``
    ((len(text),) bool); ``spans`` as from ``token_spans``."""
    marked = np.concatenate([[0], np.cumsum(np.asarray(char_mask, bool))])
    if not spans:
        return np.zeros(0, bool)
    starts, ends = np.array(spans, np.int64).T
    return marked[ends] - marked[starts] > 0


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 of each column of ``values`` (T, units), ties given their mean rank."""
    order = np.argsort(values, axis=0, kind="stable")
    ranks = np.empty_like(values, dtype=np.float64)
    for unit in range(values.shape[1]):
        column = values[order[:, unit], unit]
        # Runs of equal values share the mean of the ranks they span.
        starts = np.flatnonzero(np.concatenate([[True], column[1:] != column[:-1]]))
        ends = np.concatenate([starts[1:], [len(column)]])
        mean_rank = (starts + ends + 1) / 2.0
        ranks[order[:, unit], unit] = np.repeat(mean_rank, ends - starts)
    return ranks


def rank_units(activations, marked, top=5) -> list[dict]:
    """The units whose activation best separates the marked tokens from the others.

    ``activations``: (T, units) as from ``hidden_activations``; ``marked``: (T,) bool.
    Each unit's score is |2 AUC - 1| in [0, 1], with AUC the area under the ROC curve of
    its activation as a detector of marked tokens (Mann-Whitney U over n1 n0, from ranks,
    ties counted as half): 1 when a threshold splits them exactly, 0 when it tells nothing.
    Returns the ``top`` best, best first (ties by unit number): {"unit": int, "score": float,
    "sign": +1 when higher on marked tokens, -1 when lower}.

    Raises TextgenError when ``marked`` is all True or all False, or does not match.
    """
    values = np.asarray(activations, np.float64)
    marks = np.asarray(marked, bool).reshape(-1)
    if values.ndim != 2 or values.shape[0] != marks.shape[0]:
        raise TextgenError("The marks do not match the text: there are {marks} marks for "
                           "{tokens} tokens.", marks=marks.shape[0], tokens=values.shape[0])
    positives = int(marks.sum())
    negatives = len(marks) - positives
    if positives == 0 or negatives == 0:
        raise TextgenError("Mark some characters of the text, not all of them and not none, "
                           "so the units can be compared on both.")
    rank_sum = _ranks(values)[marks].sum(axis=0)
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    scores = np.abs(2 * auc - 1)
    best = np.lexsort((np.arange(len(scores)), -scores))[:max(int(top), 0)]
    return [{"unit": int(u), "score": float(scores[u]), "sign": 1 if auc[u] >= 0.5 else -1}
            for u in best]


# --- a Transformer's attention and its logit lens --------------------------------------------


def _transformer_function(run):
    model = run.model
    embedding = model.get_layer("embedding")
    blocks = body_layers(model)

    def forward(ids):
        """(residual streams (blocks + 1, batch, T, width), attention (blocks, batch, heads, T, T))."""
        x = embedding(ids)
        streams, weights = [x], []
        for block in blocks:  # TransformerBlock.call at inference, keeping the attention
            h = block.norm1(x)
            attended, scores = block.attention(h, h, use_causal_mask=True,
                                               return_attention_scores=True, training=False)
            x = x + attended
            x = x + block.project(block.expand(block.norm2(x)))
            streams.append(x)
            weights.append(scores)
        return ops.stack(streams, 0), ops.stack(weights, 0)

    return compile_function(forward, xla=False, model=model)


def _window(run, text) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The ids and spans of the last seq_len tokens of ``text``: what a Transformer reads."""
    ids, spans = token_spans(run, text)
    seq_len = run.config["seq_len"]
    return ids[-seq_len:], spans[-seq_len:]


def _transformer_pass(run, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(streams (blocks + 1, T, width), weights (blocks, heads, T, T)) for ``ids`` (T,), T at
    most seq_len; the window is padded to seq_len, which a causal model's earlier positions ignore."""
    forward = _cached(run, "transformer", lambda: _transformer_function(run))
    streams, weights = forward(_padded(ids, run.config["seq_len"]))
    steps = len(ids)
    return (_numpy(streams)[:, 0, :steps].astype(np.float32),
            _numpy(weights)[:, 0, :, :steps, :steps].astype(np.float32))


def attention_maps(run, text) -> dict:
    """A Transformer's attention over the last seq_len tokens of ``text`` (the most it reads).

    Returns {"ids": (T,) int32, "spans": T (start, end) offsets into ``text``, "weights":
    (layers, heads, T, T) float32}: row t of a map is how position t shares its attention
    among positions 0..t; each row sums to 1 and is zero above the diagonal.

    Raises TextgenError for a GRU/LSTM run, or a text ``token_spans`` refuses.
    """
    _require_arch(run, recurrent=False)
    ids, spans = _window(run, text)
    if len(ids) == 0:
        heads = run.config["heads"]
        return {"ids": ids, "spans": spans,
                "weights": np.zeros((run.config["layers"], heads, 0, 0), np.float32)}
    _, weights = _transformer_pass(run, ids)
    return {"ids": ids, "spans": spans, "weights": weights}


def _check_position(position, first: int, last: int) -> int:
    if not isinstance(position, (int, np.integer)) or not first <= position <= last:
        raise TextgenError("Choose a position from {first} to {last}; there is no position "
                           "{position}.", first=first, last=last, position=position)
    return int(position)


def _top_tokens(run, probabilities: np.ndarray, top: int) -> list[tuple[str, float]]:
    best = np.argsort(-probabilities, kind="stable")[:top]
    return [(token_label(run.tokenizer, int(i)), float(probabilities[i])) for i in best]


def logit_lens(run, text, position, top=5) -> list[dict]:
    """What the model would predict after token ``position`` of attention_maps' window if it
    stopped early: nostalgebraist's "logit lens" (2020), the final layer norm and the output
    layer applied to the residual stream after the embedding and after each block.

    Returns one dict per stage, bottom first: {"stage": "embedding", "block 1", ...,
    "top": the ``top`` most likely next tokens as (shown label, probability)}; the last
    stage is the model's own prediction. Raises TextgenError for a GRU/LSTM run or a
    position outside the window.
    """
    _require_arch(run, recurrent=False)
    ids, _ = _window(run, text)
    position = _check_position(position, 0, len(ids) - 1)
    streams, _ = _transformer_pass(run, ids)
    final_norm, head = run.model.get_layer("final_norm"), run.model.get_layer("logits")
    logits = _numpy(head(final_norm(ops.convert_to_tensor(streams[:, position]))))
    probabilities = _numpy(ops.softmax(ops.convert_to_tensor(logits.astype(np.float32)), axis=-1))
    stages = ["embedding"] + [f"block {i}" for i in range(1, len(streams))]
    return [{"stage": stage, "top": _top_tokens(run, p, top)}
            for stage, p in zip(stages, probabilities)]


# --- saliency: why this token? ---------------------------------------------------------------


def _saliency_function(run):
    model = run.model
    embedding, head = model.get_layer("embedding"), model.get_layer("logits")
    stack = body_layers(model)
    if run.config["arch"] == "transformer":
        stack = stack + [model.get_layer("final_norm")]

    def log_probability(embedded, last, target):
        """log p(target | the tokens up to ``last``), from their embeddings (1, T, width)."""
        x = embedded
        for layer in stack:
            x = layer(x, training=False)
        logits = ops.cast(head(ops.take(x[0], last, axis=0)[None]), "float32")
        return ops.take(ops.log_softmax(logits, axis=-1)[0], target)

    def gradient_times_input(ids, last, target):
        embedded = embedding(ids)
        _, grad = gradient(lambda e: log_probability(e, last, target), embedded)
        return ops.sum(ops.cast(grad, "float32") * ops.cast(embedded, "float32"), axis=-1)[0]

    return compile_function(gradient_times_input, xla=False, model=model)


def saliency(run, text, position) -> np.ndarray:
    """(T,) float32 gradient x input (Simonyan et al. 2014; Shrikumar et al. 2017): how much
    each earlier token pushed the model towards the token at ``position`` (>= 1).

    Entry j < position is d log p(token at position | tokens before it) / d (the input
    embedding of token j), dotted with that embedding, in nats (positive: made the token
    likelier); entries at ``position`` and after are 0. Transformer: the tokens of
    attention_maps' window (the input embedding includes the position's); GRU/LSTM: the
    whole text from a zero state.

    Raises TextgenError for a position out of range or a text ``token_spans`` refuses.
    """
    if run.config["arch"] == "transformer":
        ids, _ = _window(run, text)
        size = run.config["seq_len"]
    else:
        ids, _ = token_spans(run, text)
        size = _padded_length(max(len(ids) - 1, 1))
    position = _check_position(position, 1, len(ids) - 1)
    # Tokens after the ones read change nothing in a causal model: the padding keeps few shapes.
    compute = _cached(run, "saliency", lambda: _saliency_function(run))
    values = _numpy(compute(_padded(ids[:position], size), np.int32(position - 1),
                            np.int32(ids[position])))
    out = np.zeros(len(ids), np.float32)
    out[:position] = values[:position]
    return out


# --- the token map -----------------------------------------------------------------------------


def _token_embeddings(run) -> np.ndarray:
    """(V, width) float32: the learnt embedding of every token id."""
    layer = run.model.get_layer("embedding")
    table = layer.tokens if run.config["arch"] == "transformer" else layer
    return _numpy(table.embeddings).astype(np.float32)


def principal_components(matrix) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``matrix`` (N, D) on its first two principal components, by the SVD of
    the centred matrix: (coords (N, 2) float32, explained (2,) float32, each component's
    share of the total variance). Each component's sign makes its largest coordinate
    positive, so the picture does not flip between runs of the same model. Fewer than two
    components (N or D under 2, or no variance) leave zeros."""
    centred = np.asarray(matrix, np.float64)
    centred = centred - centred.mean(axis=0, keepdims=True)
    coords = np.zeros((centred.shape[0], 2))
    explained = np.zeros(2)
    if centred.size == 0:
        return coords.astype(np.float32), explained.astype(np.float32)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    kept = min(2, len(s))
    projected = u[:, :kept] * s[:kept]
    largest = projected[np.argmax(np.abs(projected), axis=0), np.arange(kept)]
    coords[:, :kept] = projected * np.where(largest < 0, -1.0, 1.0)
    total = float(np.sum(s ** 2))
    if total > 0:
        explained[:kept] = s[:kept] ** 2 / total
    return coords.astype(np.float32), explained.astype(np.float32)


def token_map(run) -> dict:
    """Every token's learnt embedding in two dimensions.

    Returns {"coords": (V, 2) float32, the embeddings on their first two principal
    components (``principal_components``), "tokens": V shown labels (``token_label``:
    "␣" for a space, "↵" for a line break, "<unk>"), "explained": (2,) float32, the share
    of the variance each component explains}.
    """
    coords, explained = principal_components(_token_embeddings(run))
    labels = [token_label(run.tokenizer, i) for i in range(run.tokenizer.vocab_size)]
    return {"coords": coords, "tokens": labels, "explained": explained}


def nearest_tokens(run, token_id, k=8) -> list[tuple[str, float]]:
    """The ``k`` tokens whose embeddings are closest to token ``token_id``'s by cosine
    similarity (-1 to 1), best first, the token itself left out: (shown label, similarity).

    Raises TextgenError for a token id outside the vocabulary.
    """
    table = _token_embeddings(run).astype(np.float64)
    last = table.shape[0] - 1
    if not isinstance(token_id, (int, np.integer)) or not 0 <= token_id <= last:
        raise TextgenError("There is no token {token}: this vocabulary has tokens 0 to {last}.",
                           token=token_id, last=last)
    norms = np.linalg.norm(table, axis=1)
    similarity = table @ table[token_id] / np.maximum(norms * norms[token_id], 1e-12)
    similarity[token_id] = -np.inf
    best = np.argsort(-similarity, kind="stable")[:max(min(int(k), last), 0)]
    return [(token_label(run.tokenizer, int(i)), float(similarity[i])) for i in best]
