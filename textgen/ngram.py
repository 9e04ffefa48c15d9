"""A character n-gram language model: the reference a network's held-out loss is set beside.

Smoothing: interpolated Witten-Bell (Witten & Bell 1991, "The zero-frequency problem",
IEEE Trans. Inf. Theory 37(4); in the interpolated form Chen & Goodman 1998, "An empirical
study of smoothing techniques for language modeling", TR-10-98, Harvard, section 2.4,
write as equation 11). For a context ``h`` (the last n-1 characters) and a character ``c``::

    P(c | h) = (C(h c) + T(h) * P(c | h')) / (C(h) + T(h))

where ``C(h c)`` counts ``h`` followed by ``c`` in the training text, ``C(h)`` counts ``h``
followed by any character, ``T(h)`` is how many distinct characters followed ``h``, and
``h'`` is ``h`` less its first character. A context never followed by a character in
training (``C(h) = 0``) hands over to ``h'`` whole. The chain ends in the unigram model,
interpolated the same way with a uniform distribution over the ``V`` training characters
plus one escape symbol: ``P0 = 1 / (V + 1)`` each.

Why Witten-Bell: it has no parameter to set (Kneser-Ney's discounts would have to be
estimated), so nothing is tuned, on the held-out text or anywhere, and every probability
is a ratio of counts that can be checked by hand. Kneser-Ney usually scores somewhat
lower (Chen & Goodman find it the best of the methods they compare), so this is a
modest, honest reference, not the best an n-gram model can do.

Order: fixed at 5 (the 5-gram interpolated with the 4-, 3-, 2- and 1-gram and the uniform
distribution, which is what "a 3- to 5-gram model" means in practice). The order is not
chosen by the held-out score: that would tune the reference on the test.

Characters never seen in training: the escape symbol's probability, then a uniform choice
among the Unicode characters not seen (PPM's order -1 model, as textgen.unknowns charges an
``<unk>``): ``ln(1 / P(escape | h)) + ln(1,112,064 - V)`` nats, about 14 nats plus the escape.
So every score is a true code length, finite for any text.

Context: each character is predicted from the up to four characters before it in the
scored text, without the window breaks the network's held-out score has (each of its
windows starts from a fresh state). The network sees at most a window's start with less
context; the n-gram model never sees more than four characters. It is a reference line.

Speed (2 CPU cores, measured on tinyshakespeare): fitting its 1.0M training characters
takes 0.6 s, scoring its 111k held-out characters 0.06 s (numpy sorts and binary searches,
no Python loop over characters; see benchmarks/README.md).
"""

from __future__ import annotations

import math

import numpy as np

from textgen.unknowns import UNICODE_CHARACTERS

ORDER = 5


def _codes(text: str) -> np.ndarray:
    """The text's Unicode code points (int64)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)


class CharNgramModel:
    """An interpolated Witten-Bell character n-gram model (see the module's note).

    ``CharNgramModel.fit(text, order=5)`` counts; ``nats_per_char(text)`` scores;
    ``probability(context, char)`` is one conditional probability, for checking by hand.
    """

    def __init__(self, order: int = ORDER):
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self.vocab = np.zeros(0, np.int64)  # sorted code points of the training characters
        self._keys: list[np.ndarray] = []  # per order m (index m-1): sorted keys of m-grams
        self._counts: list[np.ndarray] = []  # C(h c) of each key
        self._context_counts: list[np.ndarray] = []  # C(h), indexed by the (m-1)-gram's id
        self._context_types: list[np.ndarray] = []  # T(h), likewise

    @classmethod
    def fit(cls, text: str, order: int = ORDER) -> "CharNgramModel":
        """Count the 1- to ``order``-grams of ``text`` (a str). O(len(text) log len(text))."""
        model = cls(order)
        codes = _codes(text)
        model.vocab = np.unique(codes)
        ids = np.searchsorted(model.vocab, codes) + 1  # 1..V; 0 is no character
        previous = np.zeros(len(ids), np.int64)  # id of the (m-1)-gram ending just before
        previous_count = 1  # one 0-gram: the empty context
        for m in range(1, order + 1):
            valid = previous >= 0
            keys = previous[valid] * model._base + ids[valid]
            unique, counts = np.unique(keys, return_counts=True)
            contexts = unique // model._base
            model._keys.append(unique)
            model._counts.append(counts)
            model._context_counts.append(np.bincount(contexts, weights=counts, minlength=previous_count))
            model._context_types.append(np.bincount(contexts, minlength=previous_count).astype(float))
            grams = np.full(len(ids), -1, np.int64)
            grams[valid] = np.searchsorted(unique, keys)
            previous = np.concatenate([[-1], grams[:-1]])  # the context of the next order
            previous_count = len(unique)
        return model

    @property
    def _base(self) -> int:
        return len(self.vocab) + 2  # ids 0..V+1 (V+1: a character not seen in training)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def novel_nats(self) -> float:
        """Nats, beyond the escape, to name a character never seen in training."""
        return math.log(UNICODE_CHARACTERS - self.vocab_size)

    def _ids(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids 1..V, V+1 for unseen characters; whether each character is unseen)."""
        codes = _codes(text)
        at = np.minimum(np.searchsorted(self.vocab, codes), max(self.vocab_size - 1, 0))
        seen = self.vocab[at] == codes if self.vocab_size else np.zeros(len(codes), bool)
        return np.where(seen, at + 1, self.vocab_size + 1), ~seen

    def _probabilities(self, ids: np.ndarray) -> np.ndarray:
        """P(id_i | the up to order-1 ids before it) for each position; an unseen character
        gets the escape's probability."""
        p = np.full(len(ids), 1.0 / (self.vocab_size + 1))
        previous = np.zeros(len(ids), np.int64)
        for keys, counts, context_counts, context_types in zip(
                self._keys, self._counts, self._context_counts, self._context_types):
            if not len(keys):
                break
            usable = previous >= 0
            h = np.where(usable, previous, 0)
            c_h, t_h = context_counts[h], context_types[h]
            usable &= c_h > 0  # a context never followed by a character hands over whole
            wanted = h * self._base + ids
            at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            found = usable & (keys[at] == wanted)
            c_hc = np.where(found, counts[at], 0)
            p = np.where(usable, (c_hc + t_h * p) / np.where(usable, c_h + t_h, 1.0), p)
            grams = np.where(found, at, -1)
            previous = np.concatenate([[-1], grams[:-1]])
        return p

    def char_nats(self, text: str) -> np.ndarray:
        """The code length in nats of each character of ``text`` (float array, len(text)),
        each predicted from the characters before it in ``text``."""
        ids, unseen = self._ids(text)
        if not len(ids):
            return np.zeros(0)
        return -np.log(self._probabilities(ids)) + np.where(unseen, self.novel_nats, 0.0)

    def nats_per_char(self, text: str) -> float:
        """Mean code length of ``text`` in nats per character (0.0 for an empty text)."""
        nats = self.char_nats(text)
        return float(nats.mean()) if len(nats) else 0.0

    def probability(self, context: str, char: str | None) -> float:
        """P(char | context), using the context's last order-1 characters; ``char`` None
        (or a character not seen in training) gives the escape's probability."""
        last = context[-(self.order - 1):] if self.order > 1 else ""
        ids, _ = self._ids(last + (char or ""))
        if char is None:
            ids = np.append(ids, self.vocab_size + 1)
        return float(self._probabilities(ids)[-1])

    def alphabet(self) -> str:
        """The training characters, in code point order."""
        return "".join(chr(int(c)) for c in self.vocab)


def fit(text: str, order: int = ORDER) -> CharNgramModel:
    """``CharNgramModel.fit``: the model of ``text``'s characters."""
    return CharNgramModel.fit(text, order)
