"""What a run will be before it starts: its vocabulary, tokens, model size and time.

The Train page shows these next to the settings. The vocabulary and the token count
come from the very tokenizer training builds on this corpus (character and word
vocabularies are counted in well under a second; a subword vocabulary is learnt by
the Rust ``tokenizers`` library in about a second per megabyte), so the model size
shown is the one training reports. Results are kept per corpus content and setting.
"""

from __future__ import annotations

import functools
from textgen import config as settings
from textgen import speeds
from textgen.corpus import load_corpus, split_text
from textgen.heldout import held_out_novelty
from textgen.tokenizers import run_tokenizer
from textgen.unknowns import expected_unknown_shares


@functools.lru_cache(maxsize=32)
def token_counts(spec: tuple[str, ...], sha256: str, kind: str, max_vocab: int, val_fraction: float,
                 init_from: str | None = None) -> tuple[int, int, int]:
    """(vocabulary size, tokens in the training part, its characters) of the corpus ``spec``.

    ``sha256`` is the corpus's content hash (textgen.corpus.Corpus.sha256): it keys the
    cache, so a changed file is counted again. Raises TextgenError as load_corpus does.
    """
    text = load_corpus(list(spec)).text
    tokenizer = run_tokenizer(text, kind, max_vocab, init_from)
    train_text, _ = split_text(text, val_fraction)
    return tokenizer.vocab_size, len(tokenizer.encode(train_text)), len(train_text)


def run_estimates(resolved: dict, spec, sha256: str, init_from: str | None = None) -> dict:
    """``vocab_size``, ``train_tokens``, ``chars_per_token`` (of the training part),
    ``parameters``, ``tokens_per_s`` (training tokens a
    second measured on this machine for these settings, textgen.speeds, or None) and
    ``seconds`` (config.estimate_seconds; infinite when neither a time budget nor epochs at a
    measured speed bound it) of a run with the settings ``resolved`` (config.resolve_config)
    on the corpus ``spec``."""
    vocab, train_tokens, train_chars = token_counts(tuple(spec), sha256, resolved["tokenizer"],
                                       int(resolved["max_vocab"]), float(resolved["val_fraction"]),
                                       str(init_from) if init_from else None)
    tokens_per_s = speeds.remembered_speed(resolved, vocab, speeds.probe_where())
    return {"vocab_size": vocab, "train_tokens": train_tokens,
            "chars_per_token": train_chars / max(train_tokens, 1),
            "parameters": settings.count_parameters(resolved, vocab), "tokens_per_s": tokens_per_s,
            "seconds": settings.estimate_seconds(resolved, train_tokens, tokens_per_s)}


def rough_estimates(resolved: dict, stats: dict, distinct_words: int) -> dict:
    """``parameters`` and ``seconds`` as run_estimates gives them, guessed from a corpus's
    statistics (textgen.corpus) where its tokenizer cannot be built to count exactly."""
    vocab, _ = settings.expected_vocabulary(resolved, stats, distinct_words)
    return {"parameters": settings.count_parameters(resolved, vocab), "tokens_per_s": None,
            "seconds": settings.estimate_seconds(resolved, 0)}


def corpus_unknown_shares(spec, kind: str, max_vocab: int, val_fraction: float,
                          init_from: str | None = None) -> dict:
    """unknowns.expected_unknown_shares of the corpus ``spec`` (paths or builtin:NAME):
    the shares of its training and held-out parts a run would read as unknown tokens."""
    text = load_corpus(list(spec)).text
    return expected_unknown_shares(text, val_fraction, kind, max_vocab, init_from)


def corpus_held_out_novelty(spec, val_fraction: float) -> dict:
    """heldout.held_out_novelty of the corpus ``spec`` split as training will split it."""
    text = load_corpus(list(spec)).text
    return held_out_novelty(*split_text(text, val_fraction))
