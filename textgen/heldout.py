"""Is the held-out part like the training part? And the held-out text of a run, rebuilt.

The held-out split (textgen.corpus.split_text) is the end of the text. When it holds
characters or a script training barely saw, its score says little about the model:
``held_out_novelty`` measures that and ``held_out_warning`` says it in a sentence. A run
records its held-out part (``held_out_record``) so ``rebuild_held_out`` can score it again;
``scored_part`` says when its periodic scores read only the start of it.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from textgen.corpus import load_corpus, split_text
from textgen.encodings import code_points
from textgen.errors import TextgenError

# When the held-out part holds characters or a script that training barely saw, its loss
# stays high however well the model learns, and the gap between the curves looks like
# memorising. Two findings count as "unlike", each large enough to move the score:
# - Unseen characters: a character never seen in training costs the model many nats (it
#   learnt to give it almost no chance), so 2 % of them add about 0.2 nats per character,
#   more than separates a good model from a mediocre one. Small texts, Chinese above all,
#   always meet some new characters, so the share must also be over twice what text like
#   the training part would hold: the Good-Turing estimate, the share of training
#   characters whose character occurs there only once.
# - A script (Latin, Cyrillic, Chinese ...) that makes at least 1 in 20 held-out characters
#   while training holds under a fifth of that share: too little to learn it as well.
UNSEEN_MIN_SHARE = 0.02
UNSEEN_OVER_EXPECTED = 2.0
SCRIPT_MIN_SHARE = 0.05
SCRIPT_TRAIN_RATIO = 0.2
NOVELTY_CHUNK = 1 << 22  # characters converted to code points at a time (bounds memory)

# Unicode blocks grouped into the scripts people name; everything else (digits,
# punctuation, symbols, spaces) belongs to no script here.
SCRIPT_RANGES = {
    "Latin letters": [(0x41, 0x5B), (0x61, 0x7B), (0xC0, 0xD7), (0xD8, 0xF7), (0xF8, 0x250),
                      (0x1E00, 0x1F00)],
    "Greek letters": [(0x370, 0x400), (0x1F00, 0x2000)],
    "Cyrillic letters": [(0x400, 0x530)],
    "Armenian letters": [(0x530, 0x590)],
    "Hebrew letters": [(0x590, 0x600)],
    "Arabic letters": [(0x600, 0x700), (0x750, 0x780), (0xFB50, 0xFE00), (0xFE70, 0xFF00)],
    "Indic letters": [(0x900, 0xE00)],
    "Thai and Lao letters": [(0xE00, 0xF00)],
    "Georgian letters": [(0x10A0, 0x1100)],
    "Korean Hangul": [(0x1100, 0x1200), (0x3130, 0x3190), (0xAC00, 0xD7B0)],
    "Japanese kana": [(0x3040, 0x3100), (0x31F0, 0x3200), (0xFF66, 0xFFA0)],
    "Chinese characters": [(0x2E80, 0x2FE0), (0x3000, 0x3040), (0x3400, 0x4DC0), (0x4E00, 0xA000),
                           (0xF900, 0xFB00), (0xFF00, 0xFF66), (0x20000, 0x30000)],
    "emoji": [(0x1F300, 0x1FB00)],
}
SCRIPT_NAMES = list(SCRIPT_RANGES)
_HELD_OUT_HEAD = ("The held-out part at the end of the text, on which the model is scored, holds much "
                  "that the training part lacks: ")
_HELD_OUT_TAIL = (". Its loss stays high on these however well the model learns, so it is no fair "
                  "measure of the model. Spread such passages through the whole text, or train on "
                  "them separately.")
_UNSEEN = ("{unseen:.1%} of its characters never occur in the training part (in text like the "
           "training part, about {expected:.1%} would)")
_SCRIPT = "{script} make up {held_out:.0%} of it but {train:.1%} of the training part"
HELD_OUT_UNSEEN = _HELD_OUT_HEAD + _UNSEEN + _HELD_OUT_TAIL
HELD_OUT_SCRIPT = _HELD_OUT_HEAD + _SCRIPT + _HELD_OUT_TAIL
HELD_OUT_BOTH = _HELD_OUT_HEAD + _UNSEEN + ", and " + _SCRIPT + _HELD_OUT_TAIL


@lru_cache(maxsize=1)
def _script_table() -> np.ndarray:
    """Script number of every code point (len(SCRIPT_NAMES) for none), 1.1 MB."""
    table = np.full(0x110000, len(SCRIPT_NAMES), dtype=np.uint8)
    for number, name in enumerate(SCRIPT_NAMES):
        for start, end in SCRIPT_RANGES[name]:
            table[start:end] = number
    return table


def _char_counts(text: str) -> np.ndarray:
    """How often each code point occurs in ``text``: shape (0x110000,), int64."""
    counts = np.zeros(0x110000, dtype=np.int64)
    for start in range(0, len(text), NOVELTY_CHUNK):
        counts += np.bincount(code_points(text[start:start + NOVELTY_CHUNK]), minlength=0x110000)
    return counts


def held_out_novelty(train_text: str, held_out_text: str) -> dict:
    """How much of the held-out part the training part lacks, measured on characters.

    Returns a JSON-ready dict: ``held_out_chars``; ``unseen_chars`` and ``unseen_share``
    (held-out characters, counted with repeats, whose character never occurs in training);
    ``expected_unseen_share`` (the Good-Turing estimate of that share for text like the
    training part); ``unseen_examples`` (up to 10 such characters, most frequent first);
    ``scripts``: the scripts that make at least SCRIPT_MIN_SHARE of the held-out part but
    under SCRIPT_TRAIN_RATIO of that share of training, as dicts ``script`` (an English
    name from SCRIPT_NAMES), ``held_out_share``, ``train_share``; and ``unlike`` (True when
    any finding crosses its threshold). Shares are fractions from 0 to 1. Linear in the
    text's length and chunked, so a 50 MB text takes about a second.
    """
    train, held = _char_counts(train_text), _char_counts(held_out_text)
    n_train, n_held = int(train.sum()), int(held.sum())
    unseen_by_char = np.where(train == 0, held, 0)
    unseen = int(unseen_by_char.sum())
    unseen_share = unseen / n_held if n_held else 0.0
    expected = int(np.count_nonzero(train == 1)) / n_train if n_train else 1.0
    order = np.argsort(-unseen_by_char, kind="stable")[:10]
    examples = "".join(chr(c) for c in order if unseen_by_char[c] > 0)
    table = _script_table()
    train_scripts = np.bincount(table, weights=train, minlength=len(SCRIPT_NAMES) + 1) / max(n_train, 1)
    held_scripts = np.bincount(table, weights=held, minlength=len(SCRIPT_NAMES) + 1) / max(n_held, 1)
    scripts = [{"script": name, "held_out_share": round(float(held_scripts[i]), 6),
                "train_share": round(float(train_scripts[i]), 6)}
               for i, name in enumerate(SCRIPT_NAMES)
               if held_scripts[i] >= SCRIPT_MIN_SHARE and train_scripts[i] < SCRIPT_TRAIN_RATIO * held_scripts[i]]
    scripts.sort(key=lambda s: s["train_share"] - s["held_out_share"])
    unseen_unlike = unseen_share > UNSEEN_MIN_SHARE and unseen_share > UNSEEN_OVER_EXPECTED * expected
    return {"held_out_chars": n_held, "unseen_chars": unseen, "unseen_share": round(unseen_share, 6),
            "expected_unseen_share": round(expected, 6), "unseen_examples": examples,
            "scripts": scripts, "unseen_unlike": bool(unseen_unlike),
            "unlike": bool(unseen_unlike or scripts)}


def held_out_warning(novelty) -> TextgenError | None:
    """The sentence saying how the held-out part is unlike the training part, as a
    TextgenError to show (not raise), or None when it is alike. ``novelty`` is what
    held_out_novelty returned, perhaps read back from a run's config.json: anything
    malformed there gives None rather than a broken sentence."""
    try:
        if not novelty.get("unlike"):
            return None
        unseen = dict(unseen=float(novelty["unseen_share"]), expected=float(novelty["expected_unseen_share"]))
        first = (novelty.get("scripts") or [None])[0]  # the one training lacks most
        script = first and dict(script=str(first["script"]), held_out=float(first["held_out_share"]),
                                train=float(first["train_share"]))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if novelty.get("unseen_unlike") and script:
        return TextgenError(HELD_OUT_BOTH, **unseen, **script)
    if script:
        return TextgenError(HELD_OUT_SCRIPT, **script)
    return TextgenError(HELD_OUT_UNSEEN, **unseen)


def run_held_out_warning(config) -> TextgenError | None:
    """held_out_warning for a run, from the record its config.json keeps (None without one)."""
    record = config.get("held_out") if isinstance(config, dict) else None
    return held_out_warning(record.get("novelty")) if isinstance(record, dict) else None


def scored_part(config) -> tuple[int, int] | None:
    """(characters scored, held-out characters) when a run's held-out scores (its curve, its
    best, the kept model's) cover only the start of its held-out part, the first
    ``eval_max_chars`` characters, which keeps scoring a long text quick; None when they cover
    all of it or the run's config.json does not say. ``evaluate`` always scores all of it, and
    the end of a text may be harder: on tinyshakespeare the kept Balanced model scores about
    0.05 nats per character more on all 111,540 characters than on the first 50,000
    (benchmarks/README.md)."""
    record = config.get("held_out") if isinstance(config, dict) else None
    chars = record.get("chars") if isinstance(record, dict) else None
    scored = config.get("eval_max_chars") if isinstance(config, dict) else None
    if isinstance(chars, int) and isinstance(scored, int) and 0 < scored < chars:
        return scored, chars
    return None


# Beside a held-out loss that read only the start of the held-out part.
SCORED_PART = ("Scored on the first {scored:,} of its {chars:,} held-out characters, which keeps scoring quick; "
               "python -m textgen evaluate scores all of them, and the end of a text may score differently.")


def scored_part_sentence(config, tr) -> str:
    """The sentence saying what a run's held-out loss read when scored_part names a part, in
    the language of ``tr`` (a textgen.i18n translate function); "" when it read all of it."""
    part = scored_part(config)
    return tr(SCORED_PART, scored=part[0], chars=part[1]) if part else ""


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def held_out_record(train_text: str, held_out_text: str) -> dict:
    """What a run keeps about its held-out part: its length in characters and SHA-256
    fingerprint (so it can be scored again exactly), and held_out_novelty."""
    return {"chars": len(held_out_text), "sha256": _text_sha256(held_out_text),
            "novelty": held_out_novelty(train_text, held_out_text)}


def rebuild_held_out(config: dict) -> str:
    """The held-out text a run was scored on, rebuilt from its config.json.

    The corpus is loaded from the recorded sources. It is the same text when the whole
    corpus has the recorded fingerprint, or, for a run that records its held-out part, when
    the corpus still ends with exactly that part (text before it may have changed: the
    trained model is the same, and so is what it is scored on). Raises TextgenError otherwise.
    """
    record = config.get("corpus") or {}
    corpus = load_corpus(record.get("sources"))
    held_out = split_text(corpus.text, float(config.get("val_fraction", 0.1)))[1]
    if corpus.sha256 == record.get("sha256"):
        return held_out
    kept = config.get("held_out") or {}
    chars = kept.get("chars")
    if isinstance(chars, int) and 0 < chars <= len(corpus.text):
        tail = corpus.text[len(corpus.text) - chars:]
        if _text_sha256(tail) == kept.get("sha256"):
            return tail
    raise TextgenError("The run's corpus has changed since training, so its "
                       "held-out split cannot be rebuilt. Score a corpus file instead.")
