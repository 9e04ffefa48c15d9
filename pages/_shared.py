"""Helpers several pages share: the interface language, the chosen corpus, cached
statistics, run lists.

Not a page itself (app.py does not list it). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from textgen import app_state, charts, corpus, device, metrics, runs, words
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, LANGUAGES, join_sentences, message_text, translate, translate_error
from textgen.units import plain_number

DEFAULT_CORPUS = ["builtin:sample"]
# States after which a run's model.keras is final and can be used or fine-tuned.
FINISHED_STATES = ("completed", "stopped", "interrupted", "failed")
PREVIEW_CHARS = 3000
MAX_SAFE_INTEGER = 2**53 - 1  # the largest whole number a browser's number box holds exactly
# Models that ship with the app: a run folder under assets/ holding model.keras.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
# The interface language: its session-state key and the URL's query parameter (?lang=zh).
LANGUAGE_KEY = "lang"
SWITCH_KEY = "language_switch"  # the sidebar widget's own key
CHOICES_KEY = "kept_choices"  # keys of choice widgets kept across pages and languages
APP_RAN_KEY = "app_ran"  # app.py has run in this session (see run_through_app)
DRAWN_KEY = "drawn_choices"  # this run's page and the kept keys it noted
LABELLED_KEY = "labelled_choices"  # keys of kept widgets whose options' labels may change
# Choices kept in the workspace's app-state.json (see remember), in session state: the file
# as this session last read or wrote it, the keys noted, and the keys already given their
# stored value.
STORED_KEY = "stored_choices"
REMEMBERED_KEY = "remembered_choices"
TAKEN_KEY = "taken_choices"
FORGOTTEN_KEY = "forgotten_choices"  # keys forget() dropped, with the value each takes next


# --- the interface language --------------------------------------------------------


def language() -> str:
    """The current interface language: the switch, else the link's ?lang=, else English."""
    code = st.session_state.get(LANGUAGE_KEY) or st.query_params.get(LANGUAGE_KEY)
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def t(text: str, **params) -> str:
    """``text`` (English, with ``{name}`` fields for ``params``) in the current language."""
    return translate(text, language(), **params)


def say(*sentences: str) -> str:
    """Sentences of one message in the current language, the empty ones left out
    (i18n.join_sentences: Chinese runs them together)."""
    return join_sentences(sentences, language())


def error_text(error: BaseException) -> str:
    return translate_error(error, language())


def show_error(error: BaseException, where=st, **kwargs) -> None:
    """A TextgenError's sentence, in the current language."""
    where.error(error_text(error), **kwargs)


def show_gpu_problem() -> None:
    """Where nvidia-smi lists a GPU the backend cannot use, the sentence `train` says too,
    with its fix (device.gpu_problem: asked once per server process)."""
    problem = device.gpu_problem()
    if problem:
        st.warning(t(problem.template, **problem.params), icon=":material/memory:")


def show_workspace_problem() -> bool:
    """The sentence for a workspace that cannot keep runs (runs.workspace_problem); whether
    there is one, so that a page keeps its Start buttons off."""
    problem = runs.workspace_problem()
    if problem:
        show_error(problem)
    return problem is not None


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


def kept_key(key: str) -> str:
    """``key`` for a widget (or a value) whose state should survive a visit to another
    page (see keep_choices)."""
    st.session_state.setdefault(CHOICES_KEY, set()).add(key)
    st.session_state.setdefault(DRAWN_KEY, {"page": None, "keys": set()})["keys"].add(key)
    return key


def choice_key(key: str) -> str:
    """``key`` for a radio or selectbox whose choice should survive a language switch,
    a change of its options' labels and a visit to another page (see keep_choices)."""
    st.session_state.setdefault(LABELLED_KEY, set()).add(key)
    return kept_key(key)


def keep_choices(page: str) -> None:
    """app.py calls this before ``page`` (its address) runs: set every noted key again.
    Streamlit forgets the state of widgets a run does not draw (another page's preset,
    say), unless it was set this way; and a browser remembers a choice by the label it
    shows, which a new language or a run's new state no longer offers, so setting the value
    sends it again with its new label. A value the same page drew in its last run (a slider,
    a number, a text) is left alone: setting it would send the browser the value as it was
    when this run began, undoing a change made since (a slider moved with the arrow keys)."""
    last = st.session_state.get(DRAWN_KEY) or {}
    own = last.get("keys", set()) if last.get("page") == page else set()
    own = own - st.session_state.get(LABELLED_KEY, set())
    for key in st.session_state.get(CHOICES_KEY, ()):
        if key in st.session_state and key not in own:
            st.session_state[key] = st.session_state[key]
    st.session_state[DRAWN_KEY] = {"page": page, "keys": set()}


def keep_undrawn_choices() -> None:
    """app.py calls this after the page ran: set again every noted choice this run did not
    draw (Advanced settings of another preset, say), which Streamlit would otherwise forget
    before the next run of the same page."""
    drawn = (st.session_state.get(DRAWN_KEY) or {}).get("keys", set())
    for key in st.session_state.get(CHOICES_KEY, ()):
        if key in st.session_state and key not in drawn:
            try:
                st.session_state[key] = st.session_state[key]
            except StreamlitAPIException:
                pass  # its widget was drawn after all: Streamlit keeps it


def load_choices() -> None:
    """app.py calls this first. A refresh starts a new session with nothing in
    st.session_state, so at a session's start the choices kept in the workspace's
    app-state.json are read; remember() hands each to its widget."""
    if STORED_KEY not in st.session_state:
        st.session_state[STORED_KEY] = app_state.load()


def _fits(fits, value) -> bool:
    try:
        return fits is None or bool(fits(value))
    except (TypeError, ValueError):
        return False


def remember(key: str, fits=None) -> str:
    """``key`` for a widget (or a value) whose choice survives a refresh, a restart of the
    app, a visit to another page and a language switch. Kept like choice_key, and saved in
    the workspace's app-state.json by save_choices. The first time a session notes the key
    and holds no value for it, it takes the stored one, if ``fits(value)`` says it still
    fits (a run deleted, a number out of range: the widget then shows its default).
    A radio or selectbox takes choice_key(remember(...))."""
    kept_key(key)
    st.session_state.setdefault(REMEMBERED_KEY, set()).add(key)
    forgotten = st.session_state.get(FORGOTTEN_KEY) or {}
    if key in forgotten:
        value = forgotten.pop(key)
        if value is not None:
            st.session_state[key] = value
        return key
    taken = st.session_state.setdefault(TAKEN_KEY, set())
    if key not in taken:
        taken.add(key)
        stored = st.session_state.get(STORED_KEY) or {}
        if key not in st.session_state and key in stored and _fits(fits, stored[key]):
            st.session_state[key] = stored[key]
    return key


def forget(**defaults) -> None:
    """Drop remembered choices (a run's name and title once it started): from app-state.json,
    so a refresh does not bring them back, and from this session, where the next remember()
    of each key sets it to its value in ``defaults`` before its widget is drawn (None: no
    value). Setting it is what empties a widget kept with persist_state, which would
    otherwise bring its last value back."""
    st.session_state.setdefault(FORGOTTEN_KEY, {}).update(defaults)
    for key in defaults:
        st.session_state.pop(key, None)
    stored = st.session_state.get(STORED_KEY)
    if stored is not None and set(defaults) & set(stored):
        st.session_state[STORED_KEY] = app_state.save(
            {key: value for key, value in app_state.load().items() if key not in defaults})


def is_text(value) -> bool:
    """A ``fits`` for remember(): the value of a text box."""
    return isinstance(value, str)


def in_range(low, high, whole: bool = False):
    """A ``fits`` for remember(): a number from ``low`` to ``high`` (a whole one if
    ``whole``), or None (an empty number input)."""
    def fits(value) -> bool:
        if value is None:
            return True
        kinds = (int,) if whole else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high
    return fits


def is_number(whole: bool = False):
    """A ``fits`` for remember() of a number box without bounds: any number it can hold (a
    whole one if ``whole``), or None. One outside the setting's range comes back as typed,
    with range_problem's sentence, rather than as the default without a word."""
    bound = MAX_SAFE_INTEGER if whole else math.inf
    return in_range(-bound, bound, whole)


def range_problem(label: str, value, low, high, whole: bool = False) -> str | None:
    """The sentence for a number box's ``value`` outside ``low`` to ``high`` (a whole number if
    ``whole``), named by its ``label``; None when it fits or is empty. Number boxes take any
    number and say this: a box with bounds keeps showing a number it refused while the page
    goes on with the last one it took."""
    if in_range(low, high, whole)(value):
        return None
    # Every digit, no exponent: a seed's 2,147,483,647 (not 2.14748e+09), a rate's 0.000001.
    return t("{label} takes a whole number from {low} to {high}, not {value}." if whole else
             "{label} takes a number from {low} to {high}, not {value}.",
             label=label, low=plain_number(low), high=plain_number(high), value=plain_number(value))


def save_choices() -> None:
    """app.py calls this after the page ran: the noted choices that changed go into
    app-state.json, beside those this session did not touch (another tab's, another page's)."""
    stored = st.session_state.get(STORED_KEY)
    if stored is None:
        return
    noted = st.session_state.get(REMEMBERED_KEY, ())
    current = app_state.as_stored({key: st.session_state[key] for key in noted if key in st.session_state})
    changed = {key: value for key, value in current.items() if key not in stored or stored[key] != value}
    if changed:
        st.session_state[STORED_KEY] = app_state.save({**app_state.load(), **changed})


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


def corpus_available(spec) -> bool:
    """Whether a corpus spec still names text: built-in names, or files that are still there
    (a remembered upload may have been deleted from the workspace since)."""
    def available(part) -> bool:
        if not isinstance(part, str):
            return False
        if part.startswith(corpus.BUILTIN_PREFIX):
            return part[len(corpus.BUILTIN_PREFIX):] in corpus.BUILTIN_CORPORA
        return Path(part).is_file()
    return isinstance(spec, list) and bool(spec) and all(map(available, spec))


def _corpus_label_fits(label) -> bool:
    return (isinstance(label, (list, tuple)) and len(label) == 2 and isinstance(label[0], str)
            and isinstance(label[1], dict))


def chosen_corpus() -> tuple[list[str], str]:
    """The corpus the Corpus page chose (paths or builtin:NAME), else the sample."""
    if "corpus_spec" not in st.session_state.get(TAKEN_KEY, ()):
        remember("corpus_spec", fits=corpus_available)
        if "corpus_spec" in st.session_state:  # its name comes with it
            remember("corpus_name", fits=is_text)
            remember("corpus_label", fits=_corpus_label_fits)
    spec = st.session_state.get("corpus_spec") or DEFAULT_CORPUS
    name = st.session_state.get("corpus_name") or ", ".join(spec)
    return list(spec), name


def choose_corpus(spec: list[str], name: str, template: str = "{name}", /, **params) -> None:
    """Use ``spec``. ``name`` (English) names the runs; ``template`` and ``params`` show it
    in the current language (file names stay as they are)."""
    st.session_state[remember("corpus_spec")] = list(spec)
    st.session_state[remember("corpus_name")] = name
    st.session_state[remember("corpus_label")] = (template, params or {"name": name})


def corpus_title() -> str:
    """The chosen corpus's name as shown, in the current language."""
    spec, name = chosen_corpus()
    label = st.session_state.get("corpus_label")
    # Built-ins (the default sample among them) and choices kept from before titles are
    # named as built-ins are, in the current language.
    if not label or all(part.startswith(corpus.BUILTIN_PREFIX) for part in spec):
        return corpus.shown_corpus_name(name, t)
    template, params = label
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


def status_message(status: dict) -> str:
    """A run's status message (status.json, or a runs.run_summary dict) in the current language."""
    return message_text(status, t)


def state_name(state: str | None) -> str:
    """A run's state (runs.STATES) as people read it."""
    names = {"queued": t("queued"), "running": t("running"), "paused": t("paused"),
             "completed": t("completed"), "stopped": t("stopped"), "failed": t("failed"),
             "interrupted": t("interrupted")}
    return names.get(state) or state or t("unknown")


def run_state_name(run: dict) -> str:
    """A run's state as people read it (a runs.run_summary dict): a queued job that is
    still loading is "starting", not waiting in line."""
    return t("starting") if run.get("starting") else state_name(run.get("state"))


def run_label(run: dict) -> str:
    """The run's title (else its name), the run it was fine-tuned from, its state and, once
    it is final, its best score: "Team notes (fine-tuned from base-model; completed, 2.31
    bits/char)". An active run's label leaves out its score, which changes with every
    evaluation."""
    bpc = run.get("best_val_bpc")
    name, base, state = run.get("title") or run["name"], run.get("base_name"), run_state_name(run)
    if isinstance(bpc, (int, float)) and run.get("state") not in runs.ACTIVE_STATES:
        if base:
            return t("{name} (fine-tuned from {base}; {state}, {bpc:.2f} bits/char)",
                     name=name, base=base, state=state, bpc=bpc)
        return t("{name} ({state}, {bpc:.2f} bits/char)", name=name, state=state, bpc=bpc)
    if base:
        return t("{name} (fine-tuned from {base}; {state})", name=name, base=base, state=state)
    return t("{name} ({state})", name=name, state=state)


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
