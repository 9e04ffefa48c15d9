"""TextGen Studio: page configuration and navigation only; each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="TextGen Studio", page_icon=":material/auto_stories:", layout="wide")

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/corpus.py", title="Corpus", icon=":material/description:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/generate.py", title="Generate", icon=":material/edit_note:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
])
navigation.run()
