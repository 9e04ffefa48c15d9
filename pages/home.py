"""Home: what the tool does, where it runs, and a one-click first model."""

import streamlit as st

from pages._shared import run_through_app, show_error, show_gpu_problem, show_workspace_problem, t
from textgen import jobs, runs
from textgen.device import describe_device
from textgen.errors import TextgenError

run_through_app()

st.title("TextGen Studio")
st.markdown(t(
    "Teach a small language model to write like **your** text, watch it learn, "
    "then let it write new text. No programming needed."
))

steps = st.columns(3)
with steps[0]:
    with st.container(border=True):
        st.subheader(":material/description: " + t("1. Bring text"))
        st.write(t("Upload text files or a CSV, paste text, or pick a built-in collection."))
        st.page_link("pages/corpus.py", label=t("Choose a corpus"), icon=":material/arrow_forward:")
with steps[1]:
    with st.container(border=True):
        st.subheader(":material/model_training: " + t("2. Train"))
        st.write(t("Pick a preset and start. A live chart shows the model getting better."))
        st.page_link("pages/train.py", label=t("Train a model"), icon=":material/arrow_forward:")
with steps[2]:
    with st.container(border=True):
        st.subheader(":material/edit_note: " + t("3. Generate"))
        st.write(t("Give the model a beginning and let it continue, careful or wild."))
        st.page_link("pages/generate.py", label=t("Generate text"), icon=":material/arrow_forward:")

st.info(t("Models train on this machine: **{device}**.", device=describe_device(t)), icon=":material/memory:")
show_gpu_problem()
workspace_broken = show_workspace_problem()

st.subheader(t("Try it in one click"))
st.write(t(
    "Train a small model on the built-in sample text (fables, letters and recipes "
    "about a lighthouse town) for about a minute, then see what it writes."
))
if st.button(t("Train a quick model on the sample text"), type="primary", icon=":material/play_arrow:",
             key="home_quick_start", disabled=workspace_broken):
    try:
        name = runs.new_run_name("quick-sample")
        jobs.start_training(["builtin:sample"], runs.run_path(name), {"preset": "quick"})
    except TextgenError as e:
        show_error(e)
    else:
        st.session_state["selected_run"] = name
        st.switch_page("pages/train.py")
