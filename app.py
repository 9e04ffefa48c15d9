"""TextGen Studio: page configuration, the language switch, the remembered choices and navigation
only; each page lives in pages/."""

import streamlit as st

from pages._shared import (keep_choices, keep_undrawn_choices, language_switch, load_choices, save_choices,
                           t)

st.set_page_config(page_title="TextGen Studio", page_icon=":material/auto_stories:", layout="wide")
load_choices()  # a refresh starts a new session: the choices kept in the workspace
save_choices()  # a widget changed before this run is kept now, even if a refresh cuts the run short
language_switch()  # before the page titles below, which follow the chosen language

navigation = st.navigation([
    st.Page("pages/home.py", title=t("Home"), icon=":material/home:", default=True),
    st.Page("pages/corpus.py", title=t("Corpus"), icon=":material/description:"),
    st.Page("pages/train.py", title=t("Train"), icon=":material/model_training:"),
    st.Page("pages/generate.py", title=t("Generate"), icon=":material/edit_note:"),
    st.Page("pages/runs.py", title=t("Runs"), icon=":material/history:"),
    st.Page("pages/inside.py", title=t("Inside"), icon=":material/visibility:"),
])
keep_choices(navigation.url_path)  # what another page or language would lose
try:
    navigation.run()
finally:  # also when the page reruns or stops the script
    keep_undrawn_choices()  # what the next run of this page would lose
    save_choices()
