"""Train: choose settings, start a job, and watch it learn live.

Training runs as a separate process (textgen.jobs); this page only starts it and
reads its run folder, so a refresh or a second browser tab finds the job again.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import streamlit as st

from pages._shared import (choice_key, chosen_corpus, corpus_title, error_text, language, load_overview,
                           model_choices, run_label, run_through_app, show_error, state_name, t)
from textgen import capacity, charts, config, corpus, estimates, jobs, runs, unknowns
from textgen.errors import TextgenError
from textgen.i18n import join_sentences

run_through_app()

ARCH_NAMES = {"gru": "GRU", "lstm": "LSTM", "transformer": "Transformer"}
NO_BASE = "None (start from scratch)"  # the option's value; shown translated
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:",
               "completed": ":material/check_circle:", "stopped": ":material/stop_circle:",
               "failed": ":material/error:", "interrupted": ":material/warning:"}


def preset_description(preset: str) -> str:
    return {
        "quick": t("A small model that writes something readable within about a minute. "
                   "Good for a first try."),
        "balanced": t("A two-layer model: the best quality for the time on an ordinary computer. "
                      "Trains until it stops improving."),
        "quality": t("A bigger model that can learn more but is several times slower. "
                     "Worth it on a GPU, or with time to spare."),
    }[preset]


def preset_names() -> dict[str, str]:
    """The preset choice's values (English, as the app's contract names them) and labels."""
    return {"Quick": t("Quick"), "Balanced": t("Balanced"), "Quality": t("Quality")}


def tokenizer_names() -> dict[str, str]:
    return {"char": t("Character"), "word": t("Word"), "bpe": t("Subword")}


def say(*sentences: str) -> str:
    return join_sentences(sentences, language())


def number_setting(column, name: str, label: str, default, key_suffix: str, disabled=False, **extra):
    """A number_input whose range and help come from config.RANGES."""
    kind, low, high, help_text = config.RANGES[name]
    if kind is int:
        args = dict(min_value=int(low), max_value=int(high), step=1,
                    value=None if default is None else int(default))
    else:
        args = dict(min_value=float(low), max_value=float(high),
                    value=None if default is None else float(default))
    args.update(extra)
    return column.number_input(label, help=t(help_text[0].upper() + help_text[1:] + "."),
                               key=f"adv_{name}_{key_suffix}", disabled=disabled, **args)


def settings_form(overview: dict | None) -> dict | None:
    """Every setting as widgets; returns what is needed to start, or None if invalid."""
    presets = preset_names()
    preset = st.radio(t("Preset"), list(presets), index=1, horizontal=True, key=choice_key("train_preset"),
                      format_func=presets.get,
                      help=t("A starting point for all settings; change any of them under Advanced settings."))
    preset = preset.lower()
    st.caption(preset_description(preset))

    bases = model_choices(finished_only=True)
    requested = st.session_state.pop("finetune_from", None)  # a run name, from the Runs page
    for path in bases:
        if requested and Path(path).name == requested:
            st.session_state["train_init_from"] = path
    if st.session_state.get("train_init_from") not in (NO_BASE, *bases):
        st.session_state["train_init_from"] = NO_BASE
    base_choice = st.selectbox(
        t("Fine-tune from"), [NO_BASE, *bases], key=choice_key("train_init_from"),
        format_func={NO_BASE: t("None (start from scratch)"), **bases}.get,
        help=t("Start from a model already trained (for example the shipped base model, trained on "
               "a large general text) and adapt it to this corpus. It keeps that model's shape and vocabulary."))
    init_from = None if base_choice == NO_BASE else base_choice

    defaults = config.resolve_config(preset)
    base_config = {}
    if init_from:
        base_config = runs.read_json(Path(init_from) / "config.json", {}) or {}
        if all(k in base_config for k in config.FINE_TUNE_SHAPE):
            defaults = config.fine_tune_config(
                dict(defaults, seq_len=base_config.get("seq_len", defaults["seq_len"])), {}, base_config)
            defaults["learning_rate"] = round(defaults["learning_rate"], 6)
        else:
            st.error(t("The chosen base model's settings are missing or damaged; choose another one."))
            init_from, base_config = None, {}
    suffix = f"{preset}_{Path(init_from).name if init_from else ''}"  # new defaults per preset and base
    arch_col, tok_col = st.columns(2)

    arch = arch_col.selectbox(t("Architecture"), list(ARCH_NAMES), format_func=ARCH_NAMES.get,
                              index=list(ARCH_NAMES).index(defaults["arch"]), key=f"arch_{suffix}",
                              disabled=bool(init_from),
                              help=t("GRU is fast and good on a CPU; LSTM is similar but slower; "
                                     "Transformer (like GPT) shines on a GPU with more text."))
    tokenizers = tokenizer_names()
    tokenizer = tok_col.selectbox(t("Tokenizer"), list(tokenizers), format_func=tokenizers.get,
                                  index=list(tokenizers).index(defaults["tokenizer"]),
                                  key=choice_key(f"tok_{suffix}"), disabled=bool(init_from),
                                  help=t("Character: the model writes letter by letter and can invent "
                                         "words. Word: it writes whole words it has seen; needs more text. "
                                         "Subword: frequent chunks of words learnt from your text "
                                         "(byte-pair encoding), so the model reads more text at once."))

    with st.expander(t("Advanced settings")):
        c1, c2 = st.columns(2)
        shape_locked = bool(init_from)
        values = {
            "layers": number_setting(c1, "layers", t("Layers"), defaults["layers"], suffix, shape_locked),
            "units": number_setting(c2, "units", t("Units per layer"), defaults["units"], suffix, shape_locked),
            "embedding_dim": number_setting(c1, "embedding_dim", t("Embedding size"), defaults["embedding_dim"],
                                            suffix, shape_locked),
            "seq_len": number_setting(c2, "seq_len", t("Sequence length"), defaults["seq_len"], suffix),
            "batch_size": number_setting(c1, "batch_size", t("Batch size"), defaults["batch_size"], suffix),
            "dropout": number_setting(c2, "dropout", t("Dropout"), defaults["dropout"], suffix, step=0.05),
            "learning_rate": number_setting(c1, "learning_rate", t("Learning rate"), defaults["learning_rate"],
                                            suffix, step=1e-4, format="%.5f"),
            "epochs": number_setting(c2, "epochs", t("Epochs"), defaults["epochs"], suffix),
            "val_fraction": number_setting(c1, "val_fraction", t("Held-out share"), defaults["val_fraction"],
                                           suffix, step=0.01),
            "time_budget": number_setting(c2, "time_budget", t("Time budget (seconds)"), defaults["time_budget"],
                                          suffix, step=10.0, format="%.0f", placeholder=t("no limit")),
            "seed": number_setting(c1, "seed", t("Seed"), defaults["seed"], suffix, placeholder=t("random")),
        }
        if tokenizer != "char":  # each tokenizer has its own default size, hence its own key
            values["max_vocab"] = number_setting(c2, "max_vocab", t("Vocabulary size"),
                                                 defaults["max_vocab"] if init_from
                                                 else config.VOCAB_DEFAULTS[tokenizer],
                                                 f"{suffix}_{tokenizer}", shape_locked)
        if init_from:
            values["freeze_layers"] = number_setting(c2, "freeze_layers", t("Frozen layers"), 0, suffix,
                                                     max_value=int(defaults["layers"]))
    values.update(arch=arch, tokenizer=tokenizer)
    values["time_budget"] = values["time_budget"] or 0.0  # an empty field reads "no limit", as 0 does
    st.session_state["train_settings"] = {"preset": preset, "seq_len": values["seq_len"],
                                          "val_fraction": values["val_fraction"]}
    try:
        resolved = config.resolve_config(preset, **values)
    except TextgenError as e:
        show_error(e)
        return None

    # Explicit flags only where they differ from the preset: the command stays readable.
    # (A time budget of 0, no limit, is passed on where the preset has one.)
    preset_values = config.resolve_config(preset)
    options = {"preset": preset}
    for name, value in values.items():
        if init_from and name in config.FINE_TUNE_SHAPE:
            continue  # the base run decides the shape
        if value is not None and resolved.get(name) != preset_values.get(name):
            options[name] = value
    if init_from:
        options["init_from"] = init_from

    if not show_estimates(resolved, overview, init_from):
        return None  # too big for this machine: Start training stays off
    show_held_out_check(overview, resolved["val_fraction"])
    return {"options": options, "resolved": resolved, "init_from": init_from}


def run_estimates(resolved: dict, overview: dict, init_from: str | None) -> dict:
    """The model size and time of these settings, from the tokenizer training would build
    on this corpus; a rough guess from the corpus statistics if that cannot be built."""
    spec, _ = chosen_corpus()
    try:
        with st.spinner(t("Counting tokens...")):
            return estimates.run_estimates(resolved, spec, overview["sha256"], init_from)
    except (TextgenError, OSError):
        vocab, tokens = config.expected_vocabulary(resolved, overview["stats"], overview["distinct_words"])
        train_tokens = int(tokens * (1 - resolved["val_fraction"]))
        return {"parameters": config.count_parameters(resolved, vocab),
                "seconds": config.estimate_seconds(resolved, vocab, train_tokens)}


@st.cache_data(show_spinner=False, max_entries=16)
def unknown_shares(spec: tuple[str, ...], sha256: str, kind: str, max_vocab: int, val_fraction: float,
                   init_from: str | None) -> dict:
    """unknowns.expected_unknown_shares of the chosen corpus, kept per content and setting."""
    text = corpus.load_corpus(list(spec)).text
    return unknowns.expected_unknown_shares(text, val_fraction, kind, max_vocab, init_from)


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


def show_estimates(resolved: dict, overview: dict | None, init_from: str | None) -> bool:
    """Model size and time; False (with the sentence shown) when the model would not fit."""
    if overview is None:
        return fits_in_memory(resolved, 2)
    stats = overview["stats"]
    found = run_estimates(resolved, overview, init_from)
    parameters, seconds = found["parameters"], found["seconds"]
    size_col, time_col = st.columns(2)
    size_col.metric(t("Model size (parameters)"), f"{parameters:,}",
                    help=t("Numbers the model learns. More can capture more, but needs more text and time."))
    time_col.metric(t("Estimated time"), charts.format_duration(seconds, t) if seconds < 1e9 else t("no limit"),
                    help=t("A rough guess for a CPU; it stops earlier when it stops improving."))
    minimum = corpus.min_corpus_length(resolved["seq_len"], resolved["val_fraction"])
    if stats["chars"] < minimum:
        st.error(t("The corpus has {chars:,} characters; with a sequence length of "
                   "{seq_len} it needs at least {minimum:,}. Add more text on the "
                   "Corpus page or lower the sequence length under Advanced settings.",
                   chars=stats["chars"], seq_len=resolved["seq_len"], minimum=minimum))
    return fits_in_memory(resolved, found.get("vocab_size") or 2)


def suggest_run_name(plan: dict | None, corpus_name: str) -> None:
    """A fresh run name from the architecture and corpus; a suggested name the user left
    as it was follows a change of either, so it never names what the run is not."""
    arch = plan["resolved"]["arch"] if plan else "run"
    short = Path(corpus_name.split(" + ")[0]).stem.replace("built-in ", "").replace("builtin:", "")
    prefix = f"{arch}-{short}"
    suggested = st.session_state.get("train_run_name_suggested") or {}
    untouched = st.session_state.get("train_run_name") == suggested.get("name")
    if "train_run_name" not in st.session_state or (untouched and suggested.get("prefix") != prefix):
        name = runs.new_run_name(prefix)
        st.session_state["train_run_name"] = name
        st.session_state["train_run_name_suggested"] = {"name": name, "prefix": prefix}


@st.cache_data(show_spinner=False, max_entries=8)
def held_out_novelty(spec: tuple[str, ...], sha256: str, val_fraction: float) -> dict:
    """corpus.held_out_novelty of the chosen corpus; ``sha256`` names its content."""
    text = corpus.load_corpus(list(spec)).text
    return corpus.held_out_novelty(*corpus.split_text(text, val_fraction))


def show_held_out_check(overview: dict | None, val_fraction: float) -> None:
    """Before training: a warning when the held-out part holds much the training part lacks."""
    if overview is None:
        return
    spec, _ = chosen_corpus()
    try:
        novelty = held_out_novelty(tuple(spec), overview["sha256"], float(val_fraction))
    except (TextgenError, OSError):
        return  # what is wrong with the corpus or the setting is shown elsewhere on the page
    warning = corpus.held_out_warning(novelty)
    if warning:
        st.warning(error_text(warning), icon=":material/call_split:")


def show_held_out_note(run_dir: Path) -> None:
    """Beside a run's curves: why its held-out loss may stay high, if its config.json says so."""
    warning = corpus.run_held_out_warning(runs.read_json(run_dir / "config.json", {}))
    if warning:
        st.warning(error_text(warning), icon=":material/call_split:")


def start(spec: list[str], name: str, options: dict) -> None:
    try:
        jobs.start_training(spec, runs.run_path(name), options)
    except TextgenError as e:
        show_error(e)
        return
    st.session_state["selected_run"] = name
    st.session_state.pop("train_run_name", None)  # suggest a fresh name next time
    st.rerun()


# --- watching a run -------------------------------------------------------------


def new_records(run_dir: Path, filename: str) -> list[dict]:
    """All records of a jsonl file, reading only what was appended since the last call."""
    cache = st.session_state.setdefault("jsonl_cache", {})
    key = f"{run_dir}/{filename}"
    entry = cache.get(key)
    path = run_dir / filename
    size = path.stat().st_size if path.exists() else 0
    if entry is None or size < entry["offset"]:  # new run or the file was rewritten
        entry = cache[key] = {"offset": 0, "records": []}
    if size > entry["offset"]:
        records, entry["offset"] = runs.read_jsonl(path, entry["offset"])
        entry["records"].extend(records)
    return entry["records"]


def base_records(run_dir: Path) -> list[dict] | None:
    """The metrics of the run a fine-tune started from, so its curve continues that one."""
    base = (runs.read_json(run_dir / "config.json", {}) or {}).get("init_from")
    if not base or not (Path(base) / "metrics.jsonl").exists():
        return None
    return new_records(Path(base), "metrics.jsonl")


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


def live_panel(run_dir: Path, was_active: bool, drawn_labels: dict | None = None) -> None:
    status = runs.read_status(run_dir)
    state = status.get("state")
    if was_active and state not in runs.ACTIVE_STATES:
        st.rerun()  # the job ended: redraw the whole page with the final summary
    if was_active and drawn_labels is not None and run_labels() != drawn_labels:
        st.rerun()  # a run changed state: "Run to watch" must not keep showing the old one
    records = new_records(run_dir, "metrics.jsonl")

    if state == "queued":
        st.info(queue_text(run_dir.name), icon=STATE_ICONS["queued"])
    elif state == "running":
        fraction, eta = charts.progress(status)
        started = status.get("started_at")
        elapsed = time.time() - started if isinstance(started, (int, float)) else None
        if eta is None:
            text = t("Training: {elapsed} so far", elapsed=charts.format_duration(elapsed, t))
        else:
            text = t("Training: {elapsed} so far, about {left} left",
                     elapsed=charts.format_duration(elapsed, t), left=charts.format_duration(eta, t))
        st.progress(fraction or 0.0, text=text)

    latest = records[-1] if records else {}
    best = charts.best_point(records)
    best_loss = status.get("best_val_loss")
    if best_loss is None and best:
        best_loss = best["val_loss"]
    speed = next((r["chars_per_sec"] for r in reversed(records) if r.get("chars_per_sec")), None)
    started = status.get("started_at")
    end = status.get("updated_at") if state not in runs.ACTIVE_STATES else time.time()
    # A queued run has no training time yet (a resumed one still holds its last session's start).
    elapsed = end - started if isinstance(started, (int, float)) and end and state != "queued" else None
    row1, row2 = st.columns(3), st.columns(3)
    row1[0].metric(t("Step"), f"{status.get('step') or latest.get('step') or 0:,}")
    row1[1].metric(t("Training loss"), number_text(latest.get("train_loss"), "{:.3f}"))
    row1[2].metric(t("Best held-out loss"), number_text(best_loss, "{:.3f}"),
                   help=t("Measured on text the model never trains on; lower is better."))
    row2[0].metric(t("Speed (chars/s)"), number_text(speed, "{:,.0f}"))
    row2[1].metric(t("Device"), status.get("device") or "–")
    row2[2].metric(t("Time"), charts.format_duration(elapsed, t) if elapsed is not None else "–")

    bits = st.toggle(t("Show bits per character"), key="train_bits",
                     help=t("Loss divided by ln 2: how many yes/no questions the model needs per character."))
    st.plotly_chart(charts.loss_figure(records, bits=bits, best=best, base_records=base_records(run_dir),
                                       translate=t),
                    key="live_loss_chart")
    show_held_out_note(run_dir)

    warning = charts.overfitting(records)
    if warning:
        best_pt = warning["best"]
        st.warning(t(
            "The model has started memorising: its held-out loss rose from "
            "{best:.3f} (step {step}) to {latest:.3f} while its training loss kept falling. "
            "The best checkpoint (the star) is the one kept and used for generating. "
            "More text or more dropout helps.",
            best=best_pt["val_loss"], step=best_pt.get("step"), latest=warning["latest"]["val_loss"]),
            icon=":material/trending_up:")

    samples = new_records(run_dir, "samples.jsonl")
    if samples:
        st.markdown("**" + t("What the model writes so far") + "**")
        for sample in reversed(samples[-3:]):
            text = sample.get("text") or sample.get("sample") or ""
            st.caption(t("Step {step}", step=sample.get("step", "?")))
            st.code(text, language=None, wrap_lines=True)


def final_summary(run: dict, status: dict) -> None:
    state = status.get("state")
    loss = status.get("best_val_loss")
    score = (t("Best held-out loss {nats:.3f} nats per character = {bits:.3f} bits per character.",
               nats=loss, bits=loss / charts.LN2)
             if isinstance(loss, (int, float)) and math.isfinite(loss) else "")
    message = status.get("message") or ""
    headline = t("Training {state}.", state=state_name(state))
    if state in ("completed", "stopped"):
        st.success(say(headline, score, t(message)), icon=STATE_ICONS[state])
    else:
        log = Path(run["path"]) / "train.log"
        log_text = log.read_text(errors="replace") if log.exists() else ""
        # The CLI states bad input in one "error: ..." line: that sentence says most.
        reasons = [line[len("error:"):].strip() for line in log_text.splitlines() if line.startswith("error:")]
        if reasons:
            message = reasons[-1]
        st.error(say(headline, t(message), score), icon=STATE_ICONS.get(state))
        if log_text:
            with st.expander(t("Details from the training log")):
                st.code(log_text[-3000:], language=None)
    if run.get("has_model"):
        if st.button(t("Generate text with this model"), type="primary", icon=":material/edit_note:",
                     key="train_generate"):
            st.session_state["generate_run"] = run["name"]
            st.switch_page("pages/generate.py")


# --- the page ---------------------------------------------------------------------

st.title(t("Train"))
settings_col, progress_col = st.columns([5, 7], gap="large")

with settings_col:
    st.subheader(t("New run"))
    spec, corpus_name = chosen_corpus()
    corpus_line = st.columns([3, 2], vertical_alignment="center")
    corpus_line[0].markdown(t("**Corpus:** {name}", name=corpus_title()))
    corpus_line[1].page_link("pages/corpus.py", label=t("Change corpus"), icon=":material/description:")
    overview = load_overview(spec)
    plan = settings_form(overview)
    warn_unknown(spec, overview, plan)
    suggest_run_name(plan, corpus_name)
    run_name = st.text_input(t("Run name"), key="train_run_name",
                             help=t("A folder name for this run: letters (of any language), digits, "
                                    "dots, dashes, underscores."))
    buttons = st.container(horizontal=True)

with progress_col:
    st.subheader(t("Progress"))
    all_runs = runs.list_runs()
    names = [r["name"] for r in all_runs]
    watched = None
    if not names:
        st.info(t("No training yet. Choose a preset and press **{start}**; "
                  "the live chart appears here.", start=t("Start training")), icon=":material/model_training:")
    else:
        requested = st.session_state.pop("selected_run", None)
        if requested in names:
            st.session_state["train_watch"] = requested
        elif st.session_state.get("train_watch") not in names:
            active = [r["name"] for r in all_runs if r["state"] in runs.ACTIVE_STATES]
            st.session_state["train_watch"] = (active or names)[0]
        by_name = {r["name"]: r for r in all_runs}
        labels = {n: run_label(r) for n, r in by_name.items()}
        watched = by_name[st.selectbox(t("Run to watch"), names, key=choice_key("train_watch"),
                                       format_func=labels.get)]

watched_active = bool(watched) and watched["state"] in runs.ACTIVE_STATES
with buttons:
    start_clicked = st.button(t("Start training"), type="primary", icon=":material/play_arrow:",
                              disabled=plan is None, key="train_start")
    stop_clicked = st.button(t("Stop training"), icon=":material/stop:", disabled=not watched_active,
                             key="train_stop",
                             help=t("Stops after the current step and keeps the best model so far."))
if start_clicked and plan is not None:
    try:
        runs.check_run_name(run_name)
    except TextgenError as e:
        show_error(e, settings_col)
    else:
        with settings_col:
            start(spec, run_name, plan["options"])
if stop_clicked and watched:
    jobs.stop_training(watched["path"])
    st.toast(t("Stopping after the current step; the best model is kept."), icon=":material/stop:")

if watched:
    run_dir = Path(watched["path"])
    with progress_col:
        if watched_active:
            st.fragment(live_panel, run_every=1.0)(run_dir, True, labels)
        else:
            live_panel(run_dir, False)
            final_summary(watched, runs.read_status(run_dir))
