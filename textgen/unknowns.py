"""Unknown tokens: what each ``<unk>`` stands for, what spelling it out costs, and
the sentences that say how much of a text a vocabulary does not know.

Light on purpose (no Keras): the Train and Generate pages use it before any model
is loaded. ``textgen.evaluation`` adds the spelling charge to every held-out score.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from textgen.corpus import split_text
from textgen.i18n import english
from textgen.tokenizers import UNKNOWN_TOKEN, describe_char, run_tokenizer, shown_list
from textgen.words import WORD_PIECE_RE

# Every character a text can hold: the Unicode code points less the 2,048 surrogates.
UNICODE_CHARACTERS = 0x110000 - 0x800
# Above this share of unknown characters (in the training or held-out text), training warns.
UNKNOWN_WARN_SHARE = 0.02


# --- what an unknown token stands for ------------------------------------------------------


def unknown_pieces(tokenizer, text: str) -> list[str]:
    """The stretch of text behind each ``<unk>`` token of ``tokenizer.encode(text)``, in order.

    Word tokenizer: the pieces (words, whitespace runs, punctuation marks) outside its
    vocabulary. Subword tokenizer: the single characters outside it (each is one ``<unk>``).
    Character tokenizer: none, since it refuses unknown characters instead.
    """
    if tokenizer.kind == "word":
        known = set(tokenizer.tokens[1:])
        return [piece for piece in tokenizer.split(text) if piece not in known]
    if tokenizer.kind == "bpe":
        unknown = tokenizer.unknown(text)
        if not unknown:
            return []
        return re.findall("[" + "".join(re.escape(char) for char in unknown) + "]", text)
    return []


def predicted_unknown_pieces(tokenizer, text: str, ids: np.ndarray) -> list[str]:
    """``unknown_pieces`` of the predicted tokens only: the first token is never scored."""
    pieces = unknown_pieces(tokenizer, text)
    if pieces and len(ids) and int(ids[0]) == tokenizer.unknown_id:
        return pieces[1:]
    return pieces


def unknown_share(tokenizer, text: str) -> float:
    """The share (0-1) of the characters of ``text`` that ``tokenizer`` reads as ``<unk>``."""
    return sum(map(len, unknown_pieces(tokenizer, text))) / max(len(text), 1)


# --- the cost of spelling an unknown token out ---------------------------------------------


def spelling_counts(text: str) -> dict:
    """What ``SpellingModel`` needs from a training split, as stored in tokenizer.json:
    ``{"chars": {character: count}, "pieces": number of word pieces}`` (one end of
    spelling per piece: words, whitespace runs, punctuation marks)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    values, counts = np.unique(codes, return_counts=True)
    return {"chars": {chr(int(v)): int(c) for v, c in zip(values, counts)},
            "pieces": len(WORD_PIECE_RE.findall(text))}


def vocabulary_counts(tokenizer) -> dict:
    """The stand-in for ``spelling_counts`` in runs saved without them: the characters of
    the vocabulary's own tokens, each token counted once and ending one piece."""
    tokens = [token for token in tokenizer.tokens if token != UNKNOWN_TOKEN]
    return {"chars": dict(Counter("".join(tokens))), "pieces": len(tokens)}


def _valid_counts(counts) -> bool:
    if not isinstance(counts, dict) or not isinstance(counts.get("chars"), dict):
        return False
    pieces = counts.get("pieces")
    return isinstance(pieces, int) and pieces >= 0 and all(
        isinstance(c, str) and len(c) == 1 and isinstance(n, int) and n > 0
        for c, n in counts["chars"].items())


class SpellingModel:
    """The code length, in nats, of spelling a piece of text out character by character.

    A static unigram model of the training split's characters plus an end-of-spelling
    symbol, with PPM's escape method C for characters it never saw (Moffat 1990,
    "Implementing the PPM data compression scheme", IEEE Trans. Commun. 38(11); called
    Witten-Bell after Witten & Bell 1991, "The zero-frequency problem", IEEE Trans. Inf.
    Theory 37(4)). With ``n`` symbols counted (characters and ends) of ``q`` distinct
    kinds, a seen symbol ``s`` costs ``ln((n + q) / count(s))``; a character never seen
    costs the escape, ``ln((n + q) / q)``, plus a uniform choice among the Unicode
    characters not seen, ``ln(1,112,064 - distinct characters seen)`` (PPM's order -1
    model). The probabilities sum to one, so every charge is a true code length.

    ``ends``: how many ends of spelling were counted; 0 leaves the end symbol out, for
    ``<unk>`` tokens that always stand for one character (subword tokenizer). With no
    counts at all every character costs ``ln(1,112,064)``, about 13.9 nats.
    """

    def __init__(self, chars: dict[str, int], ends: int = 0):
        self.counts, self.ends = dict(chars), ends
        kinds = len(self.counts) + (1 if ends else 0)
        total = sum(self.counts.values()) + ends + kinds  # n + q
        self._log_total = math.log(total) if total else 0.0
        escape = math.log(total / kinds) if kinds else 0.0
        self.novel_nats = escape + math.log(UNICODE_CHARACTERS - len(self.counts))
        self.end_nats = self._log_total - math.log(ends) if ends else 0.0
        self._cache: dict[str, float] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer) -> "SpellingModel":
        """The model a tokenizer's ``<unk>`` tokens are charged with: its ``spelling_counts``
        (saved at training time), else ``vocabulary_counts`` for runs saved without them."""
        counts = getattr(tokenizer, "spelling_counts", None)
        if not _valid_counts(counts):
            counts = vocabulary_counts(tokenizer)
        # A word <unk> stands for a piece of any length, so its end must be spelled too.
        ends = max(counts["pieces"], 1) if tokenizer.kind == "word" else 0
        return cls(counts["chars"], ends)

    def char_nats(self, char: str) -> float:
        count = self.counts.get(char)
        return self._log_total - math.log(count) if count else self.novel_nats

    def piece_nats(self, piece: str) -> float:
        """Nats to spell ``piece`` out, with its end of spelling where the model has one."""
        if piece not in self._cache:
            self._cache[piece] = sum(map(self.char_nats, piece)) + self.end_nats
        return self._cache[piece]

    def total_nats(self, pieces) -> float:
        """Nats to spell out every piece of ``pieces`` (repeats each charged again)."""
        return sum(count * self.piece_nats(piece) for piece, count in Counter(pieces).items())


def attach_spelling_counts(tokenizer, train_text: str) -> None:
    """Give a word or subword tokenizer the ``spelling_counts`` of its run's training split
    (a fine-tune refreshes them for its own text); tokenizer.json keeps them."""
    if tokenizer.unknown_id is not None:
        tokenizer.spelling_counts = spelling_counts(train_text)


def spelling_nats_per_char(tokenizer, text: str) -> float:
    """The spelling charge of a whole text (its first token included) per character of it:
    added to the training loss per character, it puts that curve on the held-out scale."""
    pieces = unknown_pieces(tokenizer, text)
    if not pieces:
        return 0.0
    return SpellingModel.for_tokenizer(tokenizer).total_nats(pieces) / max(len(text), 1)


# --- saying so ---------------------------------------------------------------------------------


def unknown_shares(tokenizer, train_text: str, val_text: str) -> dict:
    """``{"training": share, "held_out": share}``: the share (0-1) of each text's
    characters that ``tokenizer`` reads as ``<unk>``."""
    return {"training": unknown_share(tokenizer, train_text),
            "held_out": unknown_share(tokenizer, val_text)}


def expected_unknown_shares(text: str, val_fraction: float, kind: str, max_vocab: int,
                            base_dir=None) -> dict:
    """``unknown_shares`` of the run training would start on ``text`` with these settings,
    before it starts: the tokenizer is fitted (or the base run's loaded) as training does.

    A character tokenizer (a fine-tune adds the new characters) and a subword tokenizer
    fitted on this text (it keeps every character) know the whole text: shares are 0."""
    if kind != "word" and not base_dir:
        return {"training": 0.0, "held_out": 0.0}
    tokenizer = run_tokenizer(text, kind, max_vocab, base_dir)
    return unknown_shares(tokenizer, *split_text(text, val_fraction))


def unknown_text_warning(shares: dict, base_name: str | None = None, translate=english) -> str | None:
    """A sentence when more than UNKNOWN_WARN_SHARE of the training or held-out text is
    unknown (``shares`` as from ``unknown_shares``), else None. ``base_name``: the run a
    fine-tune starts from, whose word or subword vocabulary cannot grow."""
    worst = max(shares.get("training", 0.0), shares.get("held_out", 0.0))
    if worst <= UNKNOWN_WARN_SHARE:
        return None
    if base_name:
        return translate("The base model {base} does not know {share:.0%} of this text's characters: "
                         "its vocabulary cannot grow, so the fine-tuned model reads them as <unk> "
                         "and cannot learn to write them. Train a new model on this text with "
                         "character or subword tokens instead.", base=base_name, share=worst)
    return translate("{training:.0%} of the training text and {held_out:.0%} of the held-out text "
                     "are outside the vocabulary: the model reads them as <unk> and never learns "
                     "to write them, and its score is charged for spelling them out. "
                     "Use character or subword tokens, or a larger vocabulary.",
                     training=shares.get("training", 0.0), held_out=shares.get("held_out", 0.0))


def describe_piece(piece: str) -> str:
    """A piece of text as a person can read it in a message (whitespace by name)."""
    if len(piece) == 1:
        return describe_char(piece)
    if piece.isspace():
        return " + ".join(describe_char(char) for char in piece)
    return f'"{piece}"'


def unknown_prompt_warning(pieces: list[str], translate=english) -> str | None:
    """A sentence naming the prompt's ``pieces`` that the model reads as ``<unk>``, else None."""
    if not pieces:
        return None
    shown, more = shown_list(pieces, describe_piece)
    if more > 0:
        return translate("The model does not know these parts of the prompt and reads each as "
                         "<unk>: {shown} and {more} more.", shown=shown, more=more)
    return translate("The model does not know these parts of the prompt and reads each as "
                     "<unk>: {shown}.", shown=shown)
