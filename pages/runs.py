"""Runs: every training run, compared, downloaded, deleted, resumed or fine-tuned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from pages._models import web_page_button
from pages._shared import (FINISHED_STATES, choice_key, language, records_reader, run_label, run_state_name,
                           run_through_app, show_error, status_message, t)
from pages._shared import error_text
from pages._train_progress import loss_words, run_references, show_notes, shown_loss, watch_it_learn
from textgen import archive, charts, comparison, files, heldout, jobs, metrics, report, runs
from textgen.errors import TextgenError

run_through_app()

RESUMABLE_STATES = ("stopped", "interrupted", "failed")
RUNS_TABLE_ORDER = ("Run", "Title", "State", "Best bits/char", "Preset", "Corpus", "Duration", "Architecture",
                    "Tokenizer", "Parameters", "Fine-tuned from", "Started")
MISSING = "–"  # what a table shows where a run has no value (Streamlit's own would be "None")


def scroll_hint() -> None:
    """Under a table with many columns: the sideways scroll Streamlit shows only on hover."""
    st.caption(t("Wider than the window? Scroll the table sideways (Shift + mouse wheel, or its bar "
                 "at the bottom) to see every column."))


def first_columns(frame: pd.DataFrame, first: list[str]) -> list[str]:
    """Every column of ``frame``: those in ``first`` first, in that order, then the rest."""
    return [c for c in first if c in frame.columns] + [c for c in frame.columns if c not in first]


def column_names() -> dict[str, str]:
    """Table columns (English, as textgen.comparison names them) as shown."""
    return {"Run": t("Run"), "Title": t("Title"), "State": t("State"), "Preset": t("Preset"),
            "Architecture": t("Architecture"),
            "Tokenizer": t("Tokenizer"), "Corpus": t("Corpus"), "Parameters": t("Parameters"),
            "Best bits/char": t("Best bits/char"), "Duration": t("Duration"),
            "Fine-tuned from": t("Fine-tuned from"), "Started": t("Started"), "Rank": t("Rank"),
            "Behind the best": t("Behind the best"), "Steps": t("Steps")}


def runs_table(all_runs: list[dict]) -> pd.DataFrame:
    rows = comparison.runs_table_rows(all_runs, t, run_state_name)
    return pd.DataFrame(rows).rename(columns=column_names())


COMPARED_KEY = "compare_runs_chosen"  # the runs chosen to compare, whichever language chose them


def compare_key(names: list[str], labels: dict[str, str]) -> str:
    """The "Runs to compare" widget's key, one per set of options as labelled. The browser
    sends a multiselect's chips back as the labels it was first sent, and a label changes with
    the language, a new title or a run's end (its score): a chip under an old label would come
    back as a name no run has. A new widget takes the choice from COMPARED_KEY instead."""
    shown = json.dumps([language(), [[name, labels.get(name)] for name in names]], ensure_ascii=False)
    return "compare_runs_" + hashlib.sha1(shown.encode("utf-8")).hexdigest()[:12]


def compare_section(all_runs: list[dict]) -> None:
    st.subheader(t("Compare learning curves"))
    with_metrics = [r["name"] for r in all_runs if metrics.has_metrics(r["path"])]
    if not with_metrics:
        st.caption(t("Curves appear here once a run has recorded its first steps."))
        return
    labels = {r["name"]: run_label(r) for r in all_runs}
    before = [name for name in st.session_state.get(COMPARED_KEY, with_metrics[:3]) if name in with_metrics]
    chosen = st.multiselect(t("Runs to compare"), with_metrics, default=before, key=compare_key(with_metrics, labels),
                            format_func=labels.get)
    st.session_state[COMPARED_KEY] = chosen
    c1, c2, c3 = st.columns(3)
    curve_names = {"val_loss": t("Held-out loss"), "train_loss": t("Training loss")}
    axis_names = {"step": t("Step"), "time": t("Time")}
    key = c1.radio(t("Curve"), list(curve_names), format_func=curve_names.get, horizontal=True,
                   persist_state="session", key=choice_key("compare_curve"))
    axis = c2.radio(t("Horizontal axis"), list(axis_names), format_func=axis_names.get, horizontal=True,
                    persist_state="session", key=choice_key("compare_axis"))
    bits = c3.toggle(t("Bits per character"), value=True, key="compare_bits")
    paths = {r["name"]: r["path"] for r in all_runs}
    reader = records_reader()
    curves = {name: reader.records(paths[name]) for name in chosen}
    titles = {r["name"]: r.get("title") or r["name"] for r in all_runs}
    if len({titles[name] for name in chosen}) == len(chosen):  # titles in the legend, where they tell runs apart
        curves = {titles[name]: records for name, records in curves.items()}
    st.plotly_chart(charts.compare_figure(curves, key=key, bits=bits, x=axis, translate=t),
                    key="compare_chart")
    held_out_notes({name: paths[name] for name in chosen})
    ranking_table([r for r in all_runs if r["name"] in chosen])


def held_out_notes(paths: dict[str, str]) -> None:
    """Under the curves: each run whose held-out part holds much its training part lacks."""
    for name, path in paths.items():
        warning = heldout.run_held_out_warning(files.read_json(Path(path) / "config.json", {}))
        if warning:
            st.warning(t("{run}: {note}", run=name, note=error_text(warning)), icon=":material/call_split:")


def ranking_table(chosen: list[dict]) -> None:
    """The selected runs ranked by held-out score, best first."""
    if not chosen:
        return
    st.markdown("**" + t("The selected runs, best first") + "**")
    rows = pd.DataFrame(comparison.comparison_rows(chosen, t))
    names = column_names()
    st.dataframe(
        rows.rename(columns=names), hide_index=True, key="ranking_table", placeholder=MISSING,
        column_config={
            names["Rank"]: st.column_config.NumberColumn(format="%d"),
            names["Best bits/char"]: st.column_config.NumberColumn(
                format="%.3f", help=t("Held-out loss in bits per character: lower is better.")),
            names["Behind the best"]: st.column_config.NumberColumn(
                format="+%.3f", help=t("Bits per character more than the best of the selected runs.")),
            names["Parameters"]: st.column_config.NumberColumn(format="localized"),
        },
    )
    scroll_hint()
    if comparison.mixed_corpora(chosen):
        st.caption(t("These runs learnt different texts, and some texts are simply harder to "
                     "predict than others: compare scores of runs on the same corpus."))


def undo_section() -> None:
    deleted = st.session_state.get("deleted_run")
    if not deleted:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.info(t("Deleted {name}.", name=deleted.get("title") or deleted["name"]), icon=":material/delete:")
        if st.button(t("Undo"), icon=":material/undo:", key="runs_undo"):
            try:
                runs.restore_run(deleted["trash"])
            except TextgenError as e:
                show_error(e)
            else:
                st.session_state.pop("deleted_run", None)
                if "compared" in deleted:  # the run's return makes a new widget, which takes this
                    st.session_state[COMPARED_KEY] = deleted["compared"]
                st.rerun()


def import_section() -> None:
    """Add a run someone downloaded from the Runs page; only its known files are unpacked."""
    with st.expander(t("Import a run"), icon=":material/upload:"):
        upload = st.file_uploader(
            t("Import a run (.zip)"), type=["zip"], key="import_run_zip",
            help=t("A run downloaded with \"{download}\". Only its settings, vocabulary, "
                   "model weights and curves are read; nothing in it is run as a program.",
                   download=t("Download as zip")))
        if upload is not None and st.session_state.get("imported_upload") != upload.file_id:
            st.session_state["imported_upload"] = upload.file_id
            try:
                path = archive.import_run_zip(upload.getvalue())
            except TextgenError as e:
                st.session_state["import_result"] = ("error", e)
            else:
                st.session_state["import_result"] = ("success", path.name)
        elif upload is None:
            st.session_state.pop("imported_upload", None)
            st.session_state.pop("import_result", None)
        kind, outcome = st.session_state.get("import_result") or (None, None)
        if kind == "error":
            show_error(outcome)
        elif kind == "success":
            st.success(t("Imported the run {name}.", name=outcome))


def title_section(run: dict) -> None:
    """The chosen run's title, to change; not while it trains (its job still writes its settings)."""
    active = run["state"] in runs.ACTIVE_STATES
    with st.container(horizontal=True, vertical_alignment="bottom"):
        title = st.text_input(t("Title"), value=run.get("title") or "", key=f"runs_title_{run['name']}",
                              max_chars=runs.MAX_TITLE_CHARS, placeholder=t("optional"), disabled=active,
                              help=t("What people read in lists and in the report, in any words. "
                                     "The run keeps its folder name."))
        save = st.button(t("Save title"), icon=":material/edit:", disabled=active, key="runs_save_title")
    if active:
        st.caption(t("This run is still training. Change its title once it has stopped."))
    if st.session_state.pop("runs_title_saved", None) == run["name"]:
        st.success(t("Title saved."), icon=":material/check:")
    if save:
        try:
            runs.set_title(run["path"], title)
        except TextgenError as e:
            show_error(e)
        else:
            st.session_state["runs_title_saved"] = run["name"]
            st.rerun()


def watch_section(run: dict) -> None:
    """The chosen run's samples, to slide through from its first steps to its kept model."""
    st.subheader(t("Watch it learn"))
    reader = records_reader()
    records = reader.records(run["path"])
    timeline = metrics.learning_timeline(reader.records(run["path"], metrics.SAMPLES_FILE), records)
    active = run["state"] in runs.ACTIVE_STATES
    refs, problem = run_references(Path(run["path"]), active)
    loss_words(refs, problem, shown_loss(runs.read_status(run["path"]), records), timeline)
    watch_it_learn(Path(run["path"]), timeline, active=active)


def doctor_section(run: dict) -> None:
    """What the loss-curve doctor noted about the chosen run's curves, newest first."""
    st.subheader(t("What the doctor saw"))
    notes = records_reader().records(run["path"], metrics.NOTES_FILE)
    if notes:
        show_notes(notes)
    else:
        st.caption(t("Nothing: the loss-curve doctor noted no overfitting, divergence or plateau in this run."))


def actions_section(all_runs: list[dict]) -> None:
    st.subheader(t("Manage a run"))
    by_name = {r["name"]: r for r in all_runs}
    labels = {n: run_label(r) for n, r in by_name.items()}
    name = st.selectbox(t("Run"), list(by_name), format_func=labels.get,
                        persist_state="session", key=choice_key("runs_manage"))
    run = by_name[name]
    path = Path(run["path"])
    finished = run["state"] in FINISHED_STATES
    # A run killed before its first checkpoint resumes from its best model, or from the start.
    can_resume = run["state"] in RESUMABLE_STATES and (path / "config.json").exists()
    with st.container(horizontal=True):
        st.download_button(t("Download as zip"), lambda: archive.zip_run(path), file_name=f"{name}.zip",
                           mime="application/zip", icon=":material/download:", on_click="ignore",
                           key="runs_download_zip",
                           help=t("The settings, vocabulary, best model and curves of this run."))
        extra = report.session_samples(run["path"], st.session_state.get("generated"),
                                       st.session_state.get("comparison"), language())
        report_language = language()  # read now: the download callback runs outside this script run
        st.download_button(t("Download report (HTML)"),
                           lambda: report.build_report(path, extra, report_language),
                           file_name=f"{name}-report.html", mime="text/html",
                           icon=":material/summarize:", on_click="ignore", key="runs_download_report",
                           help=t("One web page to share: the corpus, settings, interactive learning "
                                  "curves, best score and sample texts. It opens offline in any browser."))
        web_page_button(run["path"], "runs_download_page", disabled=not run["has_model"])
        generate = st.button(t("Generate"), icon=":material/edit_note:", disabled=not run["has_model"],
                             key="runs_generate", help=t("Write text with this run's model."))
        fine_tune = st.button(t("Fine-tune from this run"), icon=":material/tune:",
                              disabled=not (finished and run["has_model"]), key="runs_fine_tune",
                              help=t("Train on another text starting from this model."))
        resume = st.button(t("Resume"), icon=":material/play_arrow:", disabled=not can_resume,
                           key="runs_resume", help=t("Continue a stopped or interrupted run where it left off."))
        delete = st.button(t("Delete"), icon=":material/delete:", disabled=not finished, key="runs_delete",
                           help=t("Moves the run to the trash; you can undo right after."))
    if run.get("message"):
        st.caption(status_message(run))
    title_section(run)
    doctor_section(run)
    watch_section(run)
    if generate:
        st.session_state["generate_run"] = name
        st.switch_page("pages/generate.py")
    if fine_tune:
        st.session_state["finetune_from"] = name
        st.switch_page("pages/train.py")
    if resume:
        try:
            jobs.resume_training(path)
        except TextgenError as e:
            show_error(e)
        else:
            st.session_state["selected_run"] = name
            st.switch_page("pages/train.py")
    if delete:
        try:
            trash = runs.delete_run(path)
        except TextgenError as e:
            show_error(e)
        else:
            # What Undo puts back: the run, and its place among the runs compared.
            st.session_state["deleted_run"] = {"name": name, "title": run.get("title") or name, "trash": str(trash),
                                               "compared": list(st.session_state.get(COMPARED_KEY, []))}
            st.rerun()


st.title(t("Runs"))
undo_section()
import_section()
all_runs = runs.list_runs()
if not all_runs:
    st.info(t("No runs yet. Train a model and it will be listed here, with its curves and "
              "downloads."), icon=":material/history:")
    st.page_link("pages/train.py", label=t("Go to Train"), icon=":material/arrow_forward:")
    st.stop()

columns = column_names()
runs_frame = runs_table(all_runs)
st.dataframe(
    runs_frame, hide_index=True, placeholder=MISSING,
    column_config={
        columns["Parameters"]: st.column_config.NumberColumn(format="localized",
                                                             help=t("How many numbers the model learnt.")),
        columns["Best bits/char"]: st.column_config.NumberColumn(
            format="%.3f", help=t("Held-out loss in bits per character: lower is better.")),
        columns["Started"]: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
    # What people look for first comes first: at 1280 pixels the rest is a sideways scroll away.
    column_order=first_columns(runs_frame, [columns[c] for c in RUNS_TABLE_ORDER if c in columns]),
)
scroll_hint()
compare_section(all_runs)
actions_section(all_runs)
