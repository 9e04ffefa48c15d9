"""What a word is: one definition for counting words (Corpus page, word charts) and for
the word tokenizer, so a corpus's word count and a word model's vocabulary agree.

A word is one CJK ideograph (Chinese is written without spaces, so each character
counts as a word) or a run of letters, digits and underscores of any script holding
none. Two other splits of text mean something else and are named for it: the memorisation
meter's *spaced words* (textgen.memorisation) and the BPE tokenizer's pre-tokenization
(textgen.tokenizers.BPE_PIECE_PATTERN).
"""

from __future__ import annotations

import re

# Ranges of CJK ideographs (the basic block, extension A, compatibility ideographs and
# the supplementary planes' extensions).
CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
WORD_PATTERN = f"[{CJK_IDEOGRAPHS}]|[^\\W{CJK_IDEOGRAPHS}]+"
WORD_RE = re.compile(WORD_PATTERN)
# The word tokenizer's pieces: words, then runs of whitespace, then any other single
# character (punctuation). The alternatives cover every character, so joining the pieces
# gives back the text exactly.
WORD_PIECE_RE = re.compile(f"{WORD_PATTERN}|\\s+|.", re.DOTALL)


def distinct_words(text: str) -> int:
    """How many different words ``text`` holds, with case kept as the word tokenizer keeps it."""
    return len(set(WORD_RE.findall(text)))
