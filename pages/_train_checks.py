"""The Train page's checks before a run starts: its model size and time, whether it fits in
memory, and warnings about unknown tokens and about the held-out part of the corpus.

Not a page itself (app.py does not list it); pages/train.py draws it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import chosen_corpus, error_text, shipped_models, show_error, t
from textgen import capacity, charts, corpus, estimates, heldout, speeds, suggestions, unknowns
from textgen.errors import TextgenError


def run_estimates(resolved: dict, overview: dict, init_from: str | None) -> dict:
    """The model size and time of these settings, from the tokenizer training would build
    on this corpus; a rough guess from the corpus statistics if that cannot be built."""
    spec, _ = chosen_corpus()
    try:
        with st.spinner(t("Counting tokens...")):
            return estimates.run_estimates(resolved, spec, overview["sha256"], init_from)
    except (TextgenError, OSError):
        return estimates.rough_estimates(resolved, overview["stats"], overview["distinct_words"])


@st.cache_data(show_spinner=False, max_entries=16)
def unknown_shares(spec: tuple[str, ...], sha256: str, kind: str, max_vocab: int, val_fraction: float,
                   init_from: str | None) -> dict:
    """estimates.corpus_unknown_shares of the chosen corpus, kept per content and setting."""
    return estimates.corpus_unknown_shares(spec, kind, max_vocab, val_fraction, init_from)


def warn_unknown(spec: list[str], overview: dict | None, plan: dict | None) -> None:
    """Say before training when much of the text would be read as <unk>."""
    if overview is None or plan is None:
        return
    resolved, init_from = plan["resolved"], plan["init_from"]
    try:
        shares = unknown_shares(tuple(spec), overview["sha256"], resolved["tokenizer"],
                                int(resolved["max_vocab"]), float(resolved["val_fraction"]), init_from)
    except (TextgenError, OSError):
        return  # the estimates above already say what is wrong with the corpus or the base
    warning = unknowns.unknown_text_warning(shares, Path(init_from).name if init_from else None, t)
    if warning:
        st.warning(warning, icon=":material/help:")


def fits_in_memory(resolved: dict, vocab_size: int) -> bool:
    """Whether training these settings fits in this machine's memory; if not, says so."""
    try:
        capacity.check_fits(resolved, vocab_size, "train")
    except TextgenError as e:
        show_error(e)
        return False
    return True


def show_speed(resolved: dict, found: dict, seconds: float) -> None:
    """How much text the run reads in its time, from the training speed measured on this
    machine for these settings (by a probe or an earlier run); a button measures it."""
    tokens_per_s, train_tokens = found.get("tokens_per_s"), found.get("train_tokens")
    if not train_tokens:
        return
    if tokens_per_s:
        chars_per_token = found.get("chars_per_token") or 1.0
        passes = tokens_per_s * seconds / train_tokens if seconds < 1e9 else None
        st.caption(t("Measured on this machine: {speed:,.0f} characters a second, so about {passes:,.1f} "
                     "passes over the training text in that time.", speed=tokens_per_s * chars_per_token,
                     passes=passes) if passes is not None else
                   t("Measured on this machine: {speed:,.0f} characters a second.",
                     speed=tokens_per_s * chars_per_token))
        return
    if st.button(t("Measure the speed on this machine"), icon=":material/speed:", key="train_measure_speed",
                 help=t("A few training steps of these settings (about 10 to 40 seconds), to see how much "
                        "of the text the run will read; remembered for these settings.")):
        try:
            with st.spinner(t("Measuring a few training steps...")):
                speeds.measure_in_child(resolved, found["vocab_size"])
        except TextgenError as e:
            show_error(e)
        else:
            st.rerun()


def show_estimates(resolved: dict, overview: dict | None, init_from: str | None) -> bool:
    """Model size and time; False (with the sentence shown) when the text is too small for
    the run's windows or the model would not fit: a job started then would only fail."""
    if overview is None:
        return fits_in_memory(resolved, 2)
    stats = overview["stats"]
    found = run_estimates(resolved, overview, init_from)
    parameters, seconds = found["parameters"], found["seconds"]
    with st.container(horizontal=True):  # figures wrap onto a new line rather than being cut
        st.metric(t("Model size (parameters)"), f"{parameters:,}", width="content",
                  help=t("Numbers the model learns. More can capture more, but needs more text and time."))
        st.metric(t("Time, at most"), charts.format_duration(seconds, t) if seconds < 1e9 else t("no limit"),
                  width="content",
                  help=t("The time budget, or all epochs at the speed measured on this machine if that "
                         "is sooner. A run stops earlier once its held-out loss stops improving."))
    show_speed(resolved, found, seconds)
    problem = corpus.length_problem(stats["chars"], resolved)
    if problem is not None:
        show_error(problem, icon=":material/error:")
    return fits_in_memory(resolved, found.get("vocab_size") or 2) and problem is None


@st.cache_data(show_spinner=False, max_entries=8)
def held_out_novelty(spec: tuple[str, ...], sha256: str, val_fraction: float) -> dict:
    """estimates.corpus_held_out_novelty of the chosen corpus; ``sha256`` names its content."""
    return estimates.corpus_held_out_novelty(spec, val_fraction)


def show_held_out_check(overview: dict | None, val_fraction: float) -> None:
    """Before training: a warning when the held-out part holds much the training part lacks."""
    if overview is None:
        return
    spec, _ = chosen_corpus()
    try:
        novelty = held_out_novelty(tuple(spec), overview["sha256"], float(val_fraction))
    except (TextgenError, OSError):
        return  # what is wrong with the corpus or the setting is shown elsewhere on the page
    warning = heldout.held_out_warning(novelty)
    if warning:
        st.warning(error_text(warning), icon=":material/call_split:")


@st.cache_data(show_spinner=False, max_entries=8)
def corpus_base_advice(spec: tuple[str, ...], sha256: str, base: str) -> dict:
    """suggestions.corpus_base_advice of the chosen corpus; ``sha256`` names its content."""
    return dict(suggestions.corpus_base_advice(spec, base), corpus=sha256)


def base_advice(overview: dict | None) -> tuple[str, dict] | None:
    """(the shipped base model's folder, whether this corpus suits fine-tuning it), or None
    when there is no corpus or no shipped base to judge."""
    bases = list(shipped_models())
    if overview is None or not bases:
        return None
    spec, _ = chosen_corpus()
    try:
        return bases[0], corpus_base_advice(tuple(spec), overview["sha256"], bases[0])
    except (TextgenError, OSError):
        return None  # a damaged base is refused with a sentence when it is chosen


def show_base_advice(advice: tuple[str, dict] | None, choice: str | None, fits: bool = True) -> None:
    """Under "Fine-tune from": why the shipped base model suits this text, or why it does not.
    ``fits``: whether the text holds the chosen settings' windows; the promise that a
    fine-tune soon writes like the text is left out while it does not (the error says why)."""
    if advice is None:
        return
    base, found = advice
    chosen = choice == base
    if chosen and found["route"] == "fine-tune" and not fits:
        return
    sentence = suggestions.advice_sentence(found, Path(base).name, chosen, t)
    if sentence and chosen and found["route"] != "fine-tune":
        st.warning(sentence, icon=":material/translate:")
    elif sentence:
        st.info(sentence, icon=":material/lightbulb:")
