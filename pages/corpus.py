"""Corpus: choose the text to learn from, and see what is in it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import chosen_corpus, choose_corpus, load_overview
from textgen import charts, config, corpus, runs
from textgen.errors import TextgenError

SMALL_CORPUS_CHARS = 50_000
LARGE_VOCABULARY = 500
TABLE_SUFFIXES = (".csv", ".tsv")


@st.cache_data(max_entries=8, show_spinner=False)
def table_columns(data: bytes, name: str) -> tuple[list[str], int]:
    """Column names, and the index of the one holding the most text (the likely default)."""
    names = corpus.csv_columns(data, name)
    sizes = []
    for column in names[:20]:
        try:
            sizes.append(len(corpus.csv_text(data, column, name)))
        except TextgenError:
            sizes.append(0)
    return names, max(range(len(sizes)), key=sizes.__getitem__) if sizes else 0


def store_upload(data: bytes, name: str, column: str | None) -> Path:
    """Check and keep one uploaded file; a table keeps only its chosen column of text."""
    if column is not None:
        text = corpus.csv_text(data, column, name)
        stem = Path(name).stem
        return corpus.store_corpus(text.encode("utf-8"), f"{stem}-{column}.txt", runs.textgen_home())
    corpus.decode_bytes(data, name)  # raises a TextgenError for images, empty files ...
    return corpus.store_corpus(data, name, runs.textgen_home())


def handle_uploads(uploads: list, columns: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """(paths of kept files, one sentence per file that could not be used)."""
    paths, problems = [], []
    for upload in uploads:
        try:
            paths.append(str(store_upload(upload.getvalue(), upload.name, columns.get(upload.file_id))))
        except TextgenError as e:
            problems.append(str(e))
    return paths, problems


def upload_section() -> None:
    uploads = st.file_uploader(
        "Upload text files", accept_multiple_files=True,
        help="Plain text (.txt, .md, ...) in any common encoding, or a CSV table. "
             "Several files are joined into one corpus.",
    ) or []
    columns = {}
    for upload in uploads:
        if upload.name.lower().endswith(TABLE_SUFFIXES):
            try:
                names, likely = table_columns(upload.getvalue(), upload.name)
            except TextgenError as e:
                st.error(str(e))
                columns[upload.file_id] = None
                continue
            columns[upload.file_id] = st.selectbox(
                f"Text column of {upload.name}", names, index=likely,
                help="The cells of this column become the text, one per line.",
            )
    # Only act when the uploads (or a column choice) changed: otherwise a later
    # choice of a built-in corpus would be overwritten on every rerun.
    signature = tuple((u.file_id, columns.get(u.file_id)) for u in uploads)
    if uploads and signature != st.session_state.get("upload_signature"):
        st.session_state["upload_signature"] = signature
        usable = [u for u in uploads if not (u.file_id in columns and columns[u.file_id] is None)]
        paths, problems = handle_uploads(usable, columns)
        st.session_state["upload_problems"] = problems
        if paths:
            names = [Path(p).name for p in paths]
            choose_corpus(paths, " + ".join(names) if len(names) <= 3 else f"{len(names)} uploaded files")
    elif not uploads:
        st.session_state.pop("upload_signature", None)
        st.session_state.pop("upload_problems", None)
    for problem in st.session_state.get("upload_problems", []):
        st.error(problem)


def paste_section() -> None:
    text = st.text_area("Paste text", height=200, placeholder="Paste any text here: a story, song lyrics, emails...")
    if st.button("Use this text"):
        if not text.strip():
            st.warning("Paste some text into the box first.")
            return
        try:
            path = corpus.store_corpus(text.encode("utf-8"), "pasted.txt", runs.textgen_home())
        except TextgenError as e:
            st.error(str(e))
        else:
            choose_corpus([str(path)], "pasted text")


def builtin_section() -> None:
    names = list(corpus.BUILTIN_CORPORA)
    name = st.radio("Built-in corpus", names, format_func=lambda n: f"{n}: {corpus.BUILTIN_CORPORA[n]}")
    if st.button("Use this corpus"):
        choose_corpus([f"builtin:{name}"], f"built-in {name}")


def warnings_for(overview: dict) -> None:
    """Plain-language warnings about the chosen text and the chosen training settings."""
    stats = overview["stats"]
    settings = st.session_state.get("train_settings") or {}
    defaults = config.resolve_config(settings.get("preset"))
    seq_len = settings.get("seq_len") or defaults["seq_len"]
    val_fraction = settings.get("val_fraction") or defaults["val_fraction"]
    minimum = corpus.min_corpus_length(seq_len, val_fraction)
    if stats["chars"] < minimum:
        st.error(
            f"Too small for the chosen settings: the text has {stats['chars']:,} characters, and "
            f"with a sequence length of {seq_len} and a held-out share of {val_fraction:g} it "
            f"needs at least {minimum:,}. Add more text or lower the sequence length in "
            "Train > Advanced settings.", icon=":material/error:")
    else:
        if stats["chars"] < SMALL_CORPUS_CHARS:
            st.warning(
                f"This is a small text ({stats['chars']:,} characters). A model will learn its "
                "spelling and style but will soon start repeating it word for word. "
                "100,000 characters or more give better results.", icon=":material/warning:")
    if stats["distinct_chars"] > LARGE_VOCABULARY:
        st.warning(
            f"This text uses {stats['distinct_chars']:,} different characters. Each one is an "
            "output of the model, which makes it bigger and slower to learn, and rare characters "
            "are learnt poorly. That is normal for Chinese or Japanese; otherwise consider "
            "removing unusual symbols, or train with the word tokenizer.", icon=":material/warning:")
    if "fallback" in overview["encoding"] or overview["replacement_share"] > 0.01:
        st.warning(
            f"Parts of this file did not read cleanly as text (read as {overview['encoding']}). "
            "It may not be plain text, or it uses an unusual encoding: save it as UTF-8 text and "
            "upload it again, or the model will learn garbled characters.", icon=":material/warning:")


def overview_section(spec: list[str], name: str) -> None:
    overview = load_overview(spec)
    if overview is None:
        return
    stats = overview["stats"]
    st.subheader(f"Using: {name}")
    cols = st.columns(5)
    cols[0].metric("Characters", f"{stats['chars']:,}")
    cols[1].metric("Distinct characters", f"{stats['distinct_chars']:,}")
    cols[2].metric("Words", f"{stats['words']:,}")
    cols[3].metric("Lines", f"{stats['lines']:,}")
    cols[4].metric("Encoding", overview["encoding"].split(" (")[0],
                   help=f"Detected encoding: {overview['encoding']}")
    warnings_for(overview)
    st.caption("Preview (the beginning of the text)")
    st.code(overview["preview"], language=None, wrap_lines=True, height=220)
    left, right = st.columns(2)
    left.plotly_chart(charts.char_frequency_figure(overview["char_freq"]), key="char_freq")
    right.plotly_chart(charts.word_frequency_figure(overview["word_freq"]), key="word_freq")
    st.plotly_chart(charts.line_length_figure(overview["line_lengths"]), key="line_lengths")
    st.page_link("pages/train.py", label="Train a model on this text", icon=":material/arrow_forward:")


st.title("Corpus")
st.write("Choose the text your model learns from. The more text, the better it writes.")

upload_tab, paste_tab, builtin_tab = st.tabs(["Upload files", "Paste text", "Built-in"])
with upload_tab:
    upload_section()
with paste_tab:
    paste_section()
with builtin_tab:
    builtin_section()

st.divider()
overview_section(*chosen_corpus())
