"""Helpers several pages share: the chosen corpus, cached statistics, run lists.

Not a page itself (app.py does not list it). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from textgen import charts, corpus, runs
from textgen.errors import TextgenError

DEFAULT_CORPUS = ["builtin:sample"]
# States after which a run's model.keras is final and can be used or fine-tuned.
FINISHED_STATES = ("completed", "stopped", "interrupted", "failed")
PREVIEW_CHARS = 3000
# Models that ship with the app: a run folder under assets/ holding model.keras.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def chosen_corpus() -> tuple[list[str], str]:
    """The corpus the Corpus page chose (paths or builtin:NAME), else the sample."""
    spec = st.session_state.get("corpus_spec") or DEFAULT_CORPUS
    name = st.session_state.get("corpus_name") or ", ".join(spec)
    return list(spec), name


def choose_corpus(spec: list[str], name: str) -> None:
    st.session_state["corpus_spec"] = list(spec)
    st.session_state["corpus_name"] = name


@st.cache_data(show_spinner="Reading the corpus...", max_entries=16)
def corpus_overview(spec: tuple[str, ...]) -> dict:
    """Statistics and chart data of a corpus. Cached by spec: uploads are stored
    under their content hash and built-ins never change, so the spec names the text."""
    loaded = corpus.load_corpus(list(spec))
    text = loaded.text
    return {
        "name": loaded.name,
        "encoding": loaded.encoding,
        "sources": loaded.sources,
        "sha256": loaded.sha256,
        "stats": loaded.stats,
        "preview": text[:PREVIEW_CHARS],
        "char_freq": charts.char_frequencies(text),
        "word_freq": charts.word_frequencies(text),
        "distinct_words": len(set(w.lower() for w in text.split())),
        "line_lengths": charts.downsample(charts.line_lengths(text), 50_000),
        "replacement_share": text.count("\ufffd") / max(len(text), 1),
    }


def load_overview(spec: list[str]) -> dict | None:
    """corpus_overview with any problem shown as a sentence on the page."""
    try:
        return corpus_overview(tuple(spec))
    except TextgenError as e:
        st.error(str(e))
    except OSError as e:
        st.error(f"The corpus could not be read ({e}). Choose it again on the Corpus page.")
    return None


def all_runs() -> list[dict]:
    return runs.list_runs()


def model_runs() -> list[dict]:
    """Runs that have a saved model, newest first."""
    return [r for r in all_runs() if r.get("has_model")]


def run_label(run: dict) -> str:
    bpc = run.get("best_val_bpc")
    score = f", {bpc:.2f} bits/char" if isinstance(bpc, (int, float)) else ""
    return f"{run['name']} ({run.get('state') or 'unknown'}{score})"


def shipped_models() -> dict[str, str]:
    """{path: label} of finished base models under assets/ (half-written ones left out)."""
    found = {}
    for model in sorted(ASSETS_DIR.glob("*/model.keras")):
        folder = model.parent
        if folder.name.startswith(".") or folder.suffix in (".new", ".tmp", ".old"):
            continue
        if runs.read_status(folder).get("state") in runs.ACTIVE_STATES:
            continue
        found[str(folder)] = f"{folder.name} (shipped base model)"
    return found


def model_choices(finished_only: bool = False) -> dict[str, str]:
    """{path: label} of every usable model: this user's runs first, then shipped ones."""
    choices = {r["path"]: run_label(r) for r in model_runs()
               if not finished_only or r["state"] in FINISHED_STATES}
    choices.update(shipped_models())
    return choices
