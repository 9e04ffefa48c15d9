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

from textgen import config
from textgen.corpus import load_corpus, min_corpus_length
from textgen.errors import TextgenError
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


# --- settings suggested for a text's size ------------------------------------------

# The size of a model a text supports is read in tokens per parameter. Chinchilla's ~20 tokens
# per parameter (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models") is the
# compute-optimal ratio for text read once; a text of a few thousand to a few million characters
# falls far below it for any model worth training, so a model here reads its text many times,
# and the fewer tokens each parameter has, the sooner it copies the text instead of learning
# its patterns. Hence: the smaller the text, the smaller the model, the more dropout and the
# shorter the run. Where the text is read many times in the run's time, dropout pays; where it
# is read only a few times, it costs (measured below).
WORD_CHARS_PER_TOKEN = 2.85  # English: a word of ~4.7 letters and the space after it, two tokens
CHARS_PER_TOKEN = {"char": 1.0, "word": WORD_CHARS_PER_TOKEN, "bpe": config.BPE_CHARS_PER_TOKEN}
TYPICAL_CHAR_VOCABULARY = 100  # a character vocabulary of English prose with punctuation

_TINY_GRU = dict(arch="gru", layers=1, units=128, embedding_dim=64)
_SMALL_GRU = dict(arch="gru", layers=1, units=256, embedding_dim=64)
_BALANCED_GRU = dict(arch="gru", layers=2, units=256, embedding_dim=64)

# (fewer tokens than, {device: settings}, {device: reason}), smallest texts first; the last row
# takes every larger text. Values lie inside config.RANGES (tests/test_suggestions.py).
SIZE_TABLE = (
    # 20,000 tokens give a 1x128 GRU (87,000 parameters) 0.2 tokens a parameter: a
    # 12,000-character text trained from scratch ran all 30 epochs in 39 s (benchmarks/README.md,
    # "small texts"), so a minute is all it needs, and much dropout.
    (20_000,
     {"cpu": dict(_TINY_GRU, dropout=0.3, time_budget=60.0)},
     {"cpu": "A very small text (about {tokens:,} tokens) gives even a small model ({parameters:,} "
             "parameters) only {ratio:.2g} tokens per parameter, against the ~20 of a model that reads "
             "its text once (Hoffmann et al. 2022): a bigger one would soon copy it, so this one is "
             "small, with dropout {dropout:g} against memorising, and a short run."}),
    # Quick's shape (1x256): readable within a minute or two on a CPU (benchmarks/README.md).
    (100_000,
     {"cpu": dict(_SMALL_GRU, dropout=0.2, time_budget=120.0)},
     {"cpu": "A small text (about {tokens:,} tokens, {ratio:.2g} per parameter of this {parameters:,}-"
             "parameter model, against the ~20 of a model that reads its text once, Hoffmann et al. "
             "2022): a bigger model would soon copy it, so this one stays small, with dropout {dropout:g} "
             "against memorising."}),
    # Balanced's 2x256 GRU reads ~16,000 characters a second on two cores (design.md): ten minutes
    # read a text this size 20 times or more, so a little dropout. On a GPU, a Transformer smaller
    # than the GPU preset's (3.3 M parameters, not 10.8 M), for the same reason (not measured).
    (500_000,
     {"cpu": dict(_BALANCED_GRU, dropout=0.1, time_budget=600.0),
      "gpu": dict(arch="transformer", layers=4, units=256, embedding_dim=256, dropout=0.2, time_budget=300.0)},
     {"cpu": "A medium text (about {tokens:,} tokens, {ratio:.2g} per parameter): the two-layer model "
             "that learns most per minute on a CPU, with a little dropout ({dropout:g}) because ten "
             "minutes read the text many times over.",
      "gpu": "A medium text (about {tokens:,} tokens, {ratio:.2g} per parameter): a four-layer "
             "Transformer, smaller than the GPU preset's so that it does not copy the text, with dropout "
             "{dropout:g} because a GPU reads it many times over."}),
    # On tinyshakespeare (1.1 M characters, 1.7 tokens a parameter of 2x256) ten minutes read the
    # text a few times and dropout 0.1 scored worse than none (1.5338 against 1.5218 nats/char,
    # benchmarks/README.md). On a GPU: nanoGPT's Shakespeare model, the GPU Balanced preset.
    (3_000_000,
     {"cpu": dict(_BALANCED_GRU, dropout=0.0, time_budget=600.0),
      "gpu": dict(arch="transformer", layers=6, units=384, embedding_dim=384, dropout=0.2, time_budget=600.0)},
     {"cpu": "A text of about {tokens:,} tokens ({ratio:.2g} per parameter) suits the two-layer model that "
             "learns most per minute on a CPU; ten minutes read it only a few times, so no dropout "
             "(dropout 0.1 scored worse on a play of 1.1 million characters).",
      "gpu": "A text of about {tokens:,} tokens ({ratio:.2g} per parameter) suits the six-layer Transformer "
             "nanoGPT trains on a play of 1.1 million characters, with its dropout {dropout:g}: a GPU "
             "reads the text many times over."}),
    # A large text holds more than 2x256 can learn: Quality's shapes. A 3x512 GRU reads some 2,000-
    # 3,000 characters a second on two cores (estimated from its 6x the work of 2x256), so half an
    # hour reads the text about once or twice: no dropout. A GPU reads it many times (not measured).
    (None,
     {"cpu": dict(arch="gru", layers=3, units=512, embedding_dim=128, dropout=0.0, time_budget=1800.0),
      "gpu": dict(arch="transformer", layers=8, units=512, embedding_dim=512, dropout=0.1, time_budget=1800.0)},
     {"cpu": "A large text (about {tokens:,} tokens, {ratio:.2g} per parameter even of a bigger model) "
             "holds more than a small model can learn, and half an hour on a CPU reads it at most once "
             "or twice, so a bigger model without dropout.",
      "gpu": "A large text (about {tokens:,} tokens, {ratio:.2g} per parameter even of a bigger model) "
             "holds more than a small model can learn: a wider, eight-layer Transformer, with a little "
             "dropout ({dropout:g}) since a GPU reads the text many times in half an hour."}),
)


def fitting_seq_len(chars: int, seq_len: int, val_fraction: float) -> int:
    """``seq_len`` halved until a text of ``chars`` characters holds a window of it in both
    its training and held-out parts (corpus.min_corpus_length), but not below config.RANGES'
    least sequence length (which a text too small for even that does not fit either).
    Raises TextgenError for a held-out share outside 0 to 1, as min_corpus_length does."""
    return config.halved_to_fit(seq_len, config.RANGES["seq_len"][1],
                                lambda tokens: min_corpus_length(tokens, val_fraction) <= chars)


def suggested_settings(chars: int, device: str = "cpu", tokenizer: str = "char",
                       vocab_size: int | None = None, val_fraction: float | None = None) -> dict:
    """The model shape, sequence length, dropout and time budget suggested for a text of
    ``chars`` characters on ``device`` ("cpu" or "gpu", config.DEVICES) with ``tokenizer``
    ("char", "word" or "bpe"), by the tokens a parameter the text gives (SIZE_TABLE).
    ``vocab_size``: the tokenizer's (default: a typical one for its kind), for the parameter
    count. The sequence length is the Balanced preset's for that kind of network (a GRU's on
    a GPU too), halved until the text holds it with
    ``val_fraction`` (default: config.COMMON_DEFAULTS') held out (fitting_seq_len).

    Returns {"settings": {arch, layers, units, embedding_dim, seq_len (tokens), dropout,
    time_budget (seconds)},
    "reason": (English template, params) saying why in one sentence, "tokens": the text's tokens
    (estimated from its characters), "parameters": the suggested model's, "band": the table row's
    upper bound in tokens (None for the last)}. The learning rate stays the preset's. Raises
    TextgenError for an unknown device or tokenizer."""
    if device not in config.DEVICES:
        raise TextgenError("Unknown device {device!r}. Choose cpu or gpu.", device=device)
    if tokenizer not in CHARS_PER_TOKEN:
        raise TextgenError("Unknown tokenizer {tokenizer!r}. Choose char, word or bpe.", tokenizer=tokenizer)
    tokens = max(0, int(chars / CHARS_PER_TOKEN[tokenizer]))
    below, shapes, reasons = next(row for row in SIZE_TABLE if row[0] is None or tokens < row[0])
    settings = dict(shapes.get(device, shapes["cpu"]))
    vocab = vocab_size or (TYPICAL_CHAR_VOCABULARY if tokenizer == "char" else config.VOCAB_DEFAULTS[tokenizer])
    # The Balanced preset with this shape's kind of network: a GRU's 256 even on a GPU (its
    # windows warm up from 64, config.short_window).
    preset = config.preset_values("balanced", "gpu" if settings["arch"] == "transformer" else "cpu")
    held_out = config.COMMON_DEFAULTS["val_fraction"] if val_fraction is None else val_fraction
    settings["seq_len"] = fitting_seq_len(chars, preset["seq_len"], held_out)
    parameters = config.count_parameters(settings, int(vocab))
    params = {"tokens": tokens, "parameters": parameters, "ratio": tokens / parameters,
              "dropout": settings["dropout"]}
    return {"settings": settings, "reason": (reasons.get(device, reasons["cpu"]), params),
            "tokens": tokens, "parameters": parameters, "band": below}
