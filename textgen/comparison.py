"""Runs as tables show them: every run in the Runs table, and the selected runs side by
side, ranked by their held-out score, best first.

Rows are dicts keyed by English column names; ``translate`` (textgen.i18n) writes
durations, presets and tokenizers in the interface language.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from textgen import charts
from textgen.corpus import shown_corpus_name
from textgen.i18n import english

# Presets and tokenizers as tables show them (the config's own words, "bpe" as people say it).
VALUE_NAMES = {"quick": "quick", "balanced": "balanced", "quality": "quality",
               "char": "char", "word": "word", "bpe": "subword"}


def _score(run: dict) -> float | None:
    bpc = run.get("best_val_bpc")
    return float(bpc) if isinstance(bpc, (int, float)) and math.isfinite(bpc) else None


def ranked_runs(summaries: list[dict]) -> list[dict]:
    """Runs with a held-out score, lowest bits per character first; then runs without one."""
    scored = sorted((r for r in summaries if _score(r) is not None), key=lambda r: (_score(r), r["name"]))
    return scored + [r for r in summaries if _score(r) is None]


def value_name(value, translate=english):
    """A preset or tokenizer (``"bpe"``) as tables show it (``"subword"``); others unchanged."""
    return translate(VALUE_NAMES[value]) if value in VALUE_NAMES else value


def architecture_name(arch: str | None) -> str | None:
    """``"gru"`` as GRU, ``"transformer"`` as Transformer; None for a run without one."""
    return (arch or "").upper().replace("TRANSFORMER", "Transformer") or None


def _duration(run: dict, translate) -> str | None:
    return charts.format_duration(run["duration_s"], translate) if run.get("duration_s") else None


def _base_name(run: dict) -> str | None:
    return Path(run["init_from"]).name if run.get("init_from") else None


def runs_table_rows(summaries: list[dict], translate=english, state_name=None) -> list[dict]:
    """One row per run (``runs.run_summary`` dicts), in the order given: the Runs table.

    ``state_name(run)`` writes a run's state (default: its ``state`` as stored). Columns:
    Run, Title (None for a run without one), State, Preset, Architecture, Tokenizer, Corpus, Parameters, Best bits/char,
    Duration (text), Fine-tuned from (a run name) and Started (a local datetime).
    """
    state_name = state_name or (lambda run: run.get("state"))
    return [{
        "Run": run["name"],
        "Title": run.get("title"),
        "State": state_name(run),
        "Preset": value_name(run.get("preset"), translate),
        "Architecture": architecture_name(run.get("arch")),
        "Tokenizer": value_name(run.get("tokenizer"), translate),
        "Corpus": shown_corpus_name(run.get("corpus"), translate),
        "Parameters": run.get("parameters"),
        "Best bits/char": run.get("best_val_bpc"),
        "Duration": _duration(run, translate),
        "Fine-tuned from": _base_name(run),
        "Started": datetime.fromtimestamp(run["started_at"]) if run.get("started_at") else None,
    } for run in summaries]


def comparison_rows(summaries: list[dict], translate=english) -> list[dict]:
    """One row per run (``runs.run_summary`` dicts), ranked, as a table shows them."""
    ranked = ranked_runs(summaries)
    best = _score(ranked[0]) if ranked else None
    rows = []
    for rank, run in enumerate(ranked, 1):
        score = _score(run)
        rows.append({
            "Rank": rank if score is not None else None,
            "Run": run["name"],
            "Title": run.get("title"),
            "Best bits/char": score,
            "Behind the best": score - best if score is not None and best is not None else None,
            "Architecture": architecture_name(run.get("arch")),
            "Tokenizer": value_name(run.get("tokenizer"), translate),
            "Parameters": run.get("parameters"),
            "Steps": run.get("step"),
            "Duration": _duration(run, translate),
            "Corpus": shown_corpus_name(run.get("corpus"), translate),
            "Fine-tuned from": _base_name(run),
        })
    return rows


def _corpus_identity(run: dict):
    """What a run learnt from: its corpus's content hash (the same text pasted once and
    uploaded once is one corpus), or its corpus's name where the run records no hash."""
    return run.get("corpus_sha256") or ("name", run.get("corpus"))


def mixed_corpora(summaries: list[dict]) -> bool:
    """Whether the scored runs learnt different texts (their scores then do not compare
    directly); runs are told apart by the content of their corpus, not its name."""
    return len({_corpus_identity(r) for r in summaries if _score(r) is not None}) > 1
