"""Held-out scoring, exactly as the evaluation protocol says.

Loss is the mean cross-entropy per character, in nats, over non-overlapping
windows of the training sequence length, each window starting from a fresh
state. Word- and subword-level models divide their summed token loss by the
characters their tokens cover, so every model is scored on the same scale.
"""

from __future__ import annotations

import math

import numpy as np
import keras
from keras import ops

from textgen.sampling import compile_function
from textgen.tokenizers import WORD_PIECE_RE

LN2 = math.log(2)


def windows(ids: np.ndarray, seq_len: int, batch_size: int):
    """Batches (x, y, mask) of non-overlapping windows; the last ones padded and masked."""
    targets = len(ids) - 1
    count = max(1, math.ceil(targets / seq_len))
    count += -count % batch_size
    x = np.zeros(count * seq_len, np.int32)
    y = np.zeros(count * seq_len, np.int32)
    mask = np.zeros(count * seq_len, np.float32)
    x[:targets], y[:targets], mask[:targets] = ids[:-1], ids[1:], 1.0
    shape = (count // batch_size, batch_size, seq_len)
    yield from zip(x.reshape(shape), y.reshape(shape), mask.reshape(shape))


class Scorer:
    """Summed next-token loss of a model over token ids, compiled once per model."""

    def __init__(self, model: keras.Model, config: dict, batch_size: int = 64):
        self.model, self.seq_len, self.batch_size = model, config["seq_len"], batch_size
        # XLA for the Transformer only: like Keras itself, the recurrent layers
        # skip it, since it slows them down on a CPU.
        self._batch_loss = compile_function(self._loss_sum, xla=config["arch"] == "transformer",
                                            model=model)

    def _loss_sum(self, x, y, mask):
        logits = self.model(x, training=False)
        nats = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return ops.sum(ops.cast(nats, "float32") * mask)

    def total_nats(self, ids: np.ndarray) -> float:
        total = 0.0
        for x, y, mask in windows(ids, self.seq_len, self.batch_size):
            total += float(ops.convert_to_numpy(self._batch_loss(x, y, mask)))
        return total


def target_chars(tokenizer, text: str, ids: np.ndarray) -> int:
    """How many characters the predicted tokens (all but the first) cover: every
    tokenizer covers the whole text, so that is the text less its first token."""
    if len(ids) == 0:
        return 0
    if tokenizer.kind == "char":
        return len(ids) - 1
    if tokenizer.kind == "word":
        return len(text) - WORD_PIECE_RE.match(text).end()
    return len(text) - tokenizer.token_length(int(ids[0]))


def score_text(scorer: Scorer, tokenizer, text: str) -> dict:
    ids = tokenizer.encode(text)
    nats = scorer.total_nats(ids)
    chars = max(target_chars(tokenizer, text, ids), 1)
    per_char = nats / chars
    return {
        "nats_per_char": per_char,
        "bits_per_char": per_char / LN2,
        "perplexity": math.exp(min(nats / max(len(ids) - 1, 1), 700.0)),
        "chars": chars,
        "tokens": int(len(ids)),
    }
