"""Generate: let a trained model continue a prompt.

The only page that loads TensorFlow, and only once a model is used; loaded
models are cached for every session of this server.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import streamlit as st

from pages._models import show_copying, use_model, web_page_button
from pages._shared import (choice_key, in_range, is_number, is_text, model_choices, range_problem, remember,
                           run_through_app, say, show_error, t)
from textgen import explore, files, memorisation, metrics, runs, unknowns
from textgen.errors import TextgenError
from textgen.sampling_settings import STARTING_TEMPERATURE, SamplingSettings

run_through_app()

COMPARE_TEMPERATURES = (0.2, 0.7, 1.0, 1.3)
STREAM_REFRESH_S = 0.05  # redraw the growing text at most 20 times a second
BEFORE_AFTER = ("Base model", "Fine-tuned")  # keys of the comparison; shown translated
BOXES = {"length": (1, 5000), "seed": (0, 2**31 - 1), "num_samples": (1, 10)}  # the number boxes' ranges
UNITS = {"char": "character", "word": "word", "bpe": "subword piece"}  # what one token is


def unit_of(path: str | None) -> str:
    config = files.read_json(Path(path) / "config.json", {}) if path else {}
    return UNITS.get((config or {}).get("tokenizer"), "character")


def explore_step(path: str, how: str, temperature: float, top_k, top_p) -> None:
    """Button callback: add one token, sampled or the likeliest, to the explorer's text."""
    text = st.session_state.get("explore_text") or ""
    try:
        rows = explore.next_token_distribution(use_model(path), text, temperature, top_k, top_p, top=None)
    except Exception as e:  # noqa: BLE001 - shown as a sentence in the section
        st.session_state["explore_error"] = e
        return
    token = explore.sample_token(rows) if how == "sample" else explore.likeliest_token(rows)
    st.session_state["explore_text"] = text + token
    st.session_state["explore_on"] = True


def explore_use_prompt() -> None:
    st.session_state["explore_text"] = st.session_state.get("generate_prompt") or ""
    st.session_state["explore_on"] = True


def report(error: Exception) -> None:
    if isinstance(error, TextgenError):
        show_error(error)
    else:  # an unexpected failure: a sentence, not a traceback
        st.error(t("Something went wrong while generating ({kind}: {error}). "
                   "Try another model or setting.", kind=type(error).__name__, error=error))


def model_chosen() -> None:
    """The person picked a model, even the newest: it stays when a newer run finishes."""
    st.session_state["generate_model_suggested"] = None


def model_choice() -> tuple[dict[str, str], str | None, bool]:
    """The Model choice; (every usable model's {path: label}, the chosen path, whether there is none)."""
    choices = model_choices()
    no_model = not choices
    if no_model:
        # The controls stay visible (disabled) so people see what awaits them.
        st.info(t("There is no trained model yet. Train one first: the Quick preset gives a first "
                  "model in about a minute."), icon=":material/model_training:")
        st.page_link("pages/train.py", label=t("Go to Train"), icon=":material/arrow_forward:")

    paths = list(choices)
    remember("generate_model", fits=paths.__contains__)  # the model of an earlier visit, if it is still there
    remember("generate_model_suggested", fits=is_text)
    # The newest model (this user's latest run, else a shipped one) while the person has not
    # chosen another: a choice left as it was follows a newly trained run, one they made stays.
    untouched = st.session_state.get("generate_model") == st.session_state.get("generate_model_suggested")
    if paths and (untouched or st.session_state.get("generate_model") not in paths):
        st.session_state["generate_model"] = st.session_state["generate_model_suggested"] = paths[0]
    requested = st.session_state.pop("generate_run", None)
    for path in paths:
        if requested and Path(path).name == requested:
            st.session_state["generate_model"] = path
    model_path = st.selectbox(t("Model"), paths, format_func=choices.get, on_change=model_chosen,
                              persist_state="session", key=choice_key("generate_model"),
                              disabled=no_model, placeholder=t("No trained model yet"))
    return choices, model_path, no_model


def sampling_controls(model_path: str | None, no_model: bool) -> tuple[str, dict, int, bool]:
    """The prompt and the sampling settings; (the prompt, Run.generate's settings, number of
    samples, whether the number boxes hold numbers in their ranges: if not, the sentence is
    shown and the settings hold stand-ins that nothing may write with)."""
    prompt = st.text_area(t("Prompt"), persist_state="session", key=remember("generate_prompt", fits=is_text),
                          disabled=no_model,
                          placeholder=t("The beginning of the text; leave empty to let the model start."),
                          help=t("The model continues this text. It only knows characters (or words) it saw "
                                 "while training."))
    c1, c2, c3 = st.columns(3)
    temperature = c1.slider(t("Temperature"), 0.0, 2.0, STARTING_TEMPERATURE, 0.05, disabled=no_model,
                            persist_state="session", key=remember("generate_temperature", fits=in_range(0.0, 2.0)),
                            help=t("How adventurous the choices are: 0 = always the likeliest, "
                                   "1 = as learnt, above 1 = wilder."))
    top_k = c2.slider(t("Top-k"), 0, 100, 0, disabled=no_model,
                      persist_state="session", key=remember("generate_top_k", fits=in_range(0, 100, whole=True)),
                      help=t("Choose only among the k likeliest next {unit}s; 0 = off.",
                             unit=t(unit_of(model_path))))
    top_p = c3.slider(t("Top-p"), 0.0, 1.0, 1.0, 0.05, disabled=no_model,
                      persist_state="session", key=remember("generate_top_p", fits=in_range(0.0, 1.0)),
                      help=t("Choose only among the likeliest next {unit}s that together make up this "
                             "share of the chance; 1.0 = off.", unit=t(unit_of(model_path))))
    c4, c5, c6 = st.columns(3)
    # Unbounded boxes (_shared.range_problem says why); the ranges are checked below.
    length = c4.number_input(t("Length"), value=300, step=1, disabled=no_model, persist_state="session",
                             key=remember("generate_length", fits=is_number(whole=True)),
                             help=t("How many {unit}s to write after the prompt.", unit=t(unit_of(model_path))))
    seed = c5.number_input(t("Seed"), value=None, step=1, placeholder=t("random"), disabled=no_model,
                           persist_state="session",
                           key=remember("generate_seed", fits=is_number(whole=True)),
                           help=t("The same seed, prompt and settings give the same text again."))
    num_samples = c6.number_input(t("Number of samples"), value=1, step=1, disabled=no_model,
                                  persist_state="session",
                                  key=remember("generate_num_samples", fits=is_number(whole=True)),
                                  help=t("How many different continuations to write."))
    problems = [problem for label, value, name in ((t("Length"), length, "length"), (t("Seed"), seed, "seed"),
                                                   (t("Number of samples"), num_samples, "num_samples"))
                if (problem := range_problem(label, value, *BOXES[name], whole=True))]
    if problems:  # the explorer still reads the sliders; what writes with these numbers waits
        st.error(say(*problems), icon=":material/error:")
        length, seed, num_samples = 1, None, 1
    settings = SamplingSettings(float(temperature), int(top_k), float(top_p), int(length),
                                None if seed is None else int(seed)).run_arguments()
    return prompt, settings, num_samples, not problems


def generate_section(choices: dict[str, str], model_path: str | None, no_model: bool, prompt: str,
                     settings: dict, num_samples: int, writable: bool = True):
    """The Generate button: writes the samples, streaming a single one as it grows; returns
    the container the results are shown in."""
    with st.container(horizontal=True):
        generate_clicked = st.button(t("Generate"), type="primary", icon=":material/edit_note:",
                                     disabled=no_model or not writable,
                                     key="generate_button")
        web_page_button(model_path, "generate_download_page", disabled=no_model)
    results = st.container()
    if generate_clicked:
        if settings["seed"] is None:  # drawn here, so that the text's label names the seed that writes it again
            settings = dict(settings, seed=random.randrange(2**31))
        placeholder = results.empty()
        status = runs.read_status(model_path)  # before loading: the run may finish while its model writes
        try:
            run = use_model(model_path)
            if num_samples == 1:
                pieces, last_draw = [], 0.0
                for piece in run.stream(prompt=prompt, **settings):
                    pieces.append(piece)
                    if time.monotonic() - last_draw > STREAM_REFRESH_S:
                        placeholder.code(explore.text_tail(prompt) + "".join(pieces), language=None,
                                         wrap_lines=True)
                        last_draw = time.monotonic()
                texts = ["".join(pieces)]
            else:
                texts = run.samples(prompt=prompt, num_samples=int(num_samples), **settings)
        except Exception as e:  # noqa: BLE001 - shown as a sentence
            placeholder.empty()
            st.session_state.pop("generated", None)  # no earlier text (or its download) above the error
            report(e)
        else:
            placeholder.empty()
            st.session_state["generated"] = {
                "prompt": prompt, "texts": list(texts), "model": choices[model_path], "path": model_path,
                "copying": {}, "unknown": run.unknown_in(prompt),
                "settings": dict(settings),  # labels the texts in a report
                # A run still training wrote with its best model so far: the label may later say "completed".
                "while_training": (status.get("best_step") or status.get("step") or 0)
                if status.get("state") in runs.ACTIVE_STATES else None}
    return results


def show_generated(results, choices: dict[str, str], model_path: str | None) -> None:
    """The texts generated last, each with its memorisation meter, and their download; only
    while the model that wrote them is the one chosen."""
    generated = st.session_state.get("generated")
    if not generated or generated.get("path") != model_path:
        return
    with results:
        full_texts = [generated["prompt"] + text for text in generated["texts"]]
        unknown_warning = unknowns.unknown_prompt_warning(generated.get("unknown") or [], t)
        if unknown_warning:
            st.warning(unknown_warning, icon=":material/help:")
        shown_prompt = explore.text_tail(generated["prompt"])  # a long prompt would bury what was written
        seed = (generated.get("settings") or {}).get("seed")
        step = generated.get("while_training")
        model = choices.get(generated.get("path"), generated["model"])
        st.caption(say(t("From {model}; the prompt is included at the start.", model=model) if generated["prompt"]
                       else t("From {model}.", model=model),
                       t("Use the copy icon at the top right of a text to copy it."),
                       t("Written while the run was still training, by its best model so far (step {step:,}).",
                         step=step) if step is not None else "",
                       t("Seed {seed}.", seed=seed) if seed is not None else "",
                       t("Only the prompt's last {count:,} characters are shown; the download holds it all.",
                         count=len(shown_prompt) - 1) if shown_prompt != generated["prompt"] else ""))
        for i, text in enumerate(generated["texts"]):
            if len(full_texts) > 1:
                st.markdown("**" + t("Sample {number}", number=i + 1) + "**")
            st.code(shown_prompt + text, language=None, wrap_lines=True)
            if generated.get("path"):
                show_copying(generated.setdefault("copying", {}), i, generated["path"], generated["texts"][i])
        st.download_button(t("Download text"), "\n\n----\n\n".join(full_texts), file_name="generated.txt",
                           mime="text/plain", icon=":material/download:", on_click="ignore",
                           key="generate_download")


def explore_section(model_path: str | None, settings: dict, no_model: bool) -> None:
    """Explore the next token: the chances the model gives each, and one token at a time."""
    st.divider()
    explore_unit = unit_of(model_path)
    unit = t(explore_unit)
    st.subheader(t("Explore the next {unit}", unit=unit))
    st.write(t("The chance the model gives each possible next {unit} after the text below, and "
               "which {unit}s the Temperature, Top-k and Top-p settings above cut away: grey bars "
               "are never chosen. Add one {unit} at a time to watch how the model writes.", unit=unit))
    st.session_state.setdefault("explore_text", "")
    st.text_area(t("Text so far"), key="explore_text", disabled=no_model, height=100,
                 placeholder=t("The text the model continues; leave empty to see how it starts."))
    step_args = (settings["temperature"], settings["top_k"], settings["top_p"])
    with st.container(horizontal=True):
        show_chances = st.button(t("Show the chances"), icon=":material/bar_chart:", disabled=no_model,
                                 key="explore_show")
        st.button(t("Sample one"), icon=":material/casino:", disabled=no_model, on_click=explore_step,
                  args=(model_path, "sample", *step_args), key="explore_sample",
                  help=t("Draw the next {unit} at random, with the chances after the cut.", unit=unit))
        st.button(t("Take the likeliest"), icon=":material/trending_up:", disabled=no_model, on_click=explore_step,
                  args=(model_path, "likeliest", *step_args), key="explore_likeliest",
                  help=t("Add the most likely next {unit}.", unit=unit))
        st.button(t("Start from the prompt"), icon=":material/restart_alt:", disabled=no_model,
                  on_click=explore_use_prompt, key="explore_from_prompt",
                  help=t("Replace the text with the prompt above."))
    if show_chances:
        st.session_state["explore_on"] = True
    explore_error = st.session_state.pop("explore_error", None)
    if explore_error is not None:
        report(explore_error)
    elif st.session_state.get("explore_on") and not no_model:
        try:
            rows = explore.next_token_distribution(use_model(model_path), st.session_state["explore_text"],
                                                   *step_args, top=None)
        except Exception as e:  # noqa: BLE001 - shown as a sentence
            report(e)
        else:
            show_chances_after(st.session_state["explore_text"], rows, explore_unit)


def show_chances_after(text: str, rows: list[dict], explore_unit: str) -> None:
    """The end of the text the model continues (a long text box shows its start), the bars
    of the likeliest next tokens, and a caption whose numbers are those of the bars."""
    unit = t(explore_unit)
    if text:
        st.caption(t("The chances of the next {unit} after the end of the text:", unit=unit))
        st.code(explore.shown_end(text), language=None, wrap_lines=True)
    else:
        st.caption(t("The chances of the first {unit} of a text:", unit=unit))
    st.plotly_chart(explore.distribution_figure(rows[:explore.TOP], explore_unit, t), key="explore_chart")
    said = explore.summary(rows)
    st.caption(t("The settings keep {kept:,} of the {total:,} possible next {unit}s. The likeliest, {token}, "
                 "has a chance of {before:.1%} before the cut and {after:.1%} after it "
                 "({learnt:.1%} as the model learnt it, at temperature 1).",
                 unit=unit, token=memorisation.code_span(explore.token_label(said["token"])),
                 **{k: said[k] for k in ("kept", "total", "before", "after", "learnt")}))


def compare_section(model_path: str | None, prompt: str, settings: dict, no_model: bool) -> None:
    """The same prompt and seed at four temperatures, side by side."""
    st.divider()
    st.subheader(t("Compare temperatures"))
    st.write(t("The same prompt and seed at four temperatures, side by side: low is safe and "
               "repetitive, high is surprising and error-prone."))
    if st.button(t("Compare temperatures"), icon=":material/compare:", disabled=no_model, key="compare_button"):
        compare_seed = settings["seed"] if settings["seed"] is not None else random.randrange(2**31)
        try:
            run = use_model(model_path)
            texts = {temp: run.generate(prompt=prompt, **dict(settings, temperature=temp, seed=compare_seed))
                     for temp in COMPARE_TEMPERATURES}
        except Exception as e:  # noqa: BLE001 - shown as a sentence
            st.session_state.pop("comparison", None)
            report(e)
        else:
            st.session_state["comparison"] = {"prompt": prompt, "texts": texts, "seed": compare_seed,
                                              "path": model_path, "copying": {}}
    comparison = st.session_state.get("comparison")
    if comparison and comparison.get("path") == model_path:  # written by the model chosen now
        st.caption(t("Seed {seed}.", seed=comparison["seed"]))
        for column, (temp, text) in zip(st.columns(len(comparison["texts"])), comparison["texts"].items()):
            column.markdown("**" + t("Temperature {value}", value=temp) + "**")
            column.code(comparison["prompt"] + text, language=None, wrap_lines=True)
            if comparison.get("path"):
                show_copying(comparison.setdefault("copying", {}), temp, comparison["path"], text, column)


def before_after_section(model_path: str | None, prompt: str, settings: dict, writable: bool = True) -> None:
    """For a fine-tuned model: the same prompt and seed from its base model and from it."""
    base = metrics.base_run(model_path) if model_path else None
    base_path = str(base) if base else None
    if not (base_path and (Path(base_path) / "model.keras").exists()):
        return
    st.divider()
    st.subheader(t("Before and after fine-tuning"))
    st.write(t("This model was fine-tuned from **{base}**. The same prompt and seed, "
               "sampled from the base model and from the fine-tuned one.", base=Path(base_path).name))
    if st.button(t("Compare with the base model"), icon=":material/difference:", key="before_after_button",
                 disabled=not writable):
        compare_seed = settings["seed"] if settings["seed"] is not None else random.randrange(2**31)
        pair = {}
        for label, path in zip(BEFORE_AFTER, (base_path, model_path)):
            try:
                pair[label] = use_model(path).generate(prompt=prompt, **dict(settings, seed=compare_seed))
            except Exception as e:  # noqa: BLE001 - shown as a sentence in its column
                pair[label] = e
        st.session_state["before_after"] = {"prompt": prompt, "texts": pair, "seed": compare_seed,
                                            "paths": dict(zip(BEFORE_AFTER, (base_path, model_path))),
                                            "copying": {}}
    before_after = st.session_state.get("before_after")
    if before_after and (before_after.get("paths") or {}).get("Fine-tuned") == model_path:
        st.caption(t("Seed {seed}.", seed=before_after["seed"]))
        headings = {"Base model": t("Base model"), "Fine-tuned": t("Fine-tuned")}
        for column, (label, text) in zip(st.columns(2), before_after["texts"].items()):
            column.markdown(f"**{headings.get(label, label)}**")
            with column:
                if isinstance(text, Exception):
                    report(text)
                else:
                    st.code(before_after["prompt"] + text, language=None, wrap_lines=True)
                    if before_after.get("paths"):
                        show_copying(before_after.setdefault("copying", {}), label,
                                     before_after["paths"][label], text)


def generate_page() -> None:
    st.title(t("Generate"))
    choices, model_path, no_model = model_choice()
    prompt, settings, num_samples, writable = sampling_controls(model_path, no_model)
    results = generate_section(choices, model_path, no_model, prompt, settings, num_samples, writable)
    show_generated(results, choices, model_path)
    explore_section(model_path, settings, no_model)
    compare_section(model_path, prompt, settings, no_model or not writable)
    before_after_section(model_path, prompt, settings, writable)


generate_page()
