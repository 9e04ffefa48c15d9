"""The Train page's live controls on the watched job: pause and continue, a new learning
rate, more or less time. Each sends a request through textgen.control; the job applies it
within a second or two and the loss chart marks it.

Not a page itself (app.py does not list it); pages/_train_progress.py draws it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import show_error, t
from textgen import control, runs
from textgen.config import RANGES
from textgen.errors import TextgenError
from textgen.files import read_json


def send(run_dir: Path, kind: str, value, what: str) -> None:
    """Send one control; a toast says what was sent, a refused one shows its sentence."""
    try:
        control.send(run_dir, kind, value)
    except TextgenError as e:
        show_error(e)
        return
    st.toast(t("Sent: {what}", what=what), icon=":material/send:")


def learning_rate_key(run_dir: Path) -> str:
    """Session key of the learning-rate box (one per run, so each keeps what was typed)."""
    return f"train_live_lr_{run_dir.name}"


def live_controls(run_dir: Path, status: dict, records: list[dict] | None = None) -> None:
    """While the job trains or is paused: Pause or Continue, a learning-rate box with its
    button, buttons that add or take away time when the run has a time budget, and under
    them the rate of this moment beside the schedule's (``records``: metrics.jsonl's)."""
    state = status.get("state")
    if state not in runs.TRAINING_STATES:
        return
    config = read_json(run_dir / "config.json", {}) or {}
    low, high = RANGES["learning_rate"][1:3]
    key = learning_rate_key(run_dir)
    peak = config.get("learning_rate")
    if key not in st.session_state and isinstance(peak, (int, float)) and low <= peak <= high:
        # The schedule's peak, not the rate of this moment: setting it unchanged changes nothing.
        st.session_state[key] = float(peak)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        if state == "paused":
            if st.button(t("Continue"), icon=":material/play_arrow:", key="train_continue",
                         help=t("Training goes on from where it paused.")):
                send(run_dir, "continue", None, t("continue"))
        elif st.button(t("Pause"), icon=":material/pause:", key="train_pause",
                       help=t("Training waits, keeping its place; paused time does not count "
                              "against the time budget.")):
            send(run_dir, "pause", None, t("pause"))
        # Unbounded: a box with bounds would keep showing a rate it refused while Set sent the
        # last one it took; control.send refuses one out of range with its sentence.
        rate = st.number_input(t("Learning rate"), value=None, step=0.0001, format="%g", key=key, width=150,
                               help=t("The peak of the learning-rate schedule: the rate continues "
                                      "its decay from the new peak."))
        if st.button(t("Set learning rate"), icon=":material/tune:", key="train_set_lr", disabled=rate is None):
            send(run_dir, "learning_rate", rate, t("learning rate {value:g}", value=rate))
        if config.get("time_budget"):
            for label, seconds in ((t("+1 min"), 60), (t("+5 min"), 300), (t("−1 min"), -60)):
                if st.button(label, key=f"train_time_{seconds}"):
                    what = (t("+{seconds:g} s", seconds=seconds) if seconds > 0
                            else t("−{seconds:g} s", seconds=-seconds))
                    send(run_dir, "add_time", seconds, what)
    rates = control.learning_rates(config, records or [])
    if rates:
        # The box holds the peak; without this, the rate on the chart looks like a tenth of it.
        figures = {name: control.rate_text(rates[name]) for name in ("now", "peak", "floor")}
        if rates["warming_up"]:
            st.caption(t("Learning rate now {now}: warming up to its peak {peak}, from where the "
                         "schedule decays towards {floor}.", **figures))
        else:
            st.caption(t("Learning rate now {now}: the schedule decays from its peak {peak} "
                         "towards {floor}.", **figures))
