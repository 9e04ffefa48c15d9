"""Tokenizers: text <-> integer ids (numpy arrays), character level or word level.

Both are lossless on text they know: decode(encode(text)) == text. Vocabularies are saved
as JSON next to a model (tokenizer.json in the run folder).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from textgen.errors import TextgenError

MAX_SHOWN_UNKNOWN = 10


def _code_points(text: str) -> np.ndarray:
    # UTF-32 gives one uint32 per character, which numpy can then look up in bulk:
    # far faster than a Python loop over a multi-megabyte string.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _distinct_code_points(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values; counting beats sorting on texts of many megabytes."""
    if codes.size == 0:
        return codes
    return np.flatnonzero(np.bincount(codes)).astype(np.uint32)


def _from_code_points(codes: np.ndarray) -> str:
    return np.asarray(codes, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


def describe_char(char: str) -> str:
    """A character as a person can read it in a message: invisible ones by name."""
    if char.isprintable() and not char.isspace():
        return f'"{char}"'
    names = {"\n": "line break", "\t": "tab", " ": "space", "\r": "carriage return"}
    if char in names:
        return names[char]
    return unicodedata.name(char, f"U+{ord(char):04X}").lower()


def _check_ids(ids, vocab_size: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise TextgenError(
            f"The token ids do not match this vocabulary of {vocab_size} tokens. "
            "Use the tokenizer saved with the same model."
        )
    return ids


# ---------------------------------------------------------------------------------------
# Character level


class CharTokenizer:
    """One token per character; the vocabulary is every distinct character seen."""

    kind = "char"

    def __init__(self, tokens: list[str]):
        if not tokens:
            raise TextgenError("The vocabulary is empty. Train on a corpus that contains text.")
        if any(len(token) != 1 for token in tokens) or len(set(tokens)) != len(tokens):
            raise TextgenError("The character vocabulary is damaged. Train the model again.")
        self.tokens = list(tokens)
        codes = _code_points("".join(self.tokens))
        # A dense table from code point to id (-1 = unknown): one fancy-indexing pass
        # encodes a whole corpus. Characters beyond the table are unknown by definition.
        self._codes = codes
        self._id_of_code = np.full(int(codes.max()) + 1, -1, dtype=np.int32)
        self._id_of_code[codes] = np.arange(len(codes), dtype=np.int32)

    @classmethod
    def fit(cls, text: str) -> "CharTokenizer":
        if not text:
            raise TextgenError("The corpus is empty. Choose a file that contains text.")
        return cls(list(_from_code_points(_distinct_code_points(_code_points(text)))))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known mask) for every character of text."""
        codes = _code_points(text)
        table = self._id_of_code
        ids = table[np.minimum(codes, len(table) - 1)]
        known = (codes < len(table)) & (ids >= 0)
        return ids, known

    def encode(self, text: str) -> np.ndarray:
        ids, known = self._lookup(text)
        if not known.all():
            raise TextgenError(unknown_chars_message(self.unknown(text)))
        return ids

    def decode(self, ids) -> str:
        return _from_code_points(self._codes[_check_ids(ids, self.vocab_size)])

    def unknown(self, text: str) -> list[str]:
        """Sorted distinct characters of text that are not in the vocabulary."""
        _, known = self._lookup(text)
        if known.all():
            return []
        return list(_from_code_points(_distinct_code_points(_code_points(text)[~known])))

    def extend(self, text: str) -> "CharTokenizer":
        """A new tokenizer that also knows the new characters of text. Existing ids stay
        the same (new characters go at the end), so a trained model can be fine-tuned."""
        return CharTokenizer(self.tokens + self.unknown(text))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        return cls(list(data["tokens"]))

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def unknown_chars_message(unknown: list[str]) -> str:
    shown = ", ".join(describe_char(char) for char in unknown[:MAX_SHOWN_UNKNOWN])
    more = len(unknown) - MAX_SHOWN_UNKNOWN
    if more > 0:
        shown += f" and {more} more"
    return (f"The model has never seen these characters: {shown}. "
            "Remove them or train on text that contains them.")


# ---------------------------------------------------------------------------------------
# Word level

CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Each Chinese character alone, then runs of letters/digits, then runs of whitespace, then
# any other single character (punctuation). The alternatives cover every character, so
# joining the pieces gives back the text exactly.
WORD_PIECE_RE = re.compile(f"[{CJK_IDEOGRAPHS}]|[^\\W{CJK_IDEOGRAPHS}]+|\\s+|.", re.DOTALL)
UNKNOWN_TOKEN = "<unk>"


class WordTokenizer:
    """Words, whitespace runs and punctuation marks as tokens. The vocabulary keeps the
    most frequent max_vocab - 1 of them; everything else maps to "<unk>" (id 0)."""

    kind = "word"

    def __init__(self, tokens: list[str], max_vocab: int | None = None):
        if not tokens or tokens[0] != UNKNOWN_TOKEN or len(set(tokens)) != len(tokens):
            raise TextgenError("The word vocabulary is damaged. Train the model again.")
        self.tokens = list(tokens)
        self.max_vocab = max_vocab or len(tokens)
        self._ids = {token: index for index, token in enumerate(self.tokens)}
        self._ids.pop(UNKNOWN_TOKEN)  # the text "<unk>" is three pieces, never this token

    @staticmethod
    def split(text: str) -> list[str]:
        """The pre-tokenization: pieces whose concatenation is exactly text."""
        return WORD_PIECE_RE.findall(text)

    @classmethod
    def fit(cls, text: str, max_vocab: int = 20000) -> "WordTokenizer":
        if max_vocab < 2:
            raise TextgenError("The word vocabulary needs room for at least 2 tokens. "
                               "Choose a larger vocabulary size.")
        counts = Counter(cls.split(text))
        if not counts:
            raise TextgenError("The corpus is empty. Choose a file that contains text.")
        # Most frequent first; equal counts in alphabetical order so fits are reproducible.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [token for token, _ in ranked[: max_vocab - 1]]
        return cls([UNKNOWN_TOKEN] + kept, max_vocab=max_vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> np.ndarray:
        lookup = self._ids.get
        return np.array([lookup(piece, 0) for piece in self.split(text)], dtype=np.int32)

    def decode(self, ids) -> str:
        tokens = self.tokens
        return "".join(tokens[i] for i in _check_ids(ids, self.vocab_size).tolist())

    def unknown(self, text: str) -> list[str]:
        """Sorted distinct pieces of text outside the vocabulary (they encode as <unk>)."""
        return sorted({piece for piece in self.split(text) if piece not in self._ids})

    def extend(self, text: str) -> "WordTokenizer":
        raise TextgenError(
            "A word-level vocabulary cannot be extended with new words without retraining. "
            "Train this model again on the new text, or use a character-level tokenizer."
        )

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens, "max_vocab": self.max_vocab}

    @classmethod
    def from_dict(cls, data: dict) -> "WordTokenizer":
        return cls(list(data["tokens"]), max_vocab=data.get("max_vocab"))

    def __eq__(self, other) -> bool:
        return isinstance(other, WordTokenizer) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"


# ---------------------------------------------------------------------------------------
# Factory and persistence

TOKENIZER_KINDS = {"char": CharTokenizer, "word": WordTokenizer}


def make_tokenizer(kind: str, text: str, max_vocab: int = 20000):
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "word":
        return WordTokenizer.fit(text, max_vocab=max_vocab)
    raise TextgenError(f'Unknown tokenizer "{kind}". Choose "char" (one token per '
                       'character) or "word" (one token per word).')


def tokenizer_from_dict(data) -> CharTokenizer | WordTokenizer:
    if not isinstance(data, dict) or data.get("kind") not in TOKENIZER_KINDS:
        raise TextgenError("The tokenizer file is damaged or from another program. "
                           "Train the model again.")
    try:
        return TOKENIZER_KINDS[data["kind"]].from_dict(data)
    except (KeyError, TypeError, ValueError):
        raise TextgenError("The tokenizer file is damaged. Train the model again.") from None


def save_tokenizer(tokenizer, path) -> None:
    """Write the vocabulary as UTF-8 JSON, atomically (temp file + rename)."""
    path = Path(path)
    payload = json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=0)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            temp.write(payload)
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise


def load_tokenizer(path) -> CharTokenizer | WordTokenizer:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TextgenError(f"No tokenizer file at {path}. The run folder is incomplete: "
                           "train the model again.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise TextgenError(f"The tokenizer file {path} is damaged. "
                           "Train the model again.") from None
    return tokenizer_from_dict(data)
