"""Advice before training: which route suits this text.

A small text teaches a model trained from scratch its spelling and little more before the
model starts copying it. A base model that already knows the text's characters brings the
rest, so on a small text fine-tuning it gives better writing within a minute (measured in
benchmarks/README.md, "Small texts"). A base that knows few of the text's characters
(a Chinese text for a base pre-trained on English and code) must learn them from nothing
and does worse than training from scratch, so it is not suggested there. Nor is it for a
text it was pre-trained on: its held-out part would not be new to the model, so the score
would flatter it.
"""

from __future__ import annotations

from pathlib import Path

from textgen.corpus import load_corpus
from textgen.files import read_json
from textgen.i18n import english
from textgen.tokenizers import load_tokenizer
from textgen.unknowns import unknown_shares

# Below this many characters a text is small: a model from scratch soon copies it.
SMALL_TEXT_CHARS = 100_000
# The least share of a text's characters a base model must know to be suggested for it.
KNOWN_SHARE = 0.99


def known_share(tokenizer, text: str) -> float:
    """The share (0 to 1) of ``text``'s characters that ``tokenizer`` (textgen.tokenizers)
    knows: for a character vocabulary the characters in it, for a word or subword one the
    characters its tokens cover, <unk> tokens excluded. 0 for an empty text."""
    if not text:
        return 0.0
    if tokenizer.kind == "char":
        unknown = tokenizer.unknown(text)
        return 1.0 - sum(text.count(char) for char in unknown) / len(text)
    return 1.0 - unknown_shares(tokenizer, text, "")["training"]


def base_advice(text: str, base_dir, sources=()) -> dict:
    """Whether to fine-tune the base model at ``base_dir`` on ``text`` (read from the corpus
    ``sources``, textgen.corpus) rather than train from scratch: ``route`` is "fine-tune"
    (a small text the base knows), "scratch" (a small text it does not know), "seen" (a
    source the base was pre-trained on) or None (a large text: either route is fine);
    ``known_share`` (0 to 1, known_share), ``chars`` (the text's characters) and ``seen``
    (the sources the base was pre-trained on). Raises TextgenError when the base's vocabulary is missing or
    damaged."""
    share = known_share(load_tokenizer(Path(base_dir) / "tokenizer.json"), text)
    base_corpus = (read_json(Path(base_dir) / "config.json", {}) or {}).get("corpus") or {}
    seen = [source for source in sources if source in (base_corpus.get("sources") or ())]
    route = None
    if seen:
        route = "seen"
    elif len(text) < SMALL_TEXT_CHARS:
        route = "fine-tune" if share >= KNOWN_SHARE else "scratch"
    return {"route": route, "known_share": share, "chars": len(text), "seen": seen}


def corpus_base_advice(spec, base_dir) -> dict:
    """base_advice for the corpus ``spec`` (paths or builtin:NAME); raises TextgenError as
    load_corpus does."""
    loaded = load_corpus(list(spec))
    return base_advice(loaded.text, base_dir, loaded.sources)


def advice_sentence(advice: dict, base_name: str, chosen: bool, translate=english) -> str | None:
    """What Train says about ``advice`` (base_advice) for the base model ``base_name``,
    ``chosen`` telling whether the person now fine-tunes it; None when there is nothing
    worth saying."""
    share, chars = advice["known_share"], advice["chars"]
    if advice["route"] == "fine-tune" and chosen:
        return translate("Your text is small ({chars:,} characters), so this run fine-tunes the shipped base "
                         "model, which already knows {share:.1%} of its characters and within a minute writes "
                         "more like your text than a model started from scratch.", chars=chars, share=share)
    if advice["route"] == "seen" and chosen:
        return translate("The base model {base} was pre-trained on {source} already, so this text is not "
                         "new to it: its held-out score after fine-tuning would flatter it. Fine-tune it on "
                         "text of your own, or train from scratch.", base=base_name, source=advice["seen"][0])
    if advice["route"] == "scratch" or (chosen and share < KNOWN_SHARE):
        return translate("The base model {base} knows only {share:.0%} of this text's characters: it learnt "
                         "from other text, so fine-tuning it must learn the rest from nothing and is likely "
                         "to do worse than training from scratch.", base=base_name, share=share)
    return None
