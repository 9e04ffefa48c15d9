"""Tokenizers: text <-> integer ids (numpy arrays), at character, word or subword level.

All are lossless on text they know: decode(encode(text)) == text. Vocabularies are saved
as JSON next to a model (tokenizer.json in the run folder).
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from textgen.encodings import code_points
from textgen.errors import TextgenError
from textgen.files import atomic_write_json
from textgen.words import WORD_PIECE_RE

MAX_SHOWN_UNKNOWN = 10


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
        raise TextgenError("The token ids do not match this vocabulary of {vocab_size} tokens. "
                           "Use the tokenizer saved with the same model.", vocab_size=vocab_size)
    return ids


# ---------------------------------------------------------------------------------------
# Character level


class CharTokenizer:
    """One token per character; the vocabulary is every distinct character seen."""

    kind = "char"
    unknown_id = None  # unknown characters are refused, not mapped to a token

    def __init__(self, tokens: list[str]):
        if not tokens:
            raise TextgenError("The vocabulary is empty. Train on a corpus that contains text.")
        if any(len(token) != 1 for token in tokens) or len(set(tokens)) != len(tokens):
            raise TextgenError("The character vocabulary is damaged. Train the model again.")
        self.tokens = list(tokens)
        codes = code_points("".join(self.tokens))
        # A dense table from code point to id (-1 = unknown): one fancy-indexing pass
        # encodes a whole corpus. Characters beyond the table are unknown by definition.
        self._codes = codes
        self._id_of_code = np.full(int(codes.max()) + 1, -1, dtype=np.int32)
        self._id_of_code[codes] = np.arange(len(codes), dtype=np.int32)

    @classmethod
    def fit(cls, text: str) -> "CharTokenizer":
        if not text:
            raise TextgenError("The corpus is empty. Choose a file that contains text.")
        return cls(list(_from_code_points(_distinct_code_points(code_points(text)))))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known mask) for every character of text."""
        codes = code_points(text)
        table = self._id_of_code
        ids = table[np.minimum(codes, len(table) - 1)]
        known = (codes < len(table)) & (ids >= 0)
        return ids, known

    def encode(self, text: str) -> np.ndarray:
        ids, known = self._lookup(text)
        if not known.all():
            raise unknown_chars_error(self.unknown(text))
        return ids

    def decode(self, ids) -> str:
        return _from_code_points(self._codes[_check_ids(ids, self.vocab_size)])

    def unknown(self, text: str) -> list[str]:
        """Sorted distinct characters of text that are not in the vocabulary."""
        _, known = self._lookup(text)
        if known.all():
            return []
        return list(_from_code_points(_distinct_code_points(code_points(text)[~known])))

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


def shown_list(items: list[str], describe) -> tuple[str, int]:
    """(the first MAX_SHOWN_UNKNOWN items, described and joined by commas; how many more)."""
    return ", ".join(map(describe, items[:MAX_SHOWN_UNKNOWN])), len(items) - MAX_SHOWN_UNKNOWN


def unknown_chars_error(unknown: list[str]) -> TextgenError:
    shown, more = shown_list(unknown, describe_char)
    if more > 0:
        return TextgenError("The model has never seen these characters: {shown} and {more} more. "
                            "Remove them or train on text that contains them.", shown=shown, more=more)
    return TextgenError("The model has never seen these characters: {shown}. "
                        "Remove them or train on text that contains them.", shown=shown)


# ---------------------------------------------------------------------------------------
# Word level: words as textgen.words defines them

UNKNOWN_TOKEN = "<unk>"


class WordTokenizer:
    """Words, whitespace runs and punctuation marks as tokens. The vocabulary keeps the
    most frequent max_vocab - 1 of them; everything else maps to "<unk>" (id 0)."""

    kind = "word"
    unknown_id = 0
    spelling_counts = None  # the training split's character counts: textgen.unknowns

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
# Subword level (byte-pair encoding)

# GPT-2's pre-tokenization on characters rather than bytes: a word with its leading space,
# a number, a run of punctuation, or whitespace. Merges never cross these pieces, and every
# token is a plain substring of the text, so decoding is concatenation.
BPE_PIECE_PATTERN = r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
BPE_CHUNK_CHARS = 1 << 16   # the corpus goes to the Rust encoder in line-aligned pieces
BPE_BATCH_CHUNKS = 64       # ... this many at a time, so memory stays bounded on big corpora


def _line_chunks(text: str, size: int = BPE_CHUNK_CHARS):
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _bpe_pieces():
    from tokenizers import Regex, pre_tokenizers
    return pre_tokenizers.Split(Regex(BPE_PIECE_PATTERN), behavior="isolated")


class BpeTokenizer:
    """Byte-pair encoding learnt from the corpus with Hugging Face ``tokenizers``: every
    character of the corpus, then its most frequent merges, up to max_vocab tokens.
    Characters the corpus never had map to "<unk>" (id 0)."""

    kind = "bpe"
    unknown_id = 0
    spelling_counts = None  # the training split's character counts: textgen.unknowns

    def __init__(self, tokens: list[str], merges: list[tuple[str, str]], max_vocab: int | None = None):
        from tokenizers import Tokenizer, models

        if not tokens or tokens[0] != UNKNOWN_TOKEN or len(set(tokens)) != len(tokens):
            raise TextgenError("The subword vocabulary is damaged. Train the model again.")
        self.tokens = list(tokens)
        self.merges = [tuple(pair) for pair in merges]
        self.max_vocab = max_vocab or len(tokens)
        vocab = {token: index for index, token in enumerate(self.tokens)}
        try:
            model = models.BPE(vocab, self.merges, unk_token=UNKNOWN_TOKEN)
        except Exception:  # the Rust side reports a merge of unknown tokens as a plain Exception
            raise TextgenError("The subword vocabulary is damaged. Train the model again.") from None
        self._tokenizer = Tokenizer(model)
        self._tokenizer.pre_tokenizer = _bpe_pieces()

    @classmethod
    def fit(cls, text: str, max_vocab: int = 1024) -> "BpeTokenizer":
        from tokenizers import Tokenizer, models, trainers

        if not text:
            raise TextgenError("The corpus is empty. Choose a file that contains text.")
        learner = Tokenizer(models.BPE(unk_token=UNKNOWN_TOKEN))
        learner.pre_tokenizer = _bpe_pieces()
        trainer = trainers.BpeTrainer(vocab_size=max_vocab, special_tokens=[UNKNOWN_TOKEN],
                                      show_progress=False)
        learner.train_from_iterator(_line_chunks(text), trainer=trainer)
        # Rebuilt from vocabulary and merges alone: as a registered special token, "<unk>"
        # typed in a prompt would otherwise encode as the unknown token rather than as text.
        trained = json.loads(learner.to_str())["model"]
        tokens = sorted(trained["vocab"], key=trained["vocab"].get)
        return cls(tokens, [tuple(m) for m in trained["merges"]], max_vocab=max_vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> np.ndarray:
        chunks = list(_line_chunks(text))
        parts = [np.zeros(0, dtype=np.int32)]
        for i in range(0, len(chunks), BPE_BATCH_CHUNKS):
            for encoding in self._tokenizer.encode_batch(chunks[i:i + BPE_BATCH_CHUNKS],
                                                         add_special_tokens=False):
                parts.append(np.asarray(encoding.ids, dtype=np.int32))
        return np.concatenate(parts)

    def decode(self, ids) -> str:
        tokens = self.tokens
        return "".join(tokens[i] for i in _check_ids(ids, self.vocab_size).tolist())

    def token_length(self, token_id: int) -> int:
        """Characters of text one token stands for ("<unk>" stands for one character)."""
        return 1 if token_id == 0 else len(self.tokens[token_id])

    def unknown(self, text: str) -> list[str]:
        """Sorted distinct characters of text outside the vocabulary (they encode as <unk>)."""
        known = set(token for token in self.tokens[1:] if len(token) == 1)
        return sorted(set(text) - known)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens,
                "merges": [list(pair) for pair in self.merges], "max_vocab": self.max_vocab}

    @classmethod
    def from_dict(cls, data: dict) -> "BpeTokenizer":
        return cls(list(data["tokens"]), [tuple(pair) for pair in data["merges"]],
                   max_vocab=data.get("max_vocab"))

    def __eq__(self, other) -> bool:
        return (isinstance(other, BpeTokenizer) and self.tokens == other.tokens
                and self.merges == other.merges)

    def __repr__(self) -> str:
        return f"BpeTokenizer(vocab_size={self.vocab_size})"


# ---------------------------------------------------------------------------------------
# Where generation starts and what it never writes


def start_token(tokenizer) -> int:
    """What an empty prompt starts from: a line break where the vocabulary has one."""
    try:
        return int(tokenizer.encode("\n")[0])
    except TextgenError:  # no line break in the vocabulary
        return 0


def never_sampled(tokenizer) -> list[int]:
    """Token ids generation must not produce: the unknown token stands for no text."""
    return [] if tokenizer.unknown_id is None else [tokenizer.unknown_id]


# ---------------------------------------------------------------------------------------
# Factory and persistence

TOKENIZER_KINDS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BpeTokenizer}


def make_tokenizer(kind: str, text: str, max_vocab: int = 20000):
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "word":
        return WordTokenizer.fit(text, max_vocab=max_vocab)
    if kind == "bpe":
        return BpeTokenizer.fit(text, max_vocab=max_vocab)
    raise TextgenError('Unknown tokenizer "{kind}". Choose "char" (one token per character), '
                       '"word" (one token per word) or "bpe" (subword pieces).', kind=kind)


def run_tokenizer(text: str, kind: str, max_vocab: int, base_dir=None):
    """The tokenizer a training run makes for ``text``: a fine-tune keeps its base run's
    vocabulary (a character vocabulary grows by the text's new characters, new ids at the
    end), else a fresh one of ``kind`` with at most ``max_vocab`` tokens. Raises
    TextgenError on a damaged base vocabulary or an empty text."""
    if base_dir:
        base = load_tokenizer(Path(base_dir) / "tokenizer.json")
        return base.extend(text) if base.kind == "char" else base
    return make_tokenizer(kind, text, max_vocab)


def tokenizer_from_dict(data) -> CharTokenizer | WordTokenizer | BpeTokenizer:
    if not isinstance(data, dict) or data.get("kind") not in TOKENIZER_KINDS:
        raise TextgenError("The tokenizer file is damaged or from another program. "
                           "Train the model again.")
    try:
        tokenizer = TOKENIZER_KINDS[data["kind"]].from_dict(data)
    except (KeyError, TypeError, ValueError):
        raise TextgenError("The tokenizer file is damaged. Train the model again.") from None
    # The training split's character counts, for charging <unk> tokens (textgen.unknowns);
    # runs saved without them are charged by a documented stand-in.
    tokenizer.spelling_counts = data.get("spelling_counts")
    return tokenizer


def save_tokenizer(tokenizer, path) -> None:
    """Write the vocabulary as UTF-8 JSON, atomically (textgen.files)."""
    data = tokenizer.to_dict()
    if getattr(tokenizer, "spelling_counts", None):
        data["spelling_counts"] = tokenizer.spelling_counts
    atomic_write_json(path, data, indent=0)


def load_tokenizer(path) -> CharTokenizer | WordTokenizer | BpeTokenizer:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TextgenError("No tokenizer file at {path}. The run folder is incomplete: "
                           "train the model again.", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise TextgenError("The tokenizer file {path} is damaged. "
                           "Train the model again.", path=path) from None
    return tokenizer_from_dict(data)
