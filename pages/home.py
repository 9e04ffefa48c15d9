"""Home: what the tool does, where it runs, and a one-click first model."""

import streamlit as st

from textgen import jobs, runs
from textgen.device import describe_device
from textgen.errors import TextgenError

st.title("TextGen Studio")
st.markdown(
    "Teach a small language model to write like **your** text, watch it learn, "
    "then let it write new text. No programming needed."
)

steps = st.columns(3)
with steps[0]:
    with st.container(border=True):
        st.subheader(":material/description: 1. Bring text")
        st.write("Upload text files or a CSV, paste text, or pick a built-in collection.")
        st.page_link("pages/corpus.py", label="Choose a corpus", icon=":material/arrow_forward:")
with steps[1]:
    with st.container(border=True):
        st.subheader(":material/model_training: 2. Train")
        st.write("Pick a preset and start. A live chart shows the model getting better.")
        st.page_link("pages/train.py", label="Train a model", icon=":material/arrow_forward:")
with steps[2]:
    with st.container(border=True):
        st.subheader(":material/edit_note: 3. Generate")
        st.write("Give the model a beginning and let it continue, careful or wild.")
        st.page_link("pages/generate.py", label="Generate text", icon=":material/arrow_forward:")

st.info(f"Models train on this machine: **{describe_device()}**.", icon=":material/memory:")

st.subheader("Try it in one click")
st.write(
    "Train a small model on the built-in sample text (fables, letters and recipes "
    "about a lighthouse town) for under a minute, then see what it writes."
)
if st.button("Train a quick model on the sample text", type="primary", icon=":material/play_arrow:"):
    try:
        name = runs.new_run_name("quick-sample")
        jobs.start_training(["builtin:sample"], runs.run_path(name), {"preset": "quick"})
    except TextgenError as e:
        st.error(str(e))
    else:
        st.session_state["selected_run"] = name
        st.switch_page("pages/train.py")
