"""Runs: every training run, compared, downloaded, deleted, resumed or fine-tuned."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from pages._shared import FINISHED_STATES, run_label
from textgen import charts, comparison, jobs, report, runs
from textgen.errors import TextgenError

RESUMABLE_STATES = ("stopped", "interrupted", "failed")


@st.cache_data(max_entries=64, show_spinner=False)
def metrics_of(path: str, size: int) -> list[dict]:
    """All metric records of a run; `size` re-reads the file after it grew."""
    return runs.read_jsonl(Path(path) / "metrics.jsonl")[0]


def metrics_size(path: str) -> int:
    file = Path(path) / "metrics.jsonl"
    return file.stat().st_size if file.exists() else 0


def runs_table(all_runs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "Run": [r["name"] for r in all_runs],
        "State": [r["state"] for r in all_runs],
        "Preset": [r["preset"] for r in all_runs],
        "Architecture": [(r["arch"] or "").upper().replace("TRANSFORMER", "Transformer") or None for r in all_runs],
        "Tokenizer": [r["tokenizer"] for r in all_runs],
        "Corpus": [r["corpus"] for r in all_runs],
        "Parameters": [r["parameters"] for r in all_runs],
        "Best bits/char": [r["best_val_bpc"] for r in all_runs],
        "Duration": [charts.format_duration(r["duration_s"]) if r["duration_s"] else None for r in all_runs],
        "Fine-tuned from": [Path(r["init_from"]).name if r["init_from"] else None for r in all_runs],
        "Started": [datetime.fromtimestamp(r["started_at"]) if r["started_at"] else None for r in all_runs],
    })


def compare_section(all_runs: list[dict]) -> None:
    st.subheader("Compare learning curves")
    with_metrics = [r["name"] for r in all_runs if metrics_size(r["path"])]
    if not with_metrics:
        st.caption("Curves appear here once a run has recorded its first steps.")
        return
    chosen = st.multiselect("Runs to compare", with_metrics, default=with_metrics[:3])
    c1, c2, c3 = st.columns(3)
    metric = c1.radio("Curve", ["Held-out loss", "Training loss"], horizontal=True)
    axis = c2.radio("Horizontal axis", ["Step", "Time"], horizontal=True)
    bits = c3.toggle("Bits per character", value=True)
    paths = {r["name"]: r["path"] for r in all_runs}
    curves = {name: metrics_of(paths[name], metrics_size(paths[name])) for name in chosen}
    key = "val_loss" if metric == "Held-out loss" else "train_loss"
    st.plotly_chart(charts.compare_figure(curves, key=key, bits=bits, x="time" if axis == "Time" else "step"),
                    key="compare_chart")
    ranking_table([r for r in all_runs if r["name"] in chosen])


def ranking_table(chosen: list[dict]) -> None:
    """The selected runs ranked by held-out score, best first."""
    if not chosen:
        return
    st.markdown("**The selected runs, best first**")
    st.dataframe(
        pd.DataFrame(comparison.comparison_rows(chosen)), hide_index=True, key="ranking_table",
        column_config={
            "Rank": st.column_config.NumberColumn(format="%d"),
            "Best bits/char": st.column_config.NumberColumn(
                format="%.3f", help="Held-out loss in bits per character: lower is better."),
            "Behind the best": st.column_config.NumberColumn(
                format="+%.3f", help="Bits per character more than the best of the selected runs."),
            "Parameters": st.column_config.NumberColumn(format="localized"),
        },
    )
    if comparison.mixed_corpora(chosen):
        st.caption("These runs learnt different texts, and some texts are simply harder to "
                   "predict than others: compare scores of runs on the same corpus.")


def undo_section() -> None:
    deleted = st.session_state.get("deleted_run")
    if not deleted:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.info(f"Deleted {deleted['name']}.", icon=":material/delete:")
        if st.button("Undo", icon=":material/undo:"):
            try:
                runs.restore_run(deleted["trash"])
            except TextgenError as e:
                st.error(str(e))
            else:
                st.session_state.pop("deleted_run", None)
                st.rerun()


def import_section() -> None:
    """Add a run someone downloaded from the Runs page; only its known files are unpacked."""
    with st.expander("Import a run", icon=":material/upload:"):
        upload = st.file_uploader(
            "Import a run (.zip)", type=["zip"], key="import_run_zip",
            help="A run downloaded with \"Download as zip\". Only its settings, vocabulary, "
                 "model weights and curves are read; nothing in it is run as a program.")
        if upload is not None and st.session_state.get("imported_upload") != upload.file_id:
            st.session_state["imported_upload"] = upload.file_id
            try:
                path = runs.import_run_zip(upload.getvalue())
            except TextgenError as e:
                st.session_state["import_result"] = ("error", str(e))
            else:
                st.session_state["import_result"] = ("success", f"Imported the run {path.name}.")
        elif upload is None:
            st.session_state.pop("imported_upload", None)
            st.session_state.pop("import_result", None)
        kind, message = st.session_state.get("import_result") or (None, None)
        if kind == "error":
            st.error(message)
        elif kind == "success":
            st.success(message)


def actions_section(all_runs: list[dict]) -> None:
    st.subheader("Manage a run")
    by_name = {r["name"]: r for r in all_runs}
    name = st.selectbox("Run", list(by_name), format_func=lambda n: run_label(by_name[n]))
    run = by_name[name]
    path = Path(run["path"])
    finished = run["state"] in FINISHED_STATES
    can_resume = run["state"] in RESUMABLE_STATES and (path / "checkpoint").exists()
    with st.container(horizontal=True):
        st.download_button("Download as zip", lambda: runs.zip_run(path), file_name=f"{name}.zip",
                           mime="application/zip", icon=":material/download:", on_click="ignore",
                           help="The settings, vocabulary, best model and curves of this run.")
        extra = report.session_samples(run["path"], st.session_state.get("generated"),
                                       st.session_state.get("comparison"))
        st.download_button("Download report (HTML)", lambda: report.build_report(path, extra),
                           file_name=f"{name}-report.html", mime="text/html",
                           icon=":material/summarize:", on_click="ignore",
                           help="One web page to share: the corpus, settings, interactive learning "
                                "curves, best score and sample texts. It opens offline in any browser.")
        generate = st.button("Generate", icon=":material/edit_note:", disabled=not run["has_model"],
                             help="Write text with this run's model.")
        fine_tune = st.button("Fine-tune from this run", icon=":material/tune:",
                              disabled=not (finished and run["has_model"]),
                              help="Train on another text starting from this model.")
        resume = st.button("Resume", icon=":material/play_arrow:", disabled=not can_resume,
                           help="Continue a stopped or interrupted run where it left off.")
        delete = st.button("Delete", icon=":material/delete:", disabled=not finished,
                           help="Moves the run to the trash; you can undo right after.")
    if run.get("message"):
        st.caption(run["message"])
    if generate:
        st.session_state["generate_run"] = name
        st.switch_page("pages/generate.py")
    if fine_tune:
        st.session_state["finetune_from"] = name
        st.switch_page("pages/train.py")
    if resume:
        config = runs.read_json(path / "config.json", {}) or {}
        sources = (config.get("corpus") or {}).get("sources") or []
        try:
            if not sources:
                raise TextgenError("This run does not record its corpus, so it cannot be resumed.")
            jobs.start_training(sources, path, {"resume": True})
        except TextgenError as e:
            st.error(str(e))
        else:
            st.session_state["selected_run"] = name
            st.switch_page("pages/train.py")
    if delete:
        try:
            trash = runs.delete_run(path)
        except TextgenError as e:
            st.error(str(e))
        else:
            st.session_state["deleted_run"] = {"name": name, "trash": str(trash)}
            st.rerun()


st.title("Runs")
undo_section()
import_section()
all_runs = runs.list_runs()
if not all_runs:
    st.info("No runs yet. Train a model and it will be listed here, with its curves and "
            "downloads.", icon=":material/history:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")
    st.stop()

st.dataframe(
    runs_table(all_runs), hide_index=True,
    column_config={
        "Parameters": st.column_config.NumberColumn(format="localized",
                                                    help="How many numbers the model learnt."),
        "Best bits/char": st.column_config.NumberColumn(
            format="%.3f", help="Held-out loss in bits per character: lower is better."),
        "Started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
)
compare_section(all_runs)
actions_section(all_runs)
