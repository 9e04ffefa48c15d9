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

prompt = st.text_area("Prompt", disabled=no_model, placeholder="The beginning of the text; leave empty to let the model start.",
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
        st.session_state["generated"] = {"prompt": prompt, "texts": list(texts), "model": choices[model_path]}

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
        st.download_button("Download text", "\n\n----\n\n".join(full_texts), file_name="generated.txt",
                           mime="text/plain", icon=":material/download:", on_click="ignore")

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
        st.session_state["comparison"] = {"prompt": prompt, "texts": texts, "seed": compare_seed}
comparison = st.session_state.get("comparison")
if comparison:
    st.caption(f"Seed {comparison['seed']}.")
    for column, (t, text) in zip(st.columns(len(comparison["texts"])), comparison["texts"].items()):
        column.markdown(f"**Temperature {t}**")
        column.code(comparison["prompt"] + text, language=None, wrap_lines=True)
