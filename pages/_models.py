"""Trained models for the Generate page: loaded once for every session of this server,
and the memorisation meter under what they write.

Not a page itself (app.py does not list it). TensorFlow loads here, when a model is used.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import error_text, t
from textgen import memorisation
from textgen.errors import TextgenError


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(path: str, stamp: float):
    """A loaded run; `stamp` (the model file's time) reloads it after more training."""
    import textgen  # TensorFlow loads here, and only here

    return textgen.load_run(path)


def use_model(path: str):
    stamp = (Path(path) / "model.keras").stat().st_mtime
    with st.spinner(t("Loading the model (the first time takes a few seconds)...")):
        return load_model(path, stamp)


@st.cache_resource(show_spinner=False, max_entries=2)
def training_index(path: str, stamp: float):
    """The n-gram index of a run's training text, built once per run for every session."""
    return memorisation.index_for_run(path)


def copying(path: str, text: str) -> dict | TextgenError:
    """How much of ``text`` the run copied from its training text, or why that is unknown."""
    try:
        stamp = (Path(path) / "config.json").stat().st_mtime
        with st.spinner(t("Indexing the training text to check for copying...")):
            return training_index(path, stamp).check(text)
    except TextgenError as e:
        return e
    except OSError:
        return TextgenError("The training text of this model could not be read, so copying cannot be checked.")


def copying_sentence(result: dict) -> str:
    """The memorisation meter's sentence, in the current language."""
    return memorisation.summary(result, t) + memorisation.passage_markdown(result, translate=t)


def show_copying(results: dict, key, path: str, text: str, where=st) -> None:
    """The memorisation meter under one sample, and a warning when the sample is mostly
    copied; ``results`` keeps the check across reruns."""
    if key not in results:
        results[key] = copying(path, text)
    result = results[key]
    if isinstance(result, Exception):
        where.caption(error_text(result))
        return
    where.caption(copying_sentence(result),
                  help=t("A model that copies long passages has memorised its training text "
                         "instead of learning to write like it. The prompt is not counted."))
    warning = memorisation.copied_warning(result, t)
    if warning:
        where.warning(warning, icon=":material/content_copy:")
