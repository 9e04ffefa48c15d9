"""TextGen Studio: page configuration, the language switch and navigation only; each page lives in pages/."""

import streamlit as st

from pages._shared import language_switch, t

st.set_page_config(page_title="TextGen Studio", page_icon=":material/auto_stories:", layout="wide")
language_switch()  # before the page titles below, which follow the chosen language

navigation = st.navigation([
    st.Page("pages/home.py", title=t("Home"), icon=":material/home:", default=True),
    st.Page("pages/corpus.py", title=t("Corpus"), icon=":material/description:"),
    st.Page("pages/train.py", title=t("Train"), icon=":material/model_training:"),
    st.Page("pages/generate.py", title=t("Generate"), icon=":material/edit_note:"),
    st.Page("pages/runs.py", title=t("Runs"), icon=":material/history:"),
])
navigation.run()
