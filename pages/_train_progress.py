"""The Train page's Progress column: a run's live numbers, curves and samples while it
trains, and its summary once it ended.

Not a page itself (app.py does not list it); pages/train.py draws it.
"""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

from pages._models import copied_warning, copy_check, label_with_copying, show_copying
from pages._shared import error_text, records_reader, run_label, say, state_name, status_message, t
from pages._train_controls import live_controls
from textgen import charts, doctor, heldout, jobs, metrics, references, runs
from textgen.device import trained_on
from textgen.errors import TextgenError
from textgen.files import read_json

STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:",
               "paused": ":material/pause_circle:",
               "completed": ":material/check_circle:", "stopped": ":material/stop_circle:",
               "failed": ":material/error:", "interrupted": ":material/warning:"}
# Compact enough that, at 1280x720, the live chart and the latest sample under it are on
# screen together.
LIVE_CHART_HEIGHT = 230
LIVE_CHART_TOP = 24  # pixels above the plot: room for Plotly's toolbar (the legend is under the plot)
PAGE_TOP_REM = 2.5  # space above the page title: Streamlit's header is 3.75rem, the title's own margin covers the rest
EARLIER_SAMPLES = 6  # live samples kept in view under "Earlier samples", newest first
SAMPLE_HEIGHT = 112  # pixels: the latest live sample's box (about four lines; a longer text scrolls)
WATCH_LINE_COLOUR = "#8c959f"  # grey: marks a step without competing with the curves' colours


def run_labels() -> dict[str, str]:
    """{run name: its label in "Run to watch"}, newest run first."""
    return {r["name"]: run_label(r) for r in runs.list_runs()}


def queue_text(name: str) -> str:
    """What a queued job is doing: starting up, or waiting in line behind the jobs training now."""
    place, running = jobs.queue_position(name)
    if place is None:
        return t("Starting: loading the corpus and the training libraries. "
                 "Training begins in a few seconds.")
    if running == 0:
        return t("Waiting in the queue: number {place} in line for a free training slot. "
                 "It starts by itself when one is free.", place=place)
    if running == 1:
        return t("Waiting in the queue: number {place} in line, while one job is training. "
                 "It starts by itself when a training slot is free.", place=place)
    return t("Waiting in the queue: number {place} in line, while {running} jobs are training. "
             "It starts by itself when a training slot is free.", place=place, running=running)


def number_text(value, form: str) -> str:
    """``value`` written with ``form``, or a dash where there is no finite number to show."""
    return form.format(value) if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def show_held_out_note(run_dir: Path) -> None:
    """Beside a run's curves: why its held-out loss may stay high, if its config.json says so."""
    warning = heldout.run_held_out_warning(read_json(run_dir / "config.json", {}))
    if warning:
        st.warning(error_text(warning), icon=":material/call_split:")


def state_line(run_dir: Path, status: dict, figures: dict) -> None:
    """Where a queued job is in line, or a running job's progress bar."""
    state = status.get("state")
    if state == "queued":
        st.info(queue_text(run_dir.name), icon=STATE_ICONS["queued"])
    elif state == "running":
        fraction, eta = charts.progress(status)
        elapsed = charts.format_duration(figures["elapsed_s"], t)
        if eta is None:
            text = t("Training: {elapsed} so far", elapsed=elapsed)
        else:
            text = t("Training: {elapsed} so far, about {left} left",
                     elapsed=elapsed, left=charts.format_duration(eta, t))
        st.progress(fraction or 0.0, text=text)
    elif state == "paused":
        st.info(t("Paused at step {step}: it keeps its place and waits until you press Continue.",
                  step=f"{figures['step']:,}"), icon=STATE_ICONS["paused"])


def figure_metrics(status: dict, figures: dict, scored: str) -> None:
    """The run's figures; ``scored``: heldout.scored_part_sentence, for the held-out loss's help."""
    elapsed = figures["elapsed_s"]
    held_out_help = say(t("Measured on text the model never trains on; lower is better."), scored)
    with st.container(horizontal=True):  # figures wrap onto a new line rather than being cut
        st.metric(t("Step"), f"{figures['step']:,}", width="content")
        st.metric(t("Training loss"), number_text(figures["train_loss"], "{:.3f}"), width="content")
        st.metric(t("Best held-out loss"), number_text(figures["best_val_loss"], "{:.3f}"), width="content",
                  help=held_out_help)
        st.metric(t("Speed (chars/s)"), number_text(figures["chars_per_sec"], "{:,.0f}"), width="content")
        st.metric(t("Device"), trained_on(status.get("device"), t) or "–", width="content")
        st.metric(t("Time"), charts.format_duration(elapsed, t) if elapsed is not None else "–", width="content")


# How each kind of the doctor's notes shows: the box and its icon.
NOTE_BOXES = {"overfitting": (st.warning, ":material/trending_up:"),
              "diverging": (st.error, ":material/whatshot:"),
              "plateau": (st.info, ":material/trending_flat:")}
NOTES_SHOWN = 3  # the newest notes in view; earlier ones folded away


def note_box(note: dict) -> None:
    """One of the doctor's notes: its kind, step and sentence, in this page's language."""
    show, icon = NOTE_BOXES.get(note.get("kind"), (st.info, ":material/stethoscope:"))
    show(t("{kind} at step {step}: {message}", kind="**" + charts.note_kind_name(note.get("kind"), t) + "**",
           step=f"{note.get('step', 0):,}", message=doctor.note_text(note, t)), icon=icon)


def show_notes(notes: list[dict]) -> None:
    """The loss-curve doctor's notes (notes.jsonl records), newest first."""
    newest = list(reversed(notes))
    for note in newest[:NOTES_SHOWN]:
        note_box(note)
    if len(newest) > NOTES_SHOWN:
        with st.expander(t("Earlier notes ({count})", count=len(newest) - NOTES_SHOWN)):
            for note in newest[NOTES_SHOWN:]:
                note_box(note)


def sample_text(sample: dict) -> str:
    return sample.get("text") or sample.get("sample") or ""


def show_sample(run_dir: Path, sample: dict, label: str, where=st, compact: bool = False) -> None:
    """One samples.jsonl record: its label, its text and the copy meter. Each sample is
    checked once per session (the run's index is built once per server). ``compact``: the
    meter in a few words on the label's line (its sentence on hover), the text in a box of
    ``SAMPLE_HEIGHT`` pixels that scrolls, and a "mostly copied" warning under it, so that the
    meter and the text stay on a projector's screen under the live chart."""
    text = sample_text(sample)
    results = st.session_state.setdefault("train_copying", {})
    key = (str(run_dir), sample.get("step"), sample.get("time"), bool(sample.get("kept")))
    if compact:
        result = copy_check(results, key, str(run_dir), text)
        line, meter = label_with_copying(label, result)
        where.caption(line, help=meter)
        where.code(text, language=None, wrap_lines=True, height=SAMPLE_HEIGHT)
        copied_warning(result, where)
        return
    where.caption(label)
    where.code(text, language=None, wrap_lines=True)
    show_copying(results, key, str(run_dir), text, where)


def earlier_samples(run_dir: Path, samples: list[dict]) -> None:
    """Live samples before the latest, folded away, newest first."""
    if samples:
        with st.expander(t("Earlier samples ({count})", count=len(samples))):
            for sample in reversed(samples[-EARLIER_SAMPLES:]):
                show_sample(run_dir, sample, t("Step {step}", step=sample.get("step", "?")))


def training_samples(run_dir: Path, samples: list[dict], latest=st) -> None:
    """While a run trains: its latest live sample with the copy meter (in ``latest``, a
    container), the earlier ones folded away here."""
    live = metrics.live_samples(samples)
    if live:
        show_sample(run_dir, live[-1], "**" + t("What the model writes so far") + "** · "
                    + t("Step {step}", step=live[-1].get("step", "?")), latest, compact=True)
        earlier_samples(run_dir, live[:-1])


def watch_key(run_dir: Path) -> str:
    """Session key of a run's "Watch it learn" slider (one per run, so each keeps its place)."""
    return f"watch_learn_{Path(run_dir).name}"


def watched_index(key: str, count: int) -> int:
    """Which of ``count`` samples "Watch it learn" shows: the one chosen on the slider, or the
    newest while the slider stands on the newest (so it follows a live run's new samples)."""
    chosen, last = st.session_state.get(key), st.session_state.get(key + "_count")
    if not isinstance(chosen, int) or not 0 <= chosen < count or (isinstance(last, int) and chosen == last - 1):
        st.session_state[key] = count - 1
    st.session_state[key + "_count"] = count
    return st.session_state[key]


def timeline_name(entry: dict) -> str:
    """A sample's mark on the slider: its step, or that it is the kept model's."""
    if entry["kept"]:
        return t("kept model")
    return t("step {step}", step=f"{entry['step']:,}")


def timeline_caption(entry: dict, on_chart: bool) -> str:
    """What the shown sample is: its step, training time and the held-out loss the run had then."""
    parts = [t("From the kept model (step {step})", step=f"{entry['step']:,}") if entry["kept"]
             else t("Step {step}", step=f"{entry['step']:,}")]
    if entry["time"] is not None:
        parts.append(t("after {time} of training", time=charts.format_duration(entry["time"], t)))
    if entry["val_loss"] is None:
        parts.append(t("no held-out loss measured yet"))
    else:
        parts.append(t("held-out loss {nats:.3f} nats per character (measured at step {step})",
                       nats=entry["val_loss"], step=f"{entry['val_step']:,}"))
    caption = " · ".join(parts)
    return caption + "  \n" + t("The dashed line on the chart marks this step.") if on_chart else caption


def watch_it_learn(run_dir: Path, timeline: list[dict], active: bool, on_chart: bool = False) -> None:
    """"Watch it learn": a slider over a run's samples (metrics.learning_timeline), oldest first,
    the kept model's last, and the chosen one's text with its step, time and held-out loss.
    ``active``: the run is queued or training (it may write samples yet). ``on_chart``: a line
    on the loss chart marks the chosen step (mark_watched_step)."""
    if not timeline and active:
        st.caption(t("No samples yet. A run writes one every little while as it trains; here you "
                     "can then slide through them and see its text turn from noise into words."))
    elif not timeline:
        st.caption(t("This run wrote no samples while it trained."))
    if not timeline:
        return
    index = watched_index(watch_key(run_dir), len(timeline))
    if len(timeline) > 1:
        names = [timeline_name(entry) for entry in timeline]  # named now, in this run's language
        index = st.select_slider(
            t("Sample"), options=list(range(len(timeline))), key=watch_key(run_dir), format_func=names.__getitem__,
            help=t("The texts the model wrote as it learnt, oldest first and the kept model's last: "
                   "slide to see its text turn from noise into words."))
    entry = timeline[index]
    st.caption(timeline_caption(entry, on_chart))
    st.code(entry["text"], language=None, wrap_lines=True, height=SAMPLE_HEIGHT)


def mark_watched_step(figure, run_dir: Path, timeline: list[dict], base_records: list[dict] | None) -> None:
    """A dashed line on the loss chart (x axis: steps) at the step of the sample "Watch it
    learn" shows; a fine-tune's steps continue its base model's, as its curve does."""
    if not timeline:
        return
    step = timeline[watched_index(watch_key(run_dir), len(timeline))]["step"]
    if base_records:
        step = charts.continue_after(base_records, [{"step": step}])[0]["step"]
    figure.add_vline(x=step, line_dash="dash", line_width=1, line_color=WATCH_LINE_COLOUR)


def watch_section(run_dir: Path, samples: list[dict], records: list[dict], active: bool) -> None:
    st.markdown("**" + t("Watch it learn") + "**")
    watch_it_learn(run_dir, metrics.learning_timeline(samples, records), active, on_chart=True)


def settings_caption(sample: dict) -> str:
    temperature, seed = metrics.sample_settings(sample)
    return t("Temperature {temperature:g}, seed {seed}.", temperature=temperature, seed=seed)


def end_samples(run_dir: Path, samples: list[dict]) -> None:
    """Once a run ended: its last live sample beside the kept model's (what Generate
    writes, at the same temperature and seed), each with the copy meter."""
    live, kept = metrics.live_samples(samples), metrics.kept_sample(samples)
    shown = []
    if live:
        shown.append((live[-1], t("Last sample during training (step {step})", step=live[-1].get("step", "?"))))
    if kept:
        shown.append((kept, t("From the kept model (step {step}), what Generate writes",
                              step=kept.get("step", "?"))))
    if not shown:
        return
    st.markdown("**" + t("What the model writes") + "**")
    for column, (sample, label) in zip(st.columns(len(shown)), shown):
        column.markdown("**" + label + "**")
        show_sample(run_dir, sample, settings_caption(sample), column)
    earlier_samples(run_dir, live[:-1])


def tighten_page_top() -> None:
    """Less blank space above the page title (Streamlit leaves 6rem): the room the live
    chart and the latest sample need to share a 720-pixel screen."""
    st.html(f"<style>[data-testid='stMainBlockContainer'] {{padding-top: {PAGE_TOP_REM}rem}}</style>")


def run_references(run_dir: Path, active: bool) -> tuple[dict | None, TextgenError | None]:
    """(the run's reference losses or None, why they cannot be had or None). While the run
    trains, only what its job has written (it works them out in the background); once it
    ended, worked out here if need be (kept in the run folder for next time)."""
    if active:
        return references.cached_references(run_dir), None
    try:
        return references.reference_losses(run_dir), None
    except TextgenError as e:
        return None, e


def shown_loss(status: dict, records: list[dict]) -> dict | None:
    """The held-out loss the words describe, as {"loss": nats per character, "kept": whether
    it is the kept (best) model's, "ended": whether the run ended}: the kept model's once
    the run ended, else the latest one measured; None before the first score."""
    ended = status.get("state") not in runs.ACTIVE_STATES
    if ended and isinstance(status.get("best_val_loss"), (int, float)):
        if not math.isfinite(status["best_val_loss"]):
            return None
        return {"loss": status["best_val_loss"], "kept": True, "ended": True}
    measured = [r["val_loss"] for r in records if isinstance(r.get("val_loss"), (int, float))
                and math.isfinite(r["val_loss"])]
    return {"loss": measured[-1], "kept": False, "ended": ended} if measured else None


def latest_texts(timeline: list[dict]) -> set[str]:
    """The texts the page shows as the latest samples (the last live one, and the kept
    model's): not to be shown again as examples."""
    live = [entry for entry in timeline if not entry.get("kept")]
    kept = [entry for entry in timeline if entry.get("kept")]
    return {entry["text"] for entry in live[-1:] + kept[-1:] if isinstance(entry.get("text"), str)}


def loss_words(refs: dict | None, problem: TextgenError | None, shown: dict | None,
               timeline: list[dict], bits: bool = False) -> None:
    """Under a loss chart: the loss in words beside the reference lines (``shown``, from
    shown_loss), with the run's own samples at comparable losses (folded; only with two
    or more, leaving out those shown as the latest); or why the lines are left out."""
    if problem is not None:
        st.caption(t("The reference lines are left out: {reason}", reason=error_text(problem)))
        return
    if refs is None or shown is None:
        return
    said = references.loss_in_words(shown["loss"], refs, timeline, t, kept=shown["kept"], ended=shown["ended"],
                                    leave_out=latest_texts(timeline), bits=bits)
    st.markdown(said["sentence"])
    if len(said["examples"]) >= 2:
        with st.expander(t("Its own samples at comparable losses")):
            for example in said["examples"]:
                st.caption(example["label"])
                st.code(example["text"], language=None, wrap_lines=True, height=SAMPLE_HEIGHT)


def live_panel(run_dir: Path, was_active: bool, drawn_labels: dict | None = None) -> None:
    status = runs.read_status(run_dir)
    state = status.get("state")
    if was_active and state not in runs.ACTIVE_STATES:
        st.rerun()  # the job ended: redraw the whole page with the final summary
    if was_active and drawn_labels is not None and run_labels() != drawn_labels:
        st.rerun()  # a run changed state: "Run to watch" must not keep showing the old one
    reader = records_reader()
    records = reader.records(run_dir, metrics.METRICS_FILE)
    figures = metrics.live_figures(status, records)
    # The chart and the latest sample first, so that on a projector (1280x720) both are on
    # screen together; progress, figures and the toggle under them (drawn first: the chart
    # reads the toggle).
    tighten_page_top()
    chart, latest = st.container(), st.container()
    state_line(run_dir, status, figures)
    live_controls(run_dir, status, records)
    figure_metrics(status, figures, heldout.scored_part_sentence(read_json(run_dir / "config.json", {}), t))
    bits = st.toggle(t("Show bits per character"), key="train_bits",
                     help=t("Loss divided by ln 2: how many yes/no questions the model needs per character."))
    base_records = reader.base_records(run_dir)
    notes = reader.records(run_dir, metrics.NOTES_FILE)
    refs, problem = run_references(run_dir, state in runs.ACTIVE_STATES)
    figure = charts.loss_figure(records, bits=bits, best=charts.best_point(records),
                                base_records=base_records, translate=t, references=refs, notes=notes)
    figure.update_layout(height=LIVE_CHART_HEIGHT, margin_t=LIVE_CHART_TOP)
    figure.update_yaxes(title_text=t("bits/char") if bits else t("nats/char"))  # a full title would be cut
    samples = reader.records(run_dir, metrics.SAMPLES_FILE)
    timeline = metrics.learning_timeline(samples, records)
    mark_watched_step(figure, run_dir, timeline, base_records)
    chart.plotly_chart(figure, key="live_loss_chart")
    loss_words(refs, problem, shown_loss(status, records), timeline, bits)
    show_held_out_note(run_dir)
    show_notes(notes)
    if was_active:  # a run that ended shows its samples in final_summary
        training_samples(run_dir, samples, latest)
        watch_section(run_dir, samples, records, active=True)


def final_summary(run: dict, status: dict) -> None:
    state = status.get("state")
    loss = status.get("best_val_loss")
    score = (t("Best held-out loss {nats:.3f} nats per character = {bits:.3f} bits per character.",
               nats=loss, bits=loss / charts.LN2)
             if isinstance(loss, (int, float)) and math.isfinite(loss) else "")
    if score:
        score = say(score, heldout.scored_part_sentence(read_json(Path(run["path"]) / "config.json", {}), t))
    message = status_message(status)
    headline = t("Training {state}.", state=state_name(state))
    if state in ("completed", "stopped"):
        st.success(say(headline, score, message), icon=STATE_ICONS[state])
    else:
        log_text = jobs.training_log(run["path"])
        reason = jobs.log_error(log_text)
        if reason is not None:
            message = t(reason)
        st.error(say(headline, message, score), icon=STATE_ICONS.get(state))
        if log_text:
            with st.expander(t("Details from the training log")):
                st.code(log_text[-3000:], language=None)
    reader = records_reader()
    samples = reader.records(run["path"], metrics.SAMPLES_FILE)
    end_samples(Path(run["path"]), samples)
    watch_section(Path(run["path"]), samples, reader.records(run["path"]), active=False)
    if run.get("has_model"):
        if st.button(t("Generate text with this model"), type="primary", icon=":material/edit_note:",
                     key="train_generate"):
            st.session_state["generate_run"] = run["name"]
            st.switch_page("pages/generate.py")
