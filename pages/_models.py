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


def copy_check(results: dict, key, path: str, text: str):
    """The memorisation check of one sample (a check() result or the exception that kept it
    from running), kept in ``results`` across reruns."""
    if key not in results:
        results[key] = copying(path, text)
    return results[key]


def show_copying(results: dict, key, path: str, text: str, where=st) -> None:
    """The memorisation meter under one sample, and a warning when the sample is mostly
    copied; ``results`` keeps the check across reruns (copy_check)."""
    result = copy_check(results, key, path, text)
    if isinstance(result, Exception):
        where.caption(error_text(result))
        return
    where.caption(copying_sentence(result), help=copying_help())
    copied_warning(result, where)


def copied_warning(result, where=st) -> None:
    """The plain warning under a sample that is mostly copied (nothing otherwise)."""
    warning = None if isinstance(result, Exception) else memorisation.copied_warning(result, t)
    if warning:
        where.warning(warning, icon=":material/content_copy:")


def label_with_copying(label: str, result) -> tuple[str, str]:
    """``label`` and the meter in a few words ("... · 12% copied"), for a line above a sample
    where a sentence would not fit (the live panel on a projector); its sentence goes in
    copying_help's place: ``(line, help)``."""
    if isinstance(result, Exception):
        return label, error_text(result)
    if result["share"] is None:
        return label, copying_sentence(result)
    return (label + " · " + t("{share:.0%} copied", share=result["share"]),
            copying_sentence(result) + "\n\n" + copying_help())


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
