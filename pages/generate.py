"""Generate: let a trained model continue a prompt.

The only page that loads TensorFlow, and only once a model is used; loaded
models are cached for every session of this server.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import streamlit as st

from pages._shared import model_choices
from textgen import explore, memorisation, runs
from textgen.errors import TextgenError

COMPARE_TEMPERATURES = (0.2, 0.7, 1.0, 1.3)
STREAM_REFRESH_S = 0.05  # redraw the growing text at most 20 times a second


@st.cache_resource(show_spinner="Loading the model (the first time takes a few seconds)...", max_entries=4)
def load_model(path: str, stamp: float):
    """A loaded run; `stamp` (the model file's time) reloads it after more training."""
    import textgen  # TensorFlow loads here, and only here

    return textgen.load_run(path)


def use_model(path: str):
    stamp = (Path(path) / "model.keras").stat().st_mtime
    return load_model(path, stamp)


@st.cache_resource(show_spinner="Indexing the training text to check for copying...", max_entries=2)
def training_index(path: str, stamp: float):
    """The n-gram index of a run's training text, built once per run for every session."""
    return memorisation.index_for_run(path)


def copying(path: str, text: str) -> dict | str:
    """How much of ``text`` the run copied from its training text, or why that is unknown."""
    try:
        stamp = (Path(path) / "config.json").stat().st_mtime
        return training_index(path, stamp).check(text)
    except TextgenError as e:
        return str(e)
    except OSError:
        return "The training text of this model could not be read, so copying cannot be checked."


def show_copying(results: dict, key, path: str, text: str, where=st) -> None:
    """The memorisation meter under one sample; ``results`` keeps it across reruns."""
    if key not in results:
        results[key] = copying(path, text)
    result = results[key]
    if isinstance(result, str):
        where.caption(result)
        return
    where.caption(memorisation.summary(result) + memorisation.passage_markdown(result),
                  help="A model that copies long passages has memorised its training text "
                       "instead of learning to write like it. The prompt is not counted.")


def unit_of(path: str | None) -> str:
    config = runs.read_json(Path(path) / "config.json", {}) if path else {}
    return "word" if (config or {}).get("tokenizer") == "word" else "character"


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
        st.error(str(error))
    else:  # an unexpected failure: a sentence, not a traceback
        st.error(f"Something went wrong while generating ({type(error).__name__}: {error}). "
                 "Try another model or setting.")


st.title("Generate")

choices = model_choices()
no_model = not choices
if no_model:
    # The controls stay visible (disabled) so people see what awaits them.
    st.info("There is no trained model yet. Train one first: the Quick preset gives a first "
            "model in about a minute.", icon=":material/model_training:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/arrow_forward:")

paths = list(choices)
requested = st.session_state.pop("generate_run", None)
for path in paths:
    if requested and Path(path).name == requested:
        st.session_state["generate_model"] = path
if paths and st.session_state.get("generate_model") not in paths:
    st.session_state["generate_model"] = paths[0]
model_path = st.selectbox("Model", paths, format_func=choices.get, key="generate_model",
                          disabled=no_model, placeholder="No trained model yet")

prompt = st.text_area("Prompt", key="generate_prompt", disabled=no_model, placeholder="The beginning of the text; leave empty to let the model start.",
                      help="The model continues this text. It only knows characters (or words) it saw while training.")
c1, c2, c3 = st.columns(3)
temperature = c1.slider("Temperature", 0.0, 2.0, 0.8, 0.05, disabled=no_model,
                        help="How adventurous the choices are: 0 = always the likeliest, "
                             "1 = as learnt, above 1 = wilder.")
top_k = c2.slider("Top-k", 0, 100, 0, disabled=no_model,
                  help="Choose only among the k likeliest next characters; 0 = off.")
top_p = c3.slider("Top-p", 0.0, 1.0, 1.0, 0.05, disabled=no_model,
                  help="Choose only among the likeliest characters that together make up this "
                       "share of the chance; 1.0 = off.")
c4, c5, c6 = st.columns(3)
length = c4.number_input("Length", 1, 5000, 300, disabled=no_model, help="How many characters (or words) to write.")
seed = c5.number_input("Seed", 0, 2**31 - 1, None, placeholder="random", disabled=no_model,
                       help="The same seed, prompt and settings give the same text again.")
num_samples = c6.number_input("Number of samples", 1, 10, 1, disabled=no_model, help="How many different continuations to write.")
settings = dict(length=int(length), temperature=float(temperature), top_k=int(top_k) or None,
                top_p=float(top_p) if top_p < 1.0 else None, seed=None if seed is None else int(seed))

generate_clicked = st.button("Generate", type="primary", icon=":material/edit_note:", disabled=no_model)
results = st.container()
if generate_clicked:
    placeholder = results.empty()
    try:
        run = use_model(model_path)
        if num_samples == 1:
            pieces, last_draw = [], 0.0
            for piece in run.stream(prompt=prompt, **settings):
                pieces.append(piece)
                if time.monotonic() - last_draw > STREAM_REFRESH_S:
                    placeholder.code(prompt + "".join(pieces), language=None, wrap_lines=True)
                    last_draw = time.monotonic()
            texts = ["".join(pieces)]
        else:
            texts = run.samples(prompt=prompt, num_samples=int(num_samples), **settings)
    except Exception as e:  # noqa: BLE001 - shown as a sentence
        placeholder.empty()
        report(e)
    else:
        placeholder.empty()
        st.session_state["generated"] = {"prompt": prompt, "texts": list(texts), "model": choices[model_path],
                                         "path": model_path, "copying": {}}

generated = st.session_state.get("generated")
if generated:
    with results:
        full_texts = [generated["prompt"] + text for text in generated["texts"]]
        st.caption(f"From {generated['model']}; the prompt is included at the start. "
                   "Use the copy icon at the top right of a text to copy it.")
        for i, text in enumerate(full_texts):
            if len(full_texts) > 1:
                st.markdown(f"**Sample {i + 1}**")
            st.code(text, language=None, wrap_lines=True)
            if generated.get("path"):
                show_copying(generated.setdefault("copying", {}), i, generated["path"], generated["texts"][i])
        st.download_button("Download text", "\n\n----\n\n".join(full_texts), file_name="generated.txt",
                           mime="text/plain", icon=":material/download:", on_click="ignore")

st.divider()
st.subheader("Explore the next character")
explore_unit = unit_of(model_path)
st.write(f"The chance the model gives each possible next {explore_unit} after the text below, and "
         f"which {explore_unit}s the Temperature, Top-k and Top-p settings above cut away: grey bars "
         f"are never chosen. Add one {explore_unit} at a time to watch how the model writes.")
st.session_state.setdefault("explore_text", "")
st.text_area("Text so far", key="explore_text", disabled=no_model, height=100,
             placeholder="The text the model continues; leave empty to see how it starts.")
step_args = (settings["temperature"], settings["top_k"], settings["top_p"])
with st.container(horizontal=True):
    show_chances = st.button("Show the chances", icon=":material/bar_chart:", disabled=no_model)
    st.button("Sample one", icon=":material/casino:", disabled=no_model, on_click=explore_step,
              args=(model_path, "sample", *step_args),
              help=f"Draw the next {explore_unit} at random, with the chances after the cut.")
    st.button("Take the likeliest", icon=":material/trending_up:", disabled=no_model, on_click=explore_step,
              args=(model_path, "likeliest", *step_args), help=f"Add the most likely next {explore_unit}.")
    st.button("Start from the prompt", icon=":material/restart_alt:", disabled=no_model,
              on_click=explore_use_prompt, help="Replace the text with the prompt above.")
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
        kept = sum(r["kept"] for r in rows)
        top = rows[0]
        st.plotly_chart(explore.distribution_figure(rows[:explore.TOP], explore_unit), key="explore_chart")
        st.caption(f"The settings keep {kept:,} of the {len(rows):,} possible next {explore_unit}s. "
                   f"The likeliest, {memorisation.code_span(explore.token_label(top['token']))}, has a chance of "
                   f"{top['prob_model']:.1%} as learnt and {top['prob_filtered']:.1%} after the settings.")

st.divider()
st.subheader("Compare temperatures")
st.write("The same prompt and seed at four temperatures, side by side: low is safe and "
         "repetitive, high is surprising and error-prone.")
if st.button("Compare temperatures", icon=":material/compare:", disabled=no_model):
    compare_seed = settings["seed"] if settings["seed"] is not None else random.randrange(2**31)
    try:
        run = use_model(model_path)
        texts = {t: run.generate(prompt=prompt, **dict(settings, temperature=t, seed=compare_seed))
                 for t in COMPARE_TEMPERATURES}
    except Exception as e:  # noqa: BLE001 - shown as a sentence
        report(e)
    else:
        st.session_state["comparison"] = {"prompt": prompt, "texts": texts, "seed": compare_seed,
                                          "path": model_path, "copying": {}}
comparison = st.session_state.get("comparison")
if comparison:
    st.caption(f"Seed {comparison['seed']}.")
    for column, (t, text) in zip(st.columns(len(comparison["texts"])), comparison["texts"].items()):
        column.markdown(f"**Temperature {t}**")
        column.code(comparison["prompt"] + text, language=None, wrap_lines=True)
        if comparison.get("path"):
            show_copying(comparison.setdefault("copying", {}), t, comparison["path"], text, column)

base_path = (runs.read_json(Path(model_path) / "config.json", {}) or {}).get("init_from") if model_path else None
if base_path and (Path(base_path) / "model.keras").exists():
    st.divider()
    st.subheader("Before and after fine-tuning")
    st.write(f"This model was fine-tuned from **{Path(base_path).name}**. The same prompt and seed, "
             "sampled from the base model and from the fine-tuned one.")
    if st.button("Compare with the base model", icon=":material/difference:"):
        compare_seed = settings["seed"] if settings["seed"] is not None else random.randrange(2**31)
        pair = {}
        for label, path in (("Base model", base_path), ("Fine-tuned", model_path)):
            try:
                pair[label] = use_model(path).generate(prompt=prompt, **dict(settings, seed=compare_seed))
            except Exception as e:  # noqa: BLE001 - shown as a sentence in its column
                pair[label] = e
        st.session_state["before_after"] = {"prompt": prompt, "texts": pair, "seed": compare_seed,
                                            "paths": {"Base model": base_path, "Fine-tuned": model_path},
                                            "copying": {}}
    before_after = st.session_state.get("before_after")
    if before_after:
        st.caption(f"Seed {before_after['seed']}.")
        for column, (label, text) in zip(st.columns(2), before_after["texts"].items()):
            column.markdown(f"**{label}**")
            with column:
                if isinstance(text, Exception):
                    report(text)
                else:
                    st.code(before_after["prompt"] + text, language=None, wrap_lines=True)
                    if before_after.get("paths"):
                        show_copying(before_after.setdefault("copying", {}), label,
                                     before_after["paths"][label], text)
