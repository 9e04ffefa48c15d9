"""The memorisation meter: how much of a generated text was copied from the training text.

A text's *share copied* is the fraction of its character 12-grams (word 4-grams
for word-level models) that occur verbatim somewhere in the training text, and
its *longest copied passage* is the longest piece of it found verbatim there.

The training text is indexed once: a 64-bit hash of every n-gram, computed in
numpy a chunk at a time (no Python loop per character) and sorted, so that a
sample's n-grams are looked up together with ``np.searchsorted``. Candidate
passages (runs of consecutive matching n-grams) are then confirmed with
``str.find`` on the text itself, so a hash collision or a chain of n-grams that
occur in different places never shows as a copied passage.

A text is *mostly copied* when at least ``MOSTLY_COPIED`` (half) of its characters lie in
copied passages: runs of consecutive n-grams found in the training text that span at
least twice n units (24 characters, 8 words). Shorter matches are not copying: in
tinyshakespeare's held-out split, new text by people, 41 % of the characters of a
240-character piece sit in some 12-character piece found in the training part (names,
"I will not", line breaks before a speaker), yet never more than 24 % in runs of 24 or
more characters (1 % on average), and none in runs of 8 or more words.
"""

from __future__ import annotations

import heapq
import os
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from textgen.corpus import load_corpus, split_text
from textgen.encodings import code_points
from textgen.errors import TextgenError
from textgen.files import read_json
from textgen.i18n import english
from textgen.words import CJK_IDEOGRAPHS

CHAR_N = 12
WORD_N = 4
CHUNK = 1 << 22  # characters hashed per numpy pass: bounds the temporary memory
MAX_FINDS = 32   # str.find calls spent confirming passages of one sample (~30 ms each at 100 MB)
MOSTLY_COPIED = 0.5  # share of a text's characters in copied passages that makes it mostly copied

_rng = np.random.default_rng(20261129)
_SEED = np.uint64(_rng.integers(1, 2**63, dtype=np.uint64))
_POSITION_KEYS = (_rng.integers(1, 2**63, size=64, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_NGRAM_KEYS = (_rng.integers(1, 2**63, size=96, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_LENGTH_KEY = np.uint64(0x9E3779B97F4A7C15)

# Words here are *spaced words*: runs of characters between whitespace, punctuation kept,
# each Chinese character a word of its own. Not textgen.words' words (letters and digits
# only): a copied passage is the text as written, so "end." must not match "end" and a
# run of punctuation is part of what was copied. Their boundaries are found in numpy over
# code points, with no regex pass over a 100 MB training text.
_SPACE = np.zeros(0x110000, dtype=bool)
_SPACE[[c for c in range(0x3001) if chr(c).isspace()]] = True
_CJK = np.zeros(0x110000, dtype=bool)
for _lo, _hi in re.findall(r"(.)-(.)", CJK_IDEOGRAPHS):
    _CJK[ord(_lo):ord(_hi) + 1] = True
_SPACED_WORD_BOUNDARY_RE = re.compile(f"[\\s{CJK_IDEOGRAPHS}]")


def _mix(values) -> np.ndarray:
    """splitmix64's finaliser, vectorised: spreads every input bit over the 64-bit hash."""
    x = np.asarray(values).astype(np.uint64)
    x += _SEED
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@lru_cache(maxsize=1)
def _char_keys() -> np.ndarray:
    """A random 64-bit number for every Unicode code point (9 MB, made once)."""
    return _mix(np.arange(0x110000, dtype=np.uint64))


def _char_values(codes: np.ndarray) -> np.ndarray:
    return _char_keys()[codes]


def _ngram_hashes(x: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive values of x (len(x) - n + 1 of them).

    Built by doubling (pairs, then fours, eights...) and joining the blocks that make
    up n, so 12-grams cost four passes over the array instead of twelve.
    """
    count = len(x) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    blocks, size = {1: x}, 1  # blocks[k][i]: hash of x[i:i + k]
    while size * 2 <= n:
        h = blocks[size]
        m = len(h) - size
        blocks[size * 2] = h[:m] * _NGRAM_KEYS[size.bit_length()] + h[size:size + m]
        size *= 2
    result, offset = None, 0
    for k in sorted(blocks, reverse=True):
        if offset + k <= n:
            part = blocks[k][offset:offset + count]
            result = part.copy() if result is None else result * _NGRAM_KEYS[32 + k.bit_length()] + part
            offset += k
    return result


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _parallel_sort(values: np.ndarray) -> None:
    """Sort in place: halves sorted on two threads (numpy releases the GIL), then merged."""
    if _workers() < 2 or values.size < 1_000_000:
        values.sort()
        return
    halves = np.array_split(values, 2)  # views into values
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(np.ndarray.sort, halves))
    values.sort(kind="stable")  # timsort: two sorted runs merge in one linear pass


def _word_hashes(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, start, end) of every spaced word of text; start and end are character offsets."""
    codes = code_points(text)
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    space, cjk = _SPACE[codes], _CJK[codes]
    inside = np.flatnonzero(~space)  # offsets of the characters that belong to words
    if inside.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    previous_breaks = np.concatenate(([True], space[:-1] | cjk[:-1]))
    begins = (previous_breaks | cjk)[inside]          # per word character: starts a word
    first = np.flatnonzero(begins)                    # index into `inside` of each word's start
    word_of = np.cumsum(begins, dtype=np.int64) - 1
    position = np.arange(inside.size, dtype=np.int64) - first[word_of]
    contributions = _char_values(codes[inside]) * _POSITION_KEYS[position & 63]
    hashes = np.add.reduceat(contributions, first)
    last = np.append(first[1:], inside.size) - 1
    lengths = (last - first + 1).astype(np.uint64)
    hashes = _mix(hashes + lengths * _LENGTH_KEY)
    return hashes, inside[first], inside[last] + 1


class NgramIndex:
    """Sorted 64-bit hashes of every n-gram of a training text, and the text itself."""

    def __init__(self, text: str, unit: str = "char", n: int | None = None):
        if unit not in ("char", "word"):
            raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
        self.text, self.unit = text, unit
        self.n = n or (CHAR_N if unit == "char" else WORD_N)
        self.hashes = self._char_index() if unit == "char" else self._word_index()
        _parallel_sort(self.hashes)

    def _char_index(self) -> np.ndarray:
        text, n = self.text, self.n
        total = max(len(text) - n + 1, 0)
        out = np.empty(total, dtype=np.uint64)

        def fill(start):
            end = min(start + CHUNK, total)
            out[start:end] = _ngram_hashes(_char_values(code_points(text[start:end + n - 1])), n)

        with ThreadPoolExecutor(_workers()) as pool:
            list(pool.map(fill, range(0, total, CHUNK)))
        return out

    def _word_index(self) -> np.ndarray:
        text, spans, start = self.text, [], 0
        while start < len(text):
            # Chunks end before whitespace or a Chinese character: never inside a word.
            boundary = _SPACED_WORD_BOUNDARY_RE.search(text, min(start + CHUNK, len(text)))
            end = boundary.start() if boundary else len(text)
            if end <= start:
                end = len(text)
            spans.append((start, end))
            start = end
        with ThreadPoolExecutor(_workers()) as pool:
            pieces = list(pool.map(lambda span: _word_hashes(text[span[0]:span[1]])[0], spans))
        words = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint64)
        return _ngram_hashes(words, self.n)

    @property
    def unit_name(self) -> str:
        return "character" if self.unit == "char" else "word"

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether the training text has that n-gram."""
        if self.hashes.size == 0 or hashes.size == 0:
            return np.zeros(hashes.shape, dtype=bool)
        at = np.minimum(np.searchsorted(self.hashes, hashes), self.hashes.size - 1)
        return self.hashes[at] == hashes

    def _sample_ngrams(self, sample: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, start, end) of each n-gram of sample; start/end are character offsets."""
        n = self.n
        if self.unit == "char":
            hashes = _ngram_hashes(_char_values(code_points(sample)), n)
            starts = np.arange(hashes.size, dtype=np.int64)
            return hashes, starts, starts + n
        words, word_starts, word_ends = _word_hashes(sample)
        hashes = _ngram_hashes(words, n)
        return hashes, word_starts[:hashes.size], word_ends[n - 1:n - 1 + hashes.size]

    def check(self, sample: str) -> dict:
        """How much of ``sample`` occurs verbatim in the training text.

        Returns ``unit`` ("character" or "word"), ``n``, ``ngrams`` (how many the
        sample has), ``copied`` (how many of them occur in the training text),
        ``share`` (copied / ngrams, None when the sample is shorter than n units),
        ``passage_share`` (the share of the sample's characters that lie in copied
        passages, see ``passage_coverage``; None when ``share`` is), and the longest
        confirmed copied ``passage`` with its ``passage_start`` and ``passage_end``
        character offsets in the sample ("" and None when none).
        """
        hashes, starts, ends = self._sample_ngrams(sample)
        found = self.contains(hashes)
        result = {"unit": self.unit_name, "n": self.n, "ngrams": int(found.size),
                  "copied": int(found.sum()),
                  "share": float(found.mean()) if found.size else None,
                  "passage_share": (passage_coverage(found, starts, ends, self.n, len(sample))
                                    if found.size else None),
                  "passage": "", "passage_start": None, "passage_end": None}
        best = self._longest_passage(sample, found, starts, ends)
        if best is not None:
            result.update(passage=sample[best[0]:best[1]], passage_start=best[0], passage_end=best[1])
        return result

    def _longest_passage(self, sample, found, starts, ends) -> tuple[int, int] | None:
        """Character span of the longest run of matching n-grams that the text really holds."""
        if not found.any():
            return None
        edges = np.diff(np.concatenate(([0], found.astype(np.int8), [0])))
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        # Longest candidate first; a run the text does not hold in one piece is split.
        heap = [(-(int(ends[b]) - int(starts[a])), int(a), int(b), False)
                for a, b in zip(run_starts, run_ends)]
        heapq.heapify(heap)
        finds = 0

        def holds(a, b):
            nonlocal finds
            finds += 1
            return self.text.find(sample[starts[a]:ends[b]]) >= 0

        while heap:
            _, a, b, confirmed = heapq.heappop(heap)
            if confirmed:
                return int(starts[a]), int(ends[b])
            if finds >= MAX_FINDS:
                continue  # out of checks: only passages already confirmed can still win
            if holds(a, b):
                return int(starts[a]), int(ends[b])
            # The longest prefix of the run that the text holds (binary search), then the rest.
            lo, hi = a - 1, b - 1  # holds(a, lo) is true (or lo < a), holds(a, hi + 1) is false
            while lo < hi and finds < MAX_FINDS:
                mid = (lo + hi + 1) // 2
                if holds(a, mid):
                    lo = mid
                else:
                    hi = mid - 1
            if lo >= a:
                heapq.heappush(heap, (-(int(ends[lo]) - int(starts[a])), a, lo, True))
            nxt = max(lo + 1, a + 1)
            if nxt <= b:
                heapq.heappush(heap, (-(int(ends[b]) - int(starts[nxt])), nxt, b, False))
        return None


def passage_coverage(found, starts, ends, n: int, length: int) -> float:
    """The share of a ``length``-character text that lies in copied passages.

    ``found[i]``: whether n-gram i (characters ``starts[i]:ends[i]``) occurs in the training
    text. A copied passage is a run of at least n + 1 consecutive found n-grams, which spans
    at least 2n units (see the module's note on why shorter matches do not count).
    """
    if length <= 0 or not found.any():
        return 0.0
    edges = np.diff(np.concatenate(([0], found.astype(np.int8), [0])))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    long_runs = run_ends - run_starts + 1 >= n + 1
    depth = np.zeros(length + 1, dtype=np.int64)  # +1 where a passage begins, -1 after it ends
    np.add.at(depth, starts[run_starts[long_runs]], 1)
    np.add.at(depth, ends[run_ends[long_runs]], -1)
    return float((np.cumsum(depth[:length]) > 0).mean())


def mostly_copied(result: dict) -> bool:
    """Whether a check() result says the text is mostly copied (``MOSTLY_COPIED``)."""
    share = result.get("passage_share")
    return share is not None and share >= MOSTLY_COPIED


def copied_warning(result: dict, translate=english) -> str:
    """A plain sentence saying a text is mostly copied, or "" when it is not."""
    if not mostly_copied(result):
        return ""
    return translate("Mostly copied: {share:.0%} of this text lies in passages of {length} or more "
                     "{unit}s found word for word in the training text. It shows what the model "
                     "memorised, not what it learnt to write.",
                     share=result["passage_share"], length=2 * result["n"], unit=translate(result["unit"]))


def training_text(run_dir) -> tuple[str, str]:
    """(training split of the run's corpus, tokenizer kind), rebuilt from config.json."""
    config = read_json(Path(run_dir) / "config.json", {}) or {}
    corpus_info = config.get("corpus") or {}
    sources = corpus_info.get("sources")
    if not sources:
        raise TextgenError("This run does not record its training text, so copying cannot be checked.")
    try:
        corpus = load_corpus(sources)
    except (TextgenError, OSError):
        raise TextgenError("The training text of this run is no longer available, so copying "
                           "cannot be checked.") from None
    if corpus_info.get("sha256") and corpus.sha256 != corpus_info["sha256"]:
        raise TextgenError("The training text of this run has changed since training, so copying "
                           "cannot be checked.")
    return split_text(corpus.text, float(config.get("val_fraction", 0.1)))[0], config.get("tokenizer", "char")


def index_for_run(run_dir) -> NgramIndex:
    """The n-gram index of a run's training text (word 4-grams for word-level runs)."""
    text, kind = training_text(run_dir)
    return NgramIndex(text, unit="word" if kind == "word" else "char")


def summary(result: dict, translate=english) -> str:
    """One plain sentence about a check() result, for a caption. ``translate`` (text,
    **params) -> str gives it in another language; units are translated through it too."""
    unit = translate(result["unit"])
    if result["share"] is None:
        return translate("Too short to check for copying (fewer than {n} {unit}s).", n=result["n"], unit=unit)
    return translate("Copied from the training text: {share:.0%} of its {n}-{unit} pieces "
                     "({copied:,} of {total:,}) occur there verbatim.", share=result["share"],
                     n=result["n"], unit=unit, copied=result["copied"], total=result["ngrams"])


def code_span(text: str, limit: int = 300) -> str:
    """Markdown inline code showing ``text`` literally (line breaks as ↵, long text shortened;
    in text that is mostly blank, spaces as ␣ so there is something to see)."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    if sum(c.isspace() for c in shown) * 2 > len(shown):  # mostly blank (indentation): show the blanks
        shown = shown.replace(" ", "␣").replace("\t", "⇥")
    shown = shown.replace("\r", "").replace("\n", "↵ ")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", shown)), default=0) + 1)
    return f"{fence} {shown} {fence}"


def passage_markdown(result: dict, limit: int = 300, translate=english) -> str:
    """' Longest copied passage (N characters): `...`' for a caption, or '' when none."""
    passage = result.get("passage") or ""
    if not passage:
        return ""
    return translate(" Longest copied passage ({length:,} characters): {passage}",
                     length=len(passage), passage=code_span(passage, limit))
