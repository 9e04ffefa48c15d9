"""Train: choose settings, start a job, and watch it learn live.

Training runs as a separate process (textgen.jobs); this page only starts it and
reads its run folder, so a refresh or a second browser tab finds the job again.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from pages._shared import chosen_corpus, load_overview, model_choices, run_label
from textgen import charts, config, corpus, jobs, runs
from textgen.errors import TextgenError

PRESET_DESCRIPTIONS = {
    "quick": "A small model that writes something readable within about a minute. "
             "Good for a first try.",
    "balanced": "A two-layer model: the best quality for the time on an ordinary computer. "
                "Trains until it stops improving.",
    "quality": "A bigger model that can learn more but is several times slower. "
               "Worth it on a GPU, or with time to spare.",
}
ARCH_NAMES = {"gru": "GRU", "lstm": "LSTM", "transformer": "Transformer"}
TOKENIZER_NAMES = {"char": "Characters", "word": "Words"}
NO_BASE = "None (start from scratch)"
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:",
               "completed": ":material/check_circle:", "stopped": ":material/stop_circle:",
               "failed": ":material/error:", "interrupted": ":material/warning:"}


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
    return column.number_input(label, help=help_text[0].upper() + help_text[1:] + ".",
                               key=f"adv_{name}_{key_suffix}", disabled=disabled, **args)


def settings_form(overview: dict | None) -> dict | None:
    """Every setting as widgets; returns what is needed to start, or None if invalid."""
    preset = st.radio("Preset", ["Quick", "Balanced", "Quality"], index=1, horizontal=True,
                      help="A starting point for all settings; change any of them under Advanced settings.")
    preset = preset.lower()
    st.caption(PRESET_DESCRIPTIONS[preset])

    bases = model_choices(finished_only=True)
    requested = st.session_state.pop("finetune_from", None)  # a run name, from the Runs page
    for path in bases:
        if requested and Path(path).name == requested:
            st.session_state["train_init_from"] = path
    if st.session_state.get("train_init_from") not in (NO_BASE, *bases):
        st.session_state["train_init_from"] = NO_BASE
    base_choice = st.selectbox(
        "Fine-tune from", [NO_BASE, *bases], key="train_init_from",
        format_func=lambda path: bases.get(path, path),
        help="Start from a model already trained (for example the shipped base model, trained on "
             "a large general text) and adapt it to this corpus. It keeps that model's shape and vocabulary.")
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
            st.error("The chosen base model's settings are missing or damaged; choose another one.")
            init_from, base_config = None, {}
    suffix = f"{preset}_{Path(init_from).name if init_from else ''}"  # new defaults per preset and base
    arch_col, tok_col = st.columns(2)

    arch = arch_col.selectbox("Architecture", list(ARCH_NAMES), format_func=ARCH_NAMES.get,
                              index=list(ARCH_NAMES).index(defaults["arch"]), key=f"arch_{suffix}",
                              disabled=bool(init_from),
                              help="GRU is fast and good on a CPU; LSTM is similar but slower; "
                                   "Transformer (like GPT) shines on a GPU with more text.")
    tokenizer = tok_col.selectbox("Tokenizer", list(TOKENIZER_NAMES), format_func=TOKENIZER_NAMES.get,
                                  index=list(TOKENIZER_NAMES).index(defaults["tokenizer"]),
                                  key=f"tok_{suffix}", disabled=bool(init_from),
                                  help="Characters: the model writes letter by letter and can invent "
                                       "words. Words: it writes whole words it has seen; needs more text.")

    with st.expander("Advanced settings"):
        c1, c2 = st.columns(2)
        shape_locked = bool(init_from)
        values = {
            "layers": number_setting(c1, "layers", "Layers", defaults["layers"], suffix, shape_locked),
            "units": number_setting(c2, "units", "Units per layer", defaults["units"], suffix, shape_locked),
            "embedding_dim": number_setting(c1, "embedding_dim", "Embedding size", defaults["embedding_dim"],
                                            suffix, shape_locked),
            "seq_len": number_setting(c2, "seq_len", "Sequence length", defaults["seq_len"], suffix),
            "batch_size": number_setting(c1, "batch_size", "Batch size", defaults["batch_size"], suffix),
            "dropout": number_setting(c2, "dropout", "Dropout", defaults["dropout"], suffix, step=0.05),
            "learning_rate": number_setting(c1, "learning_rate", "Learning rate", defaults["learning_rate"],
                                            suffix, step=1e-4, format="%.5f"),
            "epochs": number_setting(c2, "epochs", "Epochs", defaults["epochs"], suffix),
            "val_fraction": number_setting(c1, "val_fraction", "Held-out share", defaults["val_fraction"],
                                           suffix, step=0.01),
            "time_budget": number_setting(c2, "time_budget", "Time budget (seconds)", defaults["time_budget"],
                                          suffix, step=10.0, format="%.0f", placeholder="no limit"),
            "seed": number_setting(c1, "seed", "Seed", defaults["seed"], suffix, placeholder="random"),
        }
        if init_from:
            values["freeze_layers"] = number_setting(c2, "freeze_layers", "Frozen layers", 0, suffix,
                                                     max_value=int(defaults["layers"]))
    values.update(arch=arch, tokenizer=tokenizer)
    st.session_state["train_settings"] = {"preset": preset, "seq_len": values["seq_len"],
                                          "val_fraction": values["val_fraction"]}
    try:
        resolved = config.resolve_config(preset, **values)
    except TextgenError as e:
        st.error(str(e))
        return None

    # Explicit flags only where they differ from the preset: the command stays readable.
    preset_values = config.resolve_config(preset)
    options = {"preset": preset}
    for name, value in values.items():
        if init_from and name in config.FINE_TUNE_SHAPE:
            continue  # the base run decides the shape
        if value is not None and value != preset_values.get(name):
            options[name] = value
    if init_from:
        options["init_from"] = init_from
    if resolved.get("time_budget") is None:
        options.pop("time_budget", None)

    show_estimates(resolved, overview, init_from and base_config)
    return {"options": options, "resolved": resolved, "init_from": init_from}


def show_estimates(resolved: dict, overview: dict | None, base_config) -> None:
    if overview is None:
        return
    stats = overview["stats"]
    if base_config and base_config.get("vocab_size"):
        vocab = int(base_config["vocab_size"])
    elif resolved["tokenizer"] == "word":
        vocab = min(resolved["max_vocab"], overview["distinct_words"]) + 2
    else:
        vocab = stats["distinct_chars"] + 1
    tokens = stats["chars"] if resolved["tokenizer"] == "char" else stats["words"] * 2
    train_tokens = int(tokens * (1 - resolved["val_fraction"]))
    parameters = config.count_parameters(resolved, vocab)
    seconds = config.estimate_seconds(resolved, vocab, train_tokens)
    size_col, time_col = st.columns(2)
    size_col.metric("Model size (parameters)", f"{parameters:,}",
                    help="Numbers the model learns. More can capture more, but needs more text and time.")
    time_col.metric("Estimated time", charts.format_duration(seconds) if seconds < 1e9 else "no limit",
                    help="A rough guess for a CPU; it stops earlier when it stops improving.")
    minimum = corpus.min_corpus_length(resolved["seq_len"], resolved["val_fraction"])
    if stats["chars"] < minimum:
        st.error(f"The corpus has {stats['chars']:,} characters; with a sequence length of "
                 f"{resolved['seq_len']} it needs at least {minimum:,}. Add more text on the "
                 "Corpus page or lower the sequence length under Advanced settings.")


def start(spec: list[str], name: str, options: dict) -> None:
    try:
        jobs.start_training(spec, runs.run_path(name), options)
    except TextgenError as e:
        st.error(str(e))
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


def queue_position(name: str) -> tuple[int, int]:
    """(place in line among waiting jobs, jobs training now)."""
    active = jobs.active_jobs()
    running = sum(1 for r in active if r["state"] == "running")
    waiting = sorted((r for r in active if r["state"] == "queued"),
                     key=lambda r: runs.read_status(r["path"]).get("queued_at") or 0)
    names = [r["name"] for r in waiting]
    return (names.index(name) + 1 if name in names else 1), running


def live_panel(run_dir: Path, was_active: bool) -> None:
    status = runs.read_status(run_dir)
    state = status.get("state")
    if was_active and state not in runs.ACTIVE_STATES:
        st.rerun()  # the job ended: redraw the whole page with the final summary
    records = new_records(run_dir, "metrics.jsonl")

    if state == "queued":
        place, running = queue_position(run_dir.name)
        st.info(f"Waiting in the queue: number {place} in line, {running} job(s) training now. "
                "It starts by itself when a training slot is free.", icon=STATE_ICONS["queued"])
    elif state == "running":
        fraction, eta = charts.progress(status)
        started = status.get("started_at")
        elapsed = time.time() - started if isinstance(started, (int, float)) else None
        text = f"Training: {charts.format_duration(elapsed)} so far"
        if eta is not None:
            text += f", about {charts.format_duration(eta)} left"
        st.progress(fraction or 0.0, text=text)

    latest = records[-1] if records else {}
    best = charts.best_point(records)
    best_loss = status.get("best_val_loss")
    if best_loss is None and best:
        best_loss = best["val_loss"]
    speed = next((r["chars_per_sec"] for r in reversed(records) if r.get("chars_per_sec")), None)
    started = status.get("started_at")
    end = status.get("updated_at") if state not in runs.ACTIVE_STATES else time.time()
    elapsed = end - started if isinstance(started, (int, float)) and end else None
    row1, row2 = st.columns(3), st.columns(3)
    row1[0].metric("Step", f"{status.get('step') or latest.get('step') or 0:,}")
    row1[1].metric("Training loss", f"{latest['train_loss']:.3f}" if "train_loss" in latest else "–")
    row1[2].metric("Best held-out loss", f"{best_loss:.3f}" if best_loss is not None else "–",
                   help="Measured on text the model never trains on; lower is better.")
    row2[0].metric("Speed (chars/s)", f"{speed:,.0f}" if speed else "–")
    row2[1].metric("Device", status.get("device") or "–")
    row2[2].metric("Time", charts.format_duration(elapsed) if elapsed is not None else "–")

    bits = st.toggle("Show bits per character", key="train_bits",
                     help="Loss divided by ln 2: how many yes/no questions the model needs per character.")
    st.plotly_chart(charts.loss_figure(records, bits=bits, best=best, base_records=base_records(run_dir)),
                    key="live_loss_chart")

    warning = charts.overfitting(records)
    if warning:
        best_pt = warning["best"]
        st.warning(
            f"The model has started memorising: its held-out loss rose from "
            f"{best_pt['val_loss']:.3f} (step {best_pt.get('step')}) to "
            f"{warning['latest']['val_loss']:.3f} while its training loss kept falling. "
            "The best checkpoint (the star) is the one kept and used for generating. "
            "More text or more dropout helps.", icon=":material/trending_up:")

    samples = new_records(run_dir, "samples.jsonl")
    if samples:
        st.markdown("**What the model writes so far**")
        for sample in reversed(samples[-3:]):
            text = sample.get("text") or sample.get("sample") or ""
            st.caption(f"Step {sample.get('step', '?')}")
            st.code(text, language=None, wrap_lines=True)


def final_summary(run: dict, status: dict) -> None:
    state = status.get("state")
    loss = status.get("best_val_loss")
    score = (f" Best held-out loss {loss:.3f} nats per character = {loss / charts.LN2:.3f} bits per character."
             if isinstance(loss, (int, float)) else "")
    message = status.get("message") or ""
    if state in ("completed", "stopped"):
        st.success(f"Training {state}.{score} {message}", icon=STATE_ICONS[state])
    else:
        log = Path(run["path"]) / "train.log"
        log_text = log.read_text(errors="replace") if log.exists() else ""
        # The CLI states bad input in one "error: ..." line: that sentence says most.
        reasons = [line[len("error:"):].strip() for line in log_text.splitlines() if line.startswith("error:")]
        if reasons:
            message = reasons[-1]
        st.error(f"Training {state}. {message}{score}", icon=STATE_ICONS.get(state))
        if log_text:
            with st.expander("Details from the training log"):
                st.code(log_text[-3000:], language=None)
    if run.get("has_model"):
        if st.button("Generate text with this model", type="primary", icon=":material/edit_note:"):
            st.session_state["generate_run"] = run["name"]
            st.switch_page("pages/generate.py")


# --- the page ---------------------------------------------------------------------

st.title("Train")
settings_col, progress_col = st.columns([5, 7], gap="large")

with settings_col:
    st.subheader("New run")
    spec, corpus_name = chosen_corpus()
    corpus_line = st.columns([3, 2], vertical_alignment="center")
    corpus_line[0].markdown(f"**Corpus:** {corpus_name}")
    corpus_line[1].page_link("pages/corpus.py", label="Change corpus", icon=":material/description:")
    overview = load_overview(spec)
    plan = settings_form(overview)
    if "train_run_name" not in st.session_state:
        arch = plan["resolved"]["arch"] if plan else "run"
        short = Path(corpus_name.split(" + ")[0]).stem.replace("built-in ", "")
        st.session_state["train_run_name"] = runs.new_run_name(f"{arch}-{short}")
    run_name = st.text_input("Run name", key="train_run_name",
                             help="A folder name for this run: letters, digits, dots, dashes, underscores.")
    buttons = st.container(horizontal=True)

with progress_col:
    st.subheader("Progress")
    all_runs = runs.list_runs()
    names = [r["name"] for r in all_runs]
    watched = None
    if not names:
        st.info("No training yet. Choose a preset and press **Start training**; "
                "the live chart appears here.", icon=":material/model_training:")
    else:
        requested = st.session_state.pop("selected_run", None)
        if requested in names:
            st.session_state["train_watch"] = requested
        elif st.session_state.get("train_watch") not in names:
            active = [r["name"] for r in all_runs if r["state"] in runs.ACTIVE_STATES]
            st.session_state["train_watch"] = (active or names)[0]
        by_name = {r["name"]: r for r in all_runs}
        watched = by_name[st.selectbox("Run to watch", names, key="train_watch",
                                       format_func=lambda n: run_label(by_name[n]))]

watched_active = bool(watched) and watched["state"] in runs.ACTIVE_STATES
with buttons:
    start_clicked = st.button("Start training", type="primary", icon=":material/play_arrow:",
                              disabled=plan is None)
    stop_clicked = st.button("Stop training", icon=":material/stop:", disabled=not watched_active,
                             help="Stops after the current step and keeps the best model so far.")
if start_clicked and plan is not None:
    try:
        runs.check_run_name(run_name)
    except TextgenError as e:
        settings_col.error(str(e))
    else:
        with settings_col:
            start(spec, run_name, plan["options"])
if stop_clicked and watched:
    jobs.stop_training(watched["path"])
    st.toast("Stopping after the current step; the best model is kept.", icon=":material/stop:")

if watched:
    run_dir = Path(watched["path"])
    with progress_col:
        if watched_active:
            st.fragment(live_panel, run_every=1.0)(run_dir, True)
        else:
            live_panel(run_dir, False)
            final_summary(watched, runs.read_status(run_dir))
