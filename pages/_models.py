"""Trained models for the Generate and Runs pages: loaded once for every session of this
server, the memorisation meter under what they write, and their download as a web page.

Not a page itself (app.py does not list it). TensorFlow loads here, when a model is used.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import error_text, language, t
from textgen import export, memorisation
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


def copying_help() -> str:
    return t("A model that copies long passages has memorised its training text "
             "instead of learning to write like it. The prompt is not counted.")


def show_copying(results: dict, key, path: str, text: str, where=st, label: str | None = None) -> None:
    """The memorisation meter of one sample, and a warning when the sample is mostly copied;
    ``results`` keeps the check across reruns. With ``label``, the meter is a few words after
    it on one line ("... · 12% copied from the training text"), its sentence on hover."""
    if key not in results:
        results[key] = copying(path, text)
    result = results[key]
    if isinstance(result, Exception):
        where.caption((label + " · " if label else "") + error_text(result))
        return
    if label is not None and result["share"] is not None:
        where.caption(label + " · " + t("{share:.0%} copied from the training text", share=result["share"]),
                      help=copying_sentence(result) + "\n\n" + copying_help())
    else:
        if label is not None:
            where.caption(label)
        where.caption(copying_sentence(result), help=copying_help())
    warning = memorisation.copied_warning(result, t)
    if warning:
        where.warning(warning, icon=":material/content_copy:")


def web_page_button(path: str | None, key: str, disabled: bool = False) -> None:
    """"Download as web page": the model at ``path`` in one HTML file that runs it in any
    browser, offline (textgen.export), built when clicked; disabled, saying why, where the
    browser runtime is not installed."""
    page_language = language()  # read now: the download is built outside this script run
    try:
        export.check_runtime()
        problem = None
    except TextgenError as e:
        problem = error_text(e)
    model = Path(path) / "model.keras" if path else None
    if problem is None and path and not model.exists():
        problem = t("There is no saved model yet: a run saves one at its first held-out score.")
    usable = model is not None and model.exists() and not disabled and problem is None

    def page() -> str:
        return export.build_page(load_model(str(path), model.stat().st_mtime), page_language)

    st.download_button(t("Download as web page"), page if usable else "", file_name=f"{Path(path or 'model').name}.html",
                       mime="text/html", icon=":material/language:", on_click="ignore", key=key,
                       disabled=not usable,
                       help=problem or t("One HTML file with the model inside: whoever opens it types a prompt "
                                         "and watches the model write, on their own computer, offline, with "
                                         "nothing to install."))
