"""Corpus: choose the text to learn from, and see what is in it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import (choice_key, chosen_corpus, choose_corpus, corpus_title, error_text, in_range, is_text,
                           load_overview, remember, run_through_app, show_error, t)
from pages._train_checks import base_advice
from textgen import charts, config, corpus, runs, train_options
from textgen.device import preset_device
from textgen.encodings import decode_bytes
from textgen.errors import TextgenError
from textgen.tables import csv_columns, csv_text
from textgen.uploads import store_corpus, store_titled, titled_filename

run_through_app()

SMALL_CORPUS_CHARS = 50_000
LARGE_VOCABULARY = 500
TABLE_SUFFIXES = (".csv", ".tsv")


@st.cache_data(max_entries=8, show_spinner=False)
def table_columns(data: bytes, name: str) -> tuple[list[str], int]:
    """Column names, and the index of the one holding the most text (the likely default)."""
    names = csv_columns(data, name)
    sizes = []
    for column in names[:20]:
        try:
            sizes.append(len(csv_text(data, column, name)))
        except TextgenError:
            sizes.append(0)
    return names, max(range(len(sizes)), key=sizes.__getitem__) if sizes else 0


def store_upload(data: bytes, name: str, column: str | None) -> Path:
    """Check and keep one uploaded file; a table keeps only its chosen column of text."""
    if column is not None:
        text = csv_text(data, column, name)
        stem = Path(name).stem
        return store_corpus(text.encode("utf-8"), f"{stem}-{column}.txt", runs.textgen_home())
    decode_bytes(data, name)  # raises a TextgenError for images, empty files ...
    return store_corpus(data, name, runs.textgen_home())


def handle_uploads(uploads: list, columns: dict[str, str | None]) -> tuple[list[str], list[TextgenError]]:
    """(paths of kept files, the TextgenError of each file that could not be used)."""
    paths, problems = [], []
    for upload in uploads:
        try:
            paths.append(str(store_upload(upload.getvalue(), upload.name, columns.get(upload.file_id))))
        except TextgenError as e:
            problems.append(e)
    return paths, problems


def title_input(key: str, default: str) -> str:
    """The Title box of a pasted or uploaded text: the name it goes by on every page, in its
    runs and their reports; left empty, ``default`` names it."""
    return st.text_input(t("Title"), key=key, persist_state="session", placeholder=default, max_chars=80,
                         help=t("The name this text goes by on Train, in Runs and in the report. "
                                "Leave it empty to use {default}.", default=default))


def choose_uploads(paths: list[str], title: str) -> None:
    """Use the kept uploads, named by ``title`` when it gives a name, else by their files."""
    titled = store_titled(paths, title, runs.textgen_home())
    if titled is not None:
        choose_corpus([str(titled)], titled.stem)
        return
    names = [Path(p).name for p in paths]
    if len(names) <= 3:
        choose_corpus(paths, " + ".join(names))
    else:
        choose_corpus(paths, f"{len(names)} uploaded files", "{count} uploaded files", count=len(names))


def upload_section() -> None:
    uploads = st.file_uploader(
        t("Upload text files"), accept_multiple_files=True, key="corpus_uploads",
        help=t("Plain text (.txt, .md, ...) in any common encoding, or a CSV table. "
               "Several files are joined into one corpus."),
    ) or []
    columns = {}
    for upload in uploads:
        if upload.name.lower().endswith(TABLE_SUFFIXES):
            try:
                names, likely = table_columns(upload.getvalue(), upload.name)
            except TextgenError as e:
                show_error(e)
                columns[upload.file_id] = None
                continue
            columns[upload.file_id] = st.selectbox(
                t("Text column of {name}", name=upload.name), names, index=likely,
                key=f"corpus_column_{upload.file_id}",
                help=t("The cells of this column become the text, one per line."),
            )
    title = title_input("corpus_upload_title", " + ".join(u.name for u in uploads)) if uploads else ""
    # Only act when the uploads (a column choice, the title) changed: otherwise a later
    # choice of a built-in corpus would be overwritten on every rerun.
    signature = (tuple((u.file_id, columns.get(u.file_id)) for u in uploads), title)
    if uploads and signature != st.session_state.get("upload_signature"):
        st.session_state["upload_signature"] = signature
        usable = [u for u in uploads if not (u.file_id in columns and columns[u.file_id] is None)]
        paths, problems = handle_uploads(usable, columns)
        st.session_state["upload_problems"] = problems
        if paths:
            try:
                choose_uploads(paths, title)
            except TextgenError as e:
                problems.append(e)
    elif not uploads:
        st.session_state.pop("upload_signature", None)
        st.session_state.pop("upload_problems", None)
    for problem in st.session_state.get("upload_problems", []):
        show_error(problem)  # kept as errors, so they follow a language switch


def paste_section() -> None:
    text = st.text_area(t("Paste text"), height=200,
                        persist_state="session", key=remember("corpus_paste", fits=is_text),
                        placeholder=t("Paste any text here: a story, song lyrics, emails..."))
    title = title_input(remember("corpus_paste_title", fits=is_text), t("pasted text"))
    if st.button(t("Use this text"), key="corpus_use_paste"):
        if not text.strip():
            st.warning(t("Paste some text into the box first."))
            return
        filename = titled_filename(title)
        try:  # the text's bytes exactly as pasted, under its title
            path = store_corpus(text.encode("utf-8"), filename or "pasted.txt", runs.textgen_home())
        except TextgenError as e:
            show_error(e)
            return
        if filename:
            choose_corpus([str(path)], path.stem)
        else:
            choose_corpus([str(path)], "pasted text", "pasted text")


def builtin_section() -> None:
    labels = {name: t("{name}: {description}", name=corpus.builtin_title(name, t), description=t(description))
              for name, description in corpus.BUILTIN_CORPORA.items()}
    key = choice_key(remember("corpus_builtin", fits=labels.__contains__))
    name = st.radio(t("Built-in corpus"), list(labels), key=key, persist_state="session", format_func=labels.get)
    if st.button(t("Use this corpus"), key="corpus_use_builtin"):
        choose_corpus([f"builtin:{name}"], f"built-in {name}")


def train_settings_fit(settings) -> bool:
    """Whether Train's settings of an earlier visit can still size the checks below."""
    return (isinstance(settings, dict) and settings.get("preset") in config.PRESETS
            and all(in_range(*config.RANGES[name][1:3])(settings.get(name)) for name in ("seq_len", "val_fraction")))


def warnings_for(overview: dict) -> None:
    """Plain-language warnings about the chosen text and the chosen training settings."""
    for note in overview["warnings"]:  # how the files were read: bytes left out ...
        st.warning(error_text(note), icon=":material/warning:")
    stats = overview["stats"]
    settings = st.session_state.get(remember("train_settings", fits=train_settings_fit)) or {}
    advice = base_advice(overview)
    base = advice[0] if advice and advice[1]["route"] == "fine-tune" else None
    if settings.get("follows_corpus", True) and bool(settings.get("init_from")) != bool(base):
        # Train not opened yet, or its base choice follows the corpus and this text takes the
        # other route: Train opens on that route with its form's values.
        settings = {"preset": settings.get("preset"), "init_from": base}
    try:
        defaults = train_options.form_defaults(settings.get("preset"), settings.get("init_from"), preset_device())
    except TextgenError:  # a base model damaged or gone: refused on Train, with its sentence
        defaults = config.resolve_config(settings.get("preset"), preset_device())
    run = dict(defaults, seq_len=settings.get("seq_len") or defaults["seq_len"],
               val_fraction=settings.get("val_fraction") or defaults["val_fraction"])
    problem = corpus.length_problem(stats["chars"], run)
    if problem is not None:
        st.error(t("Too small for the chosen settings on the Train page. {reason}", reason=error_text(problem)),
                 icon=":material/error:")
    elif stats["chars"] < SMALL_CORPUS_CHARS:
        st.warning(t(
            "This is a small text ({chars:,} characters). A model will learn its "
            "spelling and style but will soon start repeating it word for word. "
            "100,000 characters or more give better results.", chars=stats["chars"]),
            icon=":material/warning:")
    if stats["distinct_chars"] > LARGE_VOCABULARY:
        st.warning(t(
            "This text uses {count:,} different characters. Each one is an "
            "output of the model, which makes it bigger and slower to learn, and rare characters "
            "are learnt poorly. That is normal for Chinese or Japanese; otherwise consider "
            "removing unusual symbols, or train with the word tokenizer.", count=stats["distinct_chars"]),
            icon=":material/warning:")
    if "fallback" in overview["encoding"] or overview["replacement_share"] > 0.01:
        st.warning(t(
            "Parts of this file did not read cleanly as text (read as {encoding}). "
            "It may not be plain text, or it uses an unusual encoding: save it as UTF-8 text and "
            "upload it again, or the model will learn garbled characters.", encoding=t(overview["encoding"])),
            icon=":material/warning:")


def overview_section(spec: list[str]) -> None:
    overview = load_overview(spec)
    if overview is None:
        return
    stats = overview["stats"]
    st.subheader(t("Using: {name}", name=corpus_title()))
    with st.container(horizontal=True):  # figures wrap onto a new line rather than being cut
        st.metric(t("Characters"), f"{stats['chars']:,}", width="content")
        st.metric(t("Distinct characters"), f"{stats['distinct_chars']:,}", width="content")
        st.metric(t("Words"), f"{stats['words']:,}", width="content",
                  help=t("Runs of letters and digits. Chinese is written without spaces, so each Chinese "
                         "character counts as one word, as the Word tokenizer reads it."))
        st.metric(t("Lines"), f"{stats['lines']:,}", width="content")
        st.metric(t("Encoding"), overview["encoding"].split(" (")[0], width="content",
                  help=t("Detected encoding: {encoding}", encoding=t(overview["encoding"])))
    warnings_for(overview)
    st.caption(t("Preview (the beginning of the text)"))
    st.code(overview["preview"], language=None, wrap_lines=True, height=220)
    left, right = st.columns(2)
    left.plotly_chart(charts.char_frequency_figure(overview["char_freq"], translate=t), key="char_freq")
    right.plotly_chart(charts.word_frequency_figure(overview["word_freq"], translate=t), key="word_freq")
    st.plotly_chart(charts.line_length_figure(overview["line_lengths"], translate=t), key="line_lengths")
    st.page_link("pages/train.py", label=t("Train a model on this text"), icon=":material/arrow_forward:")


st.title(t("Corpus"))
st.write(t("Choose the text your model learns from. The more text, the better it writes."))

upload_tab, paste_tab, builtin_tab = st.tabs([t("Upload files"), t("Paste text"), t("Built-in")])
with upload_tab:
    upload_section()
with paste_tab:
    paste_section()
with builtin_tab:
    builtin_section()

st.divider()
overview_section(chosen_corpus()[0])
