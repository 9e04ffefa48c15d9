"""Held-out scoring, exactly as the evaluation protocol says.

Loss is the mean cross-entropy per character, in nats, over non-overlapping
windows of the training sequence length, each window starting from a fresh
state. Word- and subword-level models divide their summed token loss by the
characters their tokens cover, so every model is scored on the same scale.

An unknown token (``<unk>``) stands for text the model never has to spell, so
on its own it would make not knowing words cheap. Each one is charged, on top
of the model's loss for predicting it, the cost of spelling out the characters
it stands for with a character model of the training split
(``textgen.unknowns.SpellingModel``): the score stays a true code length.
"""

from __future__ import annotations

import math

import numpy as np
import keras
from keras import ops

from textgen.backend import compile_function
from textgen.unknowns import SpellingModel, predicted_unknown_pieces
from textgen.units import LN2
from textgen.words import WORD_PIECE_RE


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


class HeldOutText:
    """A text ready to score: its token ids, the characters its predicted tokens cover,
    and the nats charged for spelling out its unknown tokens (worked out once, so the
    periodic held-out scores of training only run the model)."""

    def __init__(self, tokenizer, text: str, ids: np.ndarray | None = None):
        self.ids = tokenizer.encode(text) if ids is None else ids
        self.chars = max(target_chars(tokenizer, text, self.ids), 1)
        pieces = predicted_unknown_pieces(tokenizer, text, self.ids)
        self.unknown_chars = sum(map(len, pieces))
        self.spelling_nats = SpellingModel.for_tokenizer(tokenizer).total_nats(pieces) if pieces else 0.0

    @property
    def unknown_share(self) -> float:
        """The share (0-1) of the scored characters read as unknown."""
        return self.unknown_chars / self.chars

    def total_nats(self, scorer: Scorer) -> float:
        """The model's summed loss plus the spelling charge: the text's code length in nats."""
        return scorer.total_nats(self.ids) + self.spelling_nats

    def nats_per_char(self, scorer: Scorer) -> float:
        """The held-out loss: code length in nats per scored character."""
        return self.total_nats(scorer) / self.chars

    def scores(self, scorer: Scorer) -> dict:
        """What ``evaluate`` reports: nats_per_char, bits_per_char, perplexity (per predicted
        token, spelling charge included), chars, tokens and unknown_share."""
        nats = self.total_nats(scorer)
        per_char = nats / self.chars
        return {
            "nats_per_char": per_char,
            "bits_per_char": per_char / LN2,
            "perplexity": math.exp(min(nats / max(len(self.ids) - 1, 1), 700.0)),
            "chars": self.chars,
            "tokens": int(len(self.ids)),
            "unknown_share": self.unknown_share,
        }


def score_text(scorer: Scorer, tokenizer, text: str) -> dict:
    """``HeldOutText.scores`` of ``text``."""
    return HeldOutText(tokenizer, text).scores(scorer)
