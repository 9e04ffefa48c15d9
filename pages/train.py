"""Train: choose settings, start a job, and watch it learn live.

Training runs as a separate process (textgen.jobs); this page only starts it and
reads its run folder, so a refresh or a second browser tab finds the job again.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import (choice_key, chosen_corpus, corpus_title, forget, is_number, is_text, load_overview,
                           model_choices, range_problem, remember, run_label, run_through_app, say, show_error,
                           show_gpu_problem, show_workspace_problem, t)
from pages._train_checks import (base_advice, show_base_advice, show_estimates, show_held_out_check,
                                 warn_unknown)
from pages._train_progress import final_summary, live_panel
from pages._train_suggestions import apply_found_rate, learning_rate_finder, setting_key, suggestion_box
from textgen import config, corpus, jobs, runs, train_options
from textgen.device import describe_device, preset_device
from textgen.errors import TextgenError
from textgen.units import plain_number

run_through_app()

ARCH_NAMES = {"gru": "GRU", "lstm": "LSTM", "transformer": "Transformer"}
NO_BASE = "None (start from scratch)"  # the option's value; shown translated
RESTORED_KEY = "train_restored"  # the values "Back to ...'s values" replaced, for its undo


def preset_description(preset: str, device: str) -> str:
    """What ``preset`` is on ``device`` ("cpu" or "gpu": config.DEVICE_PRESETS)."""
    if device == "gpu" and preset in config.DEVICE_PRESETS["gpu"]:
        return {
            "balanced": t("A six-layer Transformer like GPT (nanoGPT's Shakespeare model): what a GPU does "
                          "best. Trains until the held-out loss stops improving, for at most ten minutes."),
            "quality": t("An eight-layer, wider Transformer that can learn more from a large text. Trains "
                         "until the held-out loss stops improving, for at most half an hour."),
        }[preset]
    return {
        "quick": t("A small model that writes something readable within about a minute. "
                   "Good for a first try."),
        "balanced": t("A two-layer model: the best quality for the time on an ordinary computer. "
                      "Trains until the held-out loss stops improving, for at most ten minutes."),
        "quality": t("A bigger model that can learn more but is several times slower. Trains until "
                     "the held-out loss stops improving, for at most half an hour; worth it on a GPU."),
    }[preset]


def preset_names() -> dict[str, str]:
    """The preset choice's values (English, as the app's contract names them) and labels."""
    return {"Quick": t("Quick"), "Balanced": t("Balanced"), "Quality": t("Quality")}


def tokenizer_names() -> dict[str, str]:
    return {"char": t("Character"), "word": t("Word"), "bpe": t("Subword")}


def number_setting(column, name: str, label: str, default, key_suffix: str, disabled=False, **extra):
    """A number_input whose help comes from config.RANGES. It takes any number:
    range_problems names one outside the range (_shared.range_problem says why)."""
    kind, low, high, help_text = config.RANGES[name]
    args = dict(step=1, value=None if default is None else int(default)) if kind is int else \
        dict(value=None if default is None else float(default))
    args.update(extra)
    key = remember(setting_key(name, key_suffix), fits=is_number(kind is int))
    return column.number_input(label, help=t(help_text[0].upper() + help_text[1:] + "."),
                               key=key, persist_state="session", disabled=disabled, **args)


def range_problems(values: dict) -> list[str]:
    """A sentence for each of the form's ``values`` outside its range (config.RANGES), named
    by its label."""
    labels = setting_labels()
    found = (range_problem(labels[name], value, low, high, kind is int)
             for name, value in values.items() if name in config.RANGES
             for kind, low, high, _ in [config.RANGES[name]])
    return [problem for problem in found if problem]


def preset_choice(device: str) -> tuple[str, object]:
    """The Preset radio, its description and the device its values suit (``device``: "cpu"
    or "gpu", as device.preset_device finds it): (the preset's name in lower case, a
    container under it for the settings changed from it)."""
    presets = preset_names()
    preset = st.radio(t("Preset"), list(presets), index=1, horizontal=True,
                      persist_state="session", key=choice_key(remember("train_preset", fits=presets.__contains__)),
                      format_func=presets.get,
                      help=t("A starting point for all settings; change any of them under Advanced settings."))
    preset = preset.lower()
    where = (t("Preset values chosen for this machine's GPU: {device}.", device=describe_device(t))
             if device == "gpu" else t("Preset values chosen for this machine's CPU: {device}.",
                                       device=describe_device(t)))
    st.caption(say(preset_description(preset, device), where))
    return preset, st.container()


def base_follows_corpus() -> bool:
    """Whether "Fine-tune from" still holds the route suggested for the corpus (the person
    has not chosen), so that it follows a change of corpus."""
    made = st.session_state.get("train_init_from_suggested") or {}
    return st.session_state.get("train_init_from") == made.get("choice")


def base_chosen() -> None:
    """The person picked a start, even the one suggested: it stays when the corpus changes."""
    st.session_state["train_init_from_suggested"] = {}


def suggest_base(bases: dict, advice: tuple[str, dict] | None) -> None:
    """Preselect the route the corpus suits (fine-tuning the shipped base model on a small
    text it knows, else from scratch) while the person has not chosen: a choice they left as
    it was follows a change of corpus, one they made stays."""
    if advice is None:
        return
    base, found = advice
    suggestion = base if found["route"] == "fine-tune" and base in bases else NO_BASE
    made = st.session_state.get("train_init_from_suggested") or {}
    if "train_init_from" not in st.session_state or (base_follows_corpus() and made.get("corpus") != found["corpus"]):
        st.session_state["train_init_from"] = suggestion
        st.session_state["train_init_from_suggested"] = {"choice": suggestion, "corpus": found["corpus"]}


def base_choice(advice: tuple[str, dict] | None) -> tuple[str | None, object]:
    """The "Fine-tune from" choice: (a model's folder, or None to start from scratch; a
    container under it for show_base_advice, drawn once the settings are known).
    ``advice``: (the shipped base model's folder, suggestions.base_advice for this corpus)."""
    bases = model_choices(finished_only=True)
    remember("train_init_from", fits=lambda path: path in (NO_BASE, *bases))  # the choice of an earlier visit
    remember("train_init_from_suggested", fits=lambda made: isinstance(made, dict))
    suggest_base(bases, advice)
    requested = st.session_state.pop("finetune_from", None)  # a run name, from the Runs page
    for path in bases:
        if requested and Path(path).name == requested:
            st.session_state["train_init_from"] = path
    if st.session_state.get("train_init_from") not in (NO_BASE, *bases):
        st.session_state["train_init_from"] = NO_BASE
    choice = st.selectbox(
        t("Fine-tune from"), [NO_BASE, *bases], persist_state="session", key=choice_key("train_init_from"),
        on_change=base_chosen,
        format_func={NO_BASE: t("None (start from scratch)"), **bases}.get,
        help=t("Start from a model already trained (for example the shipped base model, trained on "
               "a large general text) and adapt it to this corpus. It keeps that model's shape and vocabulary."))
    return None if choice == NO_BASE else choice, st.container()


def shape_choices(defaults: dict, suffix: str, init_from: str | None) -> tuple[str, str]:
    """The Architecture and Tokenizer choices (fixed by the base model of a fine-tune)."""
    arch_col, tok_col = st.columns(2)

    arch = arch_col.selectbox(t("Architecture"), list(ARCH_NAMES), format_func=ARCH_NAMES.get,
                              index=list(ARCH_NAMES).index(defaults["arch"]),
                              persist_state="session",
                              key=choice_key(remember(setting_key("arch", suffix), fits=ARCH_NAMES.__contains__)),
                              disabled=bool(init_from),
                              help=t("GRU is fast and good on a CPU; LSTM is similar but slower; "
                                     "Transformer (like GPT) shines on a GPU with more text."))
    tokenizers = tokenizer_names()
    tokenizer = tok_col.selectbox(t("Tokenizer"), list(tokenizers), format_func=tokenizers.get,
                                  index=list(tokenizers).index(defaults["tokenizer"]),
                                  persist_state="session",
                                  key=choice_key(remember(setting_key("tokenizer", suffix),
                                                          fits=tokenizers.__contains__)),
                                  disabled=bool(init_from),
                                  help=t("Character: the model writes letter by letter and can invent "
                                         "words. Word: it writes whole words it has seen; needs more text. "
                                         "Subword: frequent chunks of words learnt from your text "
                                         "(byte-pair encoding), so the model reads more text at once."))
    return arch, tokenizer


def setting_labels() -> dict[str, str]:
    """The form's settings and their labels, in the form's order."""
    return {"arch": t("Architecture"), "tokenizer": t("Tokenizer"), "layers": t("Layers"),
            "units": t("Units per layer"), "embedding_dim": t("Embedding size"),
            "seq_len": t("Sequence length"), "batch_size": t("Batch size"), "dropout": t("Dropout"),
            "learning_rate": t("Learning rate"), "epochs": t("Epochs"), "val_fraction": t("Held-out share"),
            "time_budget": t("Time budget (seconds)"), "seed": t("Seed"), "max_vocab": t("Vocabulary size"),
            "freeze_layers": t("Frozen layers")}


def number_suffix(name: str, suffix: str, tokenizer: str) -> str:
    """The key suffix of the setting ``name``'s widget: the vocabulary size has one per tokenizer."""
    return f"{suffix}_{tokenizer}" if name == "max_vocab" else suffix


def advanced_settings(defaults: dict, suffix: str, tokenizer: str, init_from: str | None) -> tuple[dict, dict]:
    """The number settings under Advanced settings: ({setting: value, None where left empty},
    {setting: the value its widget starts from})."""
    labels = setting_labels()
    starts = {name: defaults[name] for name in ("layers", "units", "embedding_dim", "seq_len", "batch_size",
                                                "dropout", "learning_rate", "epochs", "val_fraction",
                                                "time_budget", "seed")}
    if tokenizer != "char":  # each tokenizer has its own default size, hence its own key
        starts["max_vocab"] = defaults["max_vocab"] if init_from else config.VOCAB_DEFAULTS[tokenizer]
    if init_from:
        starts["freeze_layers"] = 0
    with st.expander(t("Advanced settings")):
        c1, c2 = st.columns(2)
        shape_locked = bool(init_from)

        def number(column, name, disabled=False, **extra):
            return number_setting(column, name, labels[name], starts[name], number_suffix(name, suffix, tokenizer),
                                  disabled, **extra)

        values = {
            "layers": number(c1, "layers", shape_locked),
            "units": number(c2, "units", shape_locked),
            "embedding_dim": number(c1, "embedding_dim", shape_locked),
            "seq_len": number(c2, "seq_len"),
            "batch_size": number(c1, "batch_size"),
            "dropout": number(c2, "dropout", step=0.05),
            "learning_rate": number(c1, "learning_rate", step=1e-4, format="%.5f"),
            "epochs": number(c2, "epochs"),
            "val_fraction": number(c1, "val_fraction", step=0.01),
            "time_budget": number(c2, "time_budget", step=10.0, format="%.0f", placeholder=t("no limit")),
            "seed": number(c1, "seed", placeholder=t("random")),
        }
        if "max_vocab" in starts:
            values["max_vocab"] = number(c2, "max_vocab", shape_locked)
        if init_from:
            values["freeze_layers"] = number(c2, "freeze_layers")
    return values, starts


def setting_in_words(name: str, value) -> str:
    """A setting's value as the changes line shows it."""
    if value is None:
        return t("no limit") if name == "time_budget" else t("random")
    if name == "arch":
        return ARCH_NAMES[value]
    if name == "tokenizer":
        return tokenizer_names()[value]
    return plain_number(value)


def set_widgets(settings: dict) -> None:
    """A button's on_click: put ``settings`` ({widget key: value}) into the form's widgets
    before they are drawn again."""
    for key, value in settings.items():
        st.session_state[key] = value


def show_changes(slot, preset: str, init_from: str | None, changed: dict, suffix: str, tokenizer: str) -> None:
    """Under the preset: which settings differ from the preset's (or, for a fine-tune, the
    values the form started from), with a button that puts them back, and an undo for it."""
    origin = preset_names()[preset.title()]
    undo = st.session_state.get(RESTORED_KEY)
    with slot:
        if not changed:
            if undo and undo["suffix"] == suffix:
                with st.container(horizontal=True, vertical_alignment="center"):
                    st.caption(t("Back to {origin}'s values.", origin=origin) if not init_from
                               else t("Back to the fine-tune's starting values."))
                    st.button(t("Undo"), key="train_restore_undo", icon=":material/undo:", type="tertiary",
                              on_click=set_widgets, args=(undo["values"],))
            return
        st.session_state.pop(RESTORED_KEY, None)  # the undo is for the restore just made
        labels = setting_labels()
        changes = " · ".join(t("{label} {value} (was {default})", label=labels[name],
                              value=setting_in_words(name, value), default=setting_in_words(name, default))
                            for name, (value, default) in changed.items())
        keys = {name: setting_key(name, number_suffix(name, suffix, tokenizer)) for name in changed}
        with st.container(horizontal=True, vertical_alignment="center"):
            st.caption((t("**Changed from {origin}:** {changes}.", origin=origin, changes=changes) if not init_from
                        else t("**Changed from the fine-tune's starting values:** {changes}.", changes=changes)))
            st.button(t("Back to {origin}'s values", origin=origin) if not init_from
                      else t("Back to the starting values"), key="train_restore", icon=":material/restart_alt:",
                      type="tertiary", on_click=restore, args=(keys, changed, suffix))


def restore(keys: dict, changed: dict, suffix: str) -> None:
    """Put the starting values back into the changed settings' widgets, keeping what they
    held for an undo."""
    st.session_state[RESTORED_KEY] = {"suffix": suffix,
                                      "values": {keys[name]: value for name, (value, _) in changed.items()}}
    set_widgets({keys[name]: default if default is None or name not in config.RANGES
                 else config.RANGES[name][0](default) for name, (_, default) in changed.items()})


def show_window_warmup(resolved: dict) -> None:
    """Says how the windows grow in a run with a sequence-length warm-up (config.short_window)."""
    short, long = config.windows_a_step(resolved, False), config.windows_a_step(resolved, True)
    if short != long:
        st.caption(t("Windows of {short} tokens, {count} a step (the batch size), until the last tenth of "
                     "the run; then windows of {seq_len}, {long_count} a step, so each step still reads "
                     "{tokens:,} tokens. Short windows give more steps a second; the long ones teach the "
                     "model the longer context it is scored with.",
                     short=short[1], count=short[0], seq_len=long[1], long_count=long[0],
                     tokens=config.tokens_per_step(resolved)))


def checked_options(preset: str, values: dict, init_from: str | None, device: str) -> tuple[dict | None, dict | None]:
    """train_options.run_options of the form's ``values``; (None, None), with the sentence
    shown, for a value out of its range or settings that do not go together."""
    problems = range_problems(values)
    if problems:
        # The estimates of size and time wait for settings they can be made of.
        st.error(say(*problems, t("Change it under Advanced settings to see the model's size and time and to "
                                  "start training.") if len(problems) == 1
                     else t("Change them under Advanced settings to see the model's size and time and to "
                            "start training.")),
                 icon=":material/error:")
        return None, None
    try:
        return train_options.run_options(preset, values, init_from, device)
    except TextgenError as e:
        show_error(e)
        return None, None


def settings_form(overview: dict | None) -> dict | None:
    """Every setting as widgets; returns what is needed to start, or None if invalid."""
    device = preset_device()
    preset, changes_slot = preset_choice(device)
    advice = base_advice(overview)
    init_from, advice_slot = base_choice(advice)
    try:
        defaults = train_options.form_defaults(preset, init_from, device)
    except TextgenError as e:
        show_error(e)
        init_from, defaults = None, train_options.form_defaults(preset, device=device)
    # New defaults per preset, device and base, so each keeps its own values.
    suffix = f"{preset}_{'gpu_' if device == 'gpu' else ''}{Path(init_from).name if init_from else ''}"
    arch, tokenizer = shape_choices(defaults, suffix, init_from)
    if not init_from:  # a fine-tune keeps its base model's shape
        suggestion_box(overview, device, tokenizer, suffix)
    apply_found_rate()
    numbers, starts = advanced_settings(defaults, suffix, tokenizer, init_from)
    values = dict(numbers, arch=arch, tokenizer=tokenizer)
    show_changes(changes_slot, preset, init_from,
                 train_options.changed_settings(values, dict(starts, arch=defaults["arch"],
                                                             tokenizer=defaults["tokenizer"])),
                 suffix, tokenizer)
    # What the Corpus page judges a text by: these settings, or, where the base choice follows
    # the corpus and a new text takes the other route, that route's form values.
    st.session_state[remember("train_settings")] = {
        "preset": preset, "seq_len": values["seq_len"], "val_fraction": values["val_fraction"],
        "init_from": init_from, "follows_corpus": base_follows_corpus()}
    resolved, options = checked_options(preset, values, init_from, device)
    too_small = bool(resolved and overview) and corpus.length_problem(overview["stats"]["chars"], resolved) is not None
    with advice_slot:  # said once the windows are known: a text too small for them gets only the error
        show_base_advice(advice, init_from, fits=not too_small)
    if resolved is None:
        return None
    show_window_warmup(resolved)
    learning_rate_finder(resolved, init_from, suffix)
    if not show_estimates(resolved, overview, init_from):
        return None  # too small a text or too big for this machine: Start training stays off
    show_held_out_check(overview, resolved["val_fraction"])
    return {"options": options, "resolved": resolved, "init_from": init_from}


def suggest_run_name(plan: dict | None, corpus_name: str) -> None:
    """A fresh run name from the architecture and corpus; a suggested name the user left
    as it was follows a change of either, so it never names what the run is not."""
    remember("train_run_name", fits=lambda name: is_text(name) and not runs.run_path(name).exists())
    remember("train_run_name_suggested", fits=lambda made: isinstance(made, dict))
    if plan is None and "train_run_name" in st.session_state:
        return  # settings being mended: the name waits for them rather than naming no architecture
    prefix = train_options.run_name_prefix(plan["resolved"]["arch"] if plan else "run", corpus_name)
    suggested = st.session_state.get("train_run_name_suggested") or {}
    untouched = st.session_state.get("train_run_name") == suggested.get("name")
    if "train_run_name" not in st.session_state or (untouched and suggested.get("prefix") != prefix):
        name = runs.new_run_name(prefix)
        st.session_state["train_run_name"] = name
        st.session_state["train_run_name_suggested"] = {"name": name, "prefix": prefix}


def start(spec: list[str], name: str, options: dict) -> None:
    try:
        jobs.start_training(spec, runs.run_path(name), options)
    except TextgenError as e:
        show_error(e)
        return
    st.session_state["selected_run"] = name
    forget(train_run_name=None, train_run_title="")  # a fresh name next time, and no title
    st.session_state["train_scroll_up"] = True
    st.rerun()


def scroll_to_top() -> None:
    """Bring the top of the page, where the live chart is, back into view: Start training
    sits at the foot of a long form, and on a projector the chart would be off screen."""
    st.iframe("<script>window.parent.document.querySelector('[data-testid=\"stMain\"]')"
              ".scrollTo({top: 0, behavior: 'smooth'});</script>", height=1)


# --- the page ---------------------------------------------------------------------


def new_run_section() -> tuple[list[str], dict | None, str]:
    """The New run column: the corpus, the settings, the run name and its title; returns
    (the corpus spec, the plan of settings_form with the title among its options or None,
    the run name as typed)."""
    st.subheader(t("New run"))
    spec, corpus_name = chosen_corpus()
    with st.container(horizontal=True, vertical_alignment="center"):  # the link wraps under a long name
        st.markdown(t("**Corpus:** {name}", name=corpus_title()), width="content")
        st.page_link("pages/corpus.py", label=t("Change corpus"), icon=":material/description:", width="content")
    overview = load_overview(spec)
    plan = settings_form(overview)
    warn_unknown(spec, overview, plan)
    suggest_run_name(plan, corpus_name)
    name_col, title_col = st.columns(2)
    run_name = name_col.text_input(t("Run name"), key="train_run_name", persist_state="session",
                                   help=t("A folder name for this run: letters (of any language), digits, "
                                          "dots, dashes, underscores."))
    title = title_col.text_input(t("Title"), key=remember("train_run_title", fits=is_text), persist_state="session",
                                 placeholder=t("optional"),
                                 max_chars=runs.MAX_TITLE_CHARS,
                                 help=t("What people read in lists and in the report, in any words. "
                                        "The run keeps its folder name."))
    return spec, with_title(plan, title), run_name


def with_title(plan: dict | None, title: str) -> dict | None:
    """The plan with the typed title among the job's options; None (Start training off)
    when the title is refused."""
    try:
        title = runs.check_title(title)
    except TextgenError as e:
        show_error(e)
        return None
    if plan is None or not title:
        return plan
    return dict(plan, options=dict(plan["options"], title=title))


def watch_choice() -> tuple[dict | None, dict[str, str]]:
    """The Progress column's "Run to watch": (the chosen run's summary or None, {name: label})."""
    st.subheader(t("Progress"))
    all_runs = runs.list_runs()
    names = [r["name"] for r in all_runs]
    if not names:
        st.info(t("No training yet. Choose a preset and press **{start}**; "
                  "the live chart appears here.", start=t("Start training")), icon=":material/model_training:")
        return None, {}
    requested = st.session_state.pop("selected_run", None)
    if requested in names:
        st.session_state["train_watch"] = requested
    elif st.session_state.get("train_watch") not in names:
        active = [r["name"] for r in all_runs if r["state"] in runs.ACTIVE_STATES]
        st.session_state["train_watch"] = (active or names)[0]
    by_name = {r["name"]: r for r in all_runs}
    labels = {n: run_label(r) for n, r in by_name.items()}
    return by_name[st.selectbox(t("Run to watch"), names, persist_state="session", key=choice_key("train_watch"),
                                format_func=labels.get)], labels


def train_page() -> None:
    st.title(t("Train"))
    if st.session_state.pop("train_scroll_up", False):
        scroll_to_top()
    show_gpu_problem()
    workspace_broken = show_workspace_problem()
    settings_col, progress_col = st.columns([5, 7], gap="large")
    with settings_col:
        spec, plan, run_name = new_run_section()
        buttons = st.container(horizontal=True)
    with progress_col:
        watched, labels = watch_choice()

    watched_active = bool(watched) and watched["state"] in runs.ACTIVE_STATES
    with buttons:
        start_clicked = st.button(t("Start training"), type="primary", icon=":material/play_arrow:",
                                  disabled=plan is None or workspace_broken, key="train_start")
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


train_page()
