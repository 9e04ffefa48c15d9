"""Runs side by side: the selected runs ranked by their held-out score, best first."""

from __future__ import annotations

import math
from pathlib import Path

from textgen import charts


def _score(run: dict) -> float | None:
    bpc = run.get("best_val_bpc")
    return float(bpc) if isinstance(bpc, (int, float)) and math.isfinite(bpc) else None


def ranked_runs(summaries: list[dict]) -> list[dict]:
    """Runs with a held-out score, lowest bits per character first; then runs without one."""
    scored = sorted((r for r in summaries if _score(r) is not None), key=lambda r: (_score(r), r["name"]))
    return scored + [r for r in summaries if _score(r) is None]


def comparison_rows(summaries: list[dict]) -> list[dict]:
    """One row per run (``runs.run_summary`` dicts), ranked, as a table shows them."""
    ranked = ranked_runs(summaries)
    best = _score(ranked[0]) if ranked else None
    rows = []
    for rank, run in enumerate(ranked, 1):
        score = _score(run)
        rows.append({
            "Rank": rank if score is not None else None,
            "Run": run["name"],
            "Best bits/char": score,
            "Behind the best": score - best if score is not None and best is not None else None,
            "Architecture": (run.get("arch") or "").upper().replace("TRANSFORMER", "Transformer") or None,
            "Tokenizer": run.get("tokenizer"),
            "Parameters": run.get("parameters"),
            "Steps": run.get("step"),
            "Duration": charts.format_duration(run["duration_s"]) if run.get("duration_s") else None,
            "Corpus": run.get("corpus"),
            "Fine-tuned from": Path(run["init_from"]).name if run.get("init_from") else None,
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
