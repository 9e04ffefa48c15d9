"""The Train page's suggestions before a run: settings suggested for the text's size, and the
learning-rate finder.

Not a page itself (app.py does not list it); pages/train.py draws it. Both fill the form's own
widgets (their session-state keys, pages/train.number_setting's ``adv_{setting}_{suffix}``), so
the person can change what they fill in, and it survives a refresh like any setting.
"""

from __future__ import annotations

import streamlit as st

from pages._shared import chosen_corpus, show_error, t
from textgen import charts, config, lr_range, suggestions
from textgen.report import layers_in_words
from textgen.errors import TextgenError

SUGGESTED = ("layers", "units", "embedding_dim", "seq_len", "dropout", "time_budget")
# What a finder's result was run for: shown only while the corpus and these still match.
FINDER_SETTINGS = ("arch", "tokenizer", "layers", "units", "embedding_dim", "seq_len", "batch_size")
FINDER_SECONDS = 20.0
USED_KEY = "train_suggestion_used"  # "Use these settings" was pressed: say so once
FOUND_KEY = "train_lr_found"  # the finder's last result, with the form's suffix it was run for
PENDING_KEY = "train_lr_pending"  # a rate to put in the learning-rate field before it is drawn


def setting_key(name: str, suffix: str) -> str:
    """The session-state key of the form's widget for the setting ``name``: the Architecture
    and Tokenizer choices (train.shape_choices) and the numbers (train.number_setting)."""
    return {"arch": f"arch_{suffix}", "tokenizer": f"tok_{suffix}"}.get(name, f"adv_{name}_{suffix}")


def use_suggestion(settings: dict, suffix: str) -> None:
    """Fill the form's widgets with ``settings`` (suggestions.suggested_settings); a button's
    on_click, so it runs before the widgets are drawn again."""
    for name in SUGGESTED:
        kind = config.RANGES[name][0]
        st.session_state[setting_key(name, suffix)] = kind(settings[name])
    st.session_state[setting_key("arch", suffix)] = settings["arch"]
    st.session_state[USED_KEY] = True


def suggestion_box(overview: dict | None, device: str, tokenizer: str, suffix: str) -> None:
    """Settings suggested for this text's size on ``device`` ("cpu" or "gpu"), with the reason,
    and a button that fills them in. Nothing without a corpus."""
    if overview is None:
        return
    stats = overview["stats"]
    val_fraction = st.session_state.get(setting_key("val_fraction", suffix))
    found = suggestions.suggested_settings(stats["chars"], device, tokenizer,
                                           stats.get("distinct_chars") if tokenizer == "char" else None,
                                           val_fraction if isinstance(val_fraction, (int, float)) else None)
    settings = found["settings"]
    template, params = found["reason"]
    arch = {"gru": "GRU", "lstm": "LSTM", "transformer": "Transformer"}[settings["arch"]]
    with st.container(border=True):
        st.markdown(t("**Suggested for this text** ({chars:,} characters, {device}): {arch}, {shape}, "
                      "sequence length {seq_len}, dropout {dropout:g}, {time}.", chars=stats["chars"],
                      device=device.upper(), arch=arch,
                      shape=layers_in_words(settings["layers"], settings["units"], t),
                      seq_len=settings["seq_len"], dropout=settings["dropout"],
                      time=charts.format_duration(settings["time_budget"], t)))
        st.caption(t("Why: {reason}", reason=t(template, **params)))
        st.button(t("Use these settings"), key="train_use_suggestion", icon=":material/auto_fix_high:",
                  on_click=use_suggestion, args=(settings, suffix),
                  help=t("Fills in the model's shape, sequence length, dropout and time budget; the learning "
                         "rate stays the preset's. You can change any of them under Advanced settings."))
        if st.session_state.pop(USED_KEY, False):
            st.success(t("Suggested settings filled in; change any of them under Advanced settings."),
                       icon=":material/check:")


def apply_found_rate() -> None:
    """Put the finder's rate into the learning-rate field: before the field is drawn, since
    Streamlit refuses a widget's value set after."""
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending:
        st.session_state[pending["key"]] = pending["rate"]


def finder_subject(spec, resolved: dict, init_from: str | None) -> dict:
    """What a finder's result depends on: the corpus ``spec``, the model's shape and
    tokenizer (FINDER_SETTINGS of ``resolved``) and the base model ``init_from``."""
    return {"corpus": list(spec or ()), "init_from": init_from,
            **{name: resolved.get(name) for name in FINDER_SETTINGS}}


def learning_rate_finder(resolved: dict, init_from: str | None, suffix: str) -> None:
    """The "Find a learning rate" button: the range test (lr_range.find_in_child) of these
    settings on the chosen corpus, in a child process; fills the learning-rate field with the
    suggestion and shows the loss-against-rate chart, while the corpus and settings it was
    run for (finder_subject) are still the chosen ones."""
    key = setting_key("learning_rate", suffix)
    spec, _ = chosen_corpus()
    subject = finder_subject(spec, resolved, init_from)
    if st.button(t("Find a learning rate (about 20 s)"), key="train_find_lr", icon=":material/search:",
                 help=t("Trains a fresh copy of this model for a few seconds while the learning rate rises "
                        "from 0.00001 to 1, and suggests a rate a tenth of where the loss was lowest "
                        "(the range test of Smith 2017, as fastai's lr_find).")):
        try:
            with st.spinner(t("Trying learning rates on a fresh model...")):
                result = lr_range.find_in_child(dict(resolved, init_from=init_from), spec, FINDER_SECONDS)
        except TextgenError as e:
            show_error(e)
            return
        rate = float(f"{result['suggested']:.2g}")  # the figure the sentence names, not more digits
        st.session_state[FOUND_KEY] = {"suffix": suffix, "rate": rate, "result": result, "subject": subject}
        st.session_state[PENDING_KEY] = {"key": key, "rate": rate}
        st.rerun()
    found = st.session_state.get(FOUND_KEY)
    if not found or found["suffix"] != suffix or found.get("subject") != subject:
        return  # run for another corpus or model: its rate and chart would mislead
    if st.session_state.get(key) == found["rate"]:
        st.success(t("Learning rate set to {rate:g}, from the finder.", rate=found["rate"]),
                   icon=":material/check:")
    else:
        st.caption(t("The finder suggested a learning rate of {rate:g}.", rate=found["rate"]))
    st.plotly_chart(charts.lr_finder_figure(found["result"], t), key="train_lr_chart")
