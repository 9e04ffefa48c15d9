"""Helpers several pages share: the interface language, the chosen corpus, cached
statistics, run lists.

Not a page itself (app.py does not list it). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from textgen import charts, corpus, metrics, runs, words
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate, translate_error

DEFAULT_CORPUS = ["builtin:sample"]
# States after which a run's model.keras is final and can be used or fine-tuned.
FINISHED_STATES = ("completed", "stopped", "interrupted", "failed")
PREVIEW_CHARS = 3000
# Models that ship with the app: a run folder under assets/ holding model.keras.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
# The interface language: its session-state key and the URL's query parameter (?lang=zh).
LANGUAGE_KEY = "lang"
SWITCH_KEY = "language_switch"  # the sidebar widget's own key
CHOICES_KEY = "kept_choices"  # keys of choice widgets kept across pages and languages
APP_RAN_KEY = "app_ran"  # app.py has run in this session (see run_through_app)


# --- the interface language --------------------------------------------------------


def language() -> str:
    """The current interface language: the switch, else the link's ?lang=, else English."""
    code = st.session_state.get(LANGUAGE_KEY) or st.query_params.get(LANGUAGE_KEY)
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def t(text: str, **params) -> str:
    """``text`` (English, with ``{name}`` fields for ``params``) in the current language."""
    return translate(text, language(), **params)


def error_text(error: BaseException) -> str:
    return translate_error(error, language())


def show_error(error: BaseException, where=st, **kwargs) -> None:
    """A TextgenError's sentence, in the current language."""
    where.error(error_text(error), **kwargs)


def run_through_app() -> None:
    """Every page calls this first. Because the pages live in a folder named pages/,
    Streamlit starts in its old folder-based mode: until app.py has called st.navigation
    once in this server process, opening a page's address runs that page file alone,
    without app.py's navigation and language switch. Leave that mode and run again,
    through app.py, on the same page. (Once app.py has run in a session, the mode is
    already left for good; only AppTest, which re-enters it on every run, gets here.)"""
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory and not st.session_state.get(APP_RAN_KEY):
        PagesManager.uses_pages_directory = False  # what st.navigation itself sets
        st.rerun()


def choice_key(key: str) -> str:
    """``key`` for a radio or selectbox whose choice should survive a language switch and
    a visit to another page (see keep_choices)."""
    st.session_state.setdefault(CHOICES_KEY, set()).add(key)
    return key


def keep_choices() -> None:
    """Set every noted choice again. Streamlit forgets the state of widgets a run does not
    draw (another page's preset, say), unless it was set this way; and a browser remembers
    a choice by the label it shows, which a new language no longer offers, so setting the
    value sends it again with its new label."""
    for key in st.session_state.get(CHOICES_KEY, ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _switched() -> None:
    st.session_state[LANGUAGE_KEY] = st.session_state[SWITCH_KEY]


def language_switch() -> None:
    """The sidebar's English / 中文 switch; app.py draws it before any page runs.

    The language is kept in its own session key, and the widget is set from it on every
    run: Streamlit resets a widget it takes for a new one (as on a server's first run,
    or in AppTest), and the language must not follow. Widgets' option labels are built
    when a page runs (format_func=labels.get), never inside a format_func, which
    Streamlit may call where the session's language is not at hand.
    """
    code = language()
    st.session_state[LANGUAGE_KEY] = st.session_state[SWITCH_KEY] = code
    st.session_state[APP_RAN_KEY] = True
    keep_choices()
    st.sidebar.segmented_control("Language / 语言", list(LANGUAGES), format_func=LANGUAGES.get,
                                 key=SWITCH_KEY, on_change=_switched, required=True)
    # In the URL too, so a refresh or a shared link keeps it; set on every run because a
    # page switch drops query parameters. English, the default, keeps the URL clean.
    if code == DEFAULT_LANGUAGE:
        if LANGUAGE_KEY in st.query_params:
            del st.query_params[LANGUAGE_KEY]
    elif st.query_params.get(LANGUAGE_KEY) != code:
        st.query_params[LANGUAGE_KEY] = code


# --- the chosen corpus ---------------------------------------------------------------


def chosen_corpus() -> tuple[list[str], str]:
    """The corpus the Corpus page chose (paths or builtin:NAME), else the sample."""
    spec = st.session_state.get("corpus_spec") or DEFAULT_CORPUS
    name = st.session_state.get("corpus_name") or ", ".join(spec)
    return list(spec), name


def choose_corpus(spec: list[str], name: str, template: str = "{name}", /, **params) -> None:
    """Use ``spec``. ``name`` (English) names the runs; ``template`` and ``params`` show it
    in the current language (file names stay as they are)."""
    st.session_state["corpus_spec"] = list(spec)
    st.session_state["corpus_name"] = name
    st.session_state["corpus_label"] = (template, params or {"name": name})


def corpus_title() -> str:
    """The chosen corpus's name as shown, in the current language."""
    _, name = chosen_corpus()
    template, params = st.session_state.get("corpus_label") or ("{name}", {"name": name})
    return t(template, **params)


@st.cache_data(show_spinner=False, max_entries=16)
def corpus_overview(spec: tuple[str, ...]) -> dict:
    """Statistics and chart data of a corpus. Cached by spec: uploads are stored
    under their content hash and built-ins never change, so the spec names the text."""
    loaded = corpus.load_corpus(list(spec))
    text = loaded.text
    return {
        "name": loaded.name,
        "encoding": loaded.encoding,
        "warnings": loaded.warnings,
        "sources": loaded.sources,
        "sha256": loaded.sha256,
        "stats": loaded.stats,
        "preview": text[:PREVIEW_CHARS],
        "char_freq": charts.char_frequencies(text),
        "word_freq": charts.word_frequencies(text),
        "distinct_words": words.distinct_words(text),
        "line_lengths": charts.downsample(charts.line_lengths(text), 50_000),
        "replacement_share": text.count("\ufffd") / max(len(text), 1),
    }


def load_overview(spec: list[str]) -> dict | None:
    """corpus_overview with any problem shown as a sentence on the page."""
    try:
        with st.spinner(t("Reading the corpus...")):
            return corpus_overview(tuple(spec))
    except TextgenError as e:
        show_error(e)
    except OSError as e:
        st.error(t("The corpus could not be read ({reason}). Choose it again on the Corpus page.", reason=e))
    return None


def records_reader() -> metrics.RecordsReader:
    """This session's reader of runs' jsonl files: each rerun reads only what was appended."""
    return st.session_state.setdefault("jsonl_cache", metrics.RecordsReader())


def all_runs() -> list[dict]:
    return runs.list_runs()


def model_runs() -> list[dict]:
    """Runs that have a saved model, newest first."""
    return [r for r in all_runs() if r.get("has_model")]


def state_name(state: str | None) -> str:
    """A run's state (runs.STATES) as people read it."""
    names = {"queued": t("queued"), "running": t("running"), "completed": t("completed"),
             "stopped": t("stopped"), "failed": t("failed"), "interrupted": t("interrupted")}
    return names.get(state) or state or t("unknown")


def run_state_name(run: dict) -> str:
    """A run's state as people read it (a runs.run_summary dict): a queued job that is
    still loading is "starting", not waiting in line."""
    return t("starting") if run.get("starting") else state_name(run.get("state"))


def run_label(run: dict) -> str:
    """The run's name, state and, once it is final, its best score. An active run's label
    leaves out its score, which changes with every evaluation."""
    bpc = run.get("best_val_bpc")
    state = run_state_name(run)
    if isinstance(bpc, (int, float)) and run.get("state") not in runs.ACTIVE_STATES:
        return t("{name} ({state}, {bpc:.2f} bits/char)", name=run["name"], state=state, bpc=bpc)
    return t("{name} ({state})", name=run["name"], state=state)


def shipped_models() -> dict[str, str]:
    """{path: label} of finished base models under assets/ (half-written ones left out)."""
    found = {}
    for model in sorted(ASSETS_DIR.glob("*/model.keras")):
        folder = model.parent
        if folder.name.startswith(".") or folder.suffix in (".new", ".tmp", ".old"):
            continue
        if runs.read_status(folder).get("state") in runs.ACTIVE_STATES:
            continue
        found[str(folder)] = t("{name} (shipped base model)", name=folder.name)
    return found


def model_choices(finished_only: bool = False) -> dict[str, str]:
    """{path: label} of every usable model: this user's runs first, then shipped ones."""
    choices = {r["path"]: run_label(r) for r in model_runs()
               if not finished_only or r["state"] in FINISHED_STATES}
    choices.update(shipped_models())
    return choices
