"""Inside: what a trained model computes as it reads a text: its units, its attention, its
surprise at each character, what drove one prediction, and its map of tokens.

A run is chosen on the page or by the link's ?run=NAME, which the page keeps in the address
so the view can be shared. The numbers come from textgen.inside, the pictures from
textgen.highlight; this page only lays them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages._models import load_model, use_model
from pages._shared import (choice_key, error_text, is_text, kept_key, language, model_choices, remember,
                           run_through_app, show_error, t)
from textgen import files, heldout, highlight, inside, metrics
from textgen.charts import visible_char
from textgen.errors import TextgenError
from textgen.units import LN2, plain_number

run_through_app()

RUN_PARAM = "run"  # ?run=NAME opens that run
LINKED_KEY = "inside_linked_run"  # the run name of the address this page last followed or wrote
VIEWS = ("Neurons", "Attention", "Surprise", "Why this character?", "Token map")
SOURCES = ("sample", "held_out", "typed")
PATTERNS = (*inside.PATTERNS, "span")  # the ready patterns, and a span the user marks
TOP_UNITS = 4
NEIGHBOURS = 8
HEATMAP_TOKENS = 64  # positions per attention map: more would be too small to read, and slow
PASSAGE_CHARS = 500  # a held-out passage's starting length: analysed in about a second
CONTEXT_CHARS = 24  # characters either side of a hard place in the list of them


# --- the run and the text ------------------------------------------------------------


def run_choice() -> str | None:
    """The Model choice, following the link's ?run=NAME once and writing the choice back into
    the address; the chosen run's path, or None when there is no finished model."""
    choices = model_choices(finished_only=True)
    if not choices:
        st.info(t("There is no finished model yet. Train one first: the Quick preset gives a first "
                  "model in about a minute."), icon=":material/model_training:")
        st.page_link("pages/train.py", label=t("Go to Train"), icon=":material/arrow_forward:")
        return None
    paths = list(choices)
    remember("inside_run", fits=paths.__contains__)
    requested = st.query_params.get(RUN_PARAM)
    # A link is followed once: afterwards the choice on the page wins over the old address.
    if requested and requested != st.session_state.get(LINKED_KEY):
        found = [path for path in paths if Path(path).name == requested]
        if found:
            st.session_state["inside_run"] = found[0]
        else:
            st.error(t("There is no finished run named {name}. Choose one of the models below.",
                       name=requested), icon=":material/search_off:")
    if st.session_state.get("inside_run") not in paths:
        st.session_state["inside_run"] = paths[0]
    path = st.selectbox(t("Model"), paths, format_func=choices.get,
                        persist_state="session", key=choice_key("inside_run"))
    name = Path(path).name
    st.session_state[LINKED_KEY] = name
    if st.query_params.get(RUN_PARAM) != name:
        st.query_params[RUN_PARAM] = name
    return path


def model_stamp(path: str) -> float:
    return (Path(path) / "model.keras").stat().st_mtime


@st.cache_data(show_spinner=False, max_entries=64)
def _computed(function: str, path: str, stamp: float, *args):
    return getattr(inside, function)(load_model(path, stamp), *args)


def computed(function: str, path: str, *args):
    """inside.<function>(the run at ``path``, *args), computed once for every session (the
    model file's time in the key: more training computes it again)."""
    with st.spinner(t("Looking inside the model...")):
        return _computed(function, path, model_stamp(path), *args)


@st.cache_data(show_spinner=False, max_entries=4)
def held_out_text(path: str, stamp: float) -> str:
    return heldout.rebuild_held_out(files.read_json(Path(path) / "config.json", {}) or {})


def bounded(key: str, low: int, high: int, label: str | None = None) -> str:
    """``key`` of a number input whose range follows the text: a value outside it, kept
    from a longer text or typed, is brought back inside before the box is drawn, so the box
    shows the number the view uses, and a box with a ``label`` says so in a toast. (A box
    with bounds would keep showing a number it refused while the view used the last one it
    took.)"""
    value = st.session_state.get(key)
    if isinstance(value, (int, float)) and not low <= value <= high:
        st.session_state[key] = min(max(int(value), low), high)
        if label:
            st.toast(t("{label} goes from {low} to {high} here, so {value} became {new}.", label=label,
                       low=plain_number(low), high=plain_number(high), value=plain_number(value),
                       new=plain_number(st.session_state[key])), icon=":material/info:")
    return key


def sample_text(path: str) -> str:
    """A sample the run wrote while training (samples.jsonl), the latest first."""
    samples = [s for s in metrics.read_records(path, metrics.SAMPLES_FILE) if isinstance(s.get("text"), str)]
    if not samples:
        st.info(t("This run kept no samples, so here is a passage of its held-out text."),
                icon=":material/article:")
        return ""
    labels = {i: (t("The kept model's sample (step {step})", step=s.get("step"))
                  if s.get("kept") else t("Written at step {step}", step=s.get("step")))
              for i, s in enumerate(samples)}
    chosen = st.selectbox(t("Sample"), list(reversed(labels)), format_func=labels.get,
                          key=f"inside_sample_{Path(path).name}")
    return samples[chosen]["text"][:inside.MAX_CHARS]


def held_out_passage(path: str) -> str:
    """A passage of the run's held-out text: a start and a length the user picks."""
    try:
        with st.spinner(t("Reading the run's corpus...")):
            held_out = held_out_text(path, (Path(path) / "config.json").stat().st_mtime)
    except TextgenError as e:
        show_error(e)
        return ""
    except OSError as e:
        st.error(t("The run's corpus could not be read ({reason}).", reason=e))
        return ""
    if not held_out:
        st.info(t("This run has no held-out text. Choose a sample or type a text."), icon=":material/article:")
        return ""
    name = Path(path).name
    c1, c2 = st.columns(2)
    # A passage holds at least the two characters the views need.
    start = c1.number_input(t("From character"), value=0, step=100, persist_state="session",
                            key=kept_key(bounded(f"inside_passage_start_{name}", 0, max(len(held_out) - 2, 0),
                                                 t("From character"))),
                            help=t("Where the passage begins in the held-out text of {count:,} characters.",
                                   count=len(held_out)))
    length_label = t("Length (characters)")
    length = c2.number_input(length_label, value=min(PASSAGE_CHARS, inside.MAX_CHARS), step=100,
                             persist_state="session",
                             key=kept_key(bounded(f"inside_passage_length_{name}", 2, inside.MAX_CHARS, length_label)),
                             help=t("At most {count:,} characters are analysed at once.", count=inside.MAX_CHARS))
    return held_out[int(start):int(start) + int(length)]


def text_choice(path: str) -> str:
    """The text to look at: a sample, a held-out passage or typed; empty when there is none."""
    labels = {"sample": t("A sample it wrote"), "held_out": t("A passage of its held-out text"),
              "typed": t("My own text")}
    source = st.radio(t("Text to look at"), SOURCES, format_func=labels.get, horizontal=True,
                      persist_state="session", key=choice_key(remember("inside_source", fits=SOURCES.__contains__)))
    if source == "sample":
        text = sample_text(path) or held_out_passage(path)  # a run too short to write samples
    elif source == "held_out":
        text = held_out_passage(path)
    else:
        text = st.text_area(t("Your text"),
                            persist_state="session",
                            key=remember("inside_typed", fits=is_text), max_chars=inside.MAX_CHARS,
                            placeholder=t("Type or paste up to {count:,} characters.", count=inside.MAX_CHARS))
    return text or ""


# --- pictures --------------------------------------------------------------------------


def show_coloured(text: str, values, scale: str, legend: tuple[str, str], **options) -> None:
    """``text`` coloured by ``values`` (one per character) with its colour legend."""
    st.html(highlight.coloured_html(text, values, scale, **options))
    st.html(highlight.legend_html(scale, *legend))


def needs_text(text: str) -> bool:
    """Whether a view must wait for a text (and says so)."""
    if len(text) >= 2:
        return False
    st.info(t("Choose a sample or a passage, or type a text above (at least two characters), to see the "
              "model read it."), icon=":material/text_fields:")
    return True


def shown(text: str) -> str:
    """A piece of text as one readable line: spaces and line breaks made visible."""
    return "".join(visible_char(c) for c in text)


def in_context(text: str, start: int, end: int) -> str:
    """The characters ``start``-``end`` of ``text`` in [brackets] between their neighbours."""
    before, after = text[max(start - CONTEXT_CHARS, 0):start], text[end:end + CONTEXT_CHARS]
    return ("…" if start > CONTEXT_CHARS else "") + shown(before) + "[" + shown(text[start:end]) + "]" + \
        shown(after) + ("…" if end + CONTEXT_CHARS < len(text) else "")


def window(text: str, spans: list) -> tuple[str, list[tuple[int, int]]]:
    """The part of ``text`` the tokens ``spans`` cover, and their spans within it."""
    start, end = int(spans[0][0]), int(spans[-1][1])
    return text[start:end], [(int(s) - start, int(e) - start) for s, e in spans]


def is_transformer(run) -> bool:
    return inside.recurrent_layers(run) == 0


# --- the views -------------------------------------------------------------------------


def neurons_view(path: str, run, text: str) -> None:
    st.caption(t("A recurrent layer carries a few hundred numbers (units) from character to character. "
                 "Pick one to see where it is high (red) or low (blue) over the text: some units learn "
                 "to follow quotes, line lengths or brackets."))
    layers = inside.recurrent_layers(run)
    if layers == 0:
        st.info(t("This view is for recurrent models (GRU and LSTM). This model is a Transformer: see "
                  "Attention instead."), icon=":material/info:")
        return
    if needs_text(text):
        return
    layer_labels = {i: t("Layer {number}", number=i + 1) for i in range(layers)}
    c1, c2 = st.columns(2)
    layer = c1.selectbox(t("Layer"), list(layer_labels), format_func=layer_labels.get,
                         key=bounded("inside_layer", 0, layers - 1))
    activations = computed("hidden_activations", path, text, layer)
    _, spans = computed("token_spans", path, text)
    units = activations.shape[1]
    unit = c2.number_input(t("Unit"), value=0, step=1, persist_state="session",
                           key=kept_key(bounded("inside_unit", 0, units - 1, t("Unit"))),
                           help=t("Units are numbered from 0 to {last}.", last=units - 1))
    legend = (t("−1 (low)"), t("+1 (high)"))
    show_coloured(text, highlight.per_character(spans, activations[:, int(unit)], len(text)), "diverging",
                  legend, high=1.0)
    pattern_search(text, spans, activations, layer_labels[layer], legend)


def pattern_mask(text: str) -> np.ndarray:
    """The characters the user marks: a ready pattern, a chosen character or a span."""
    labels = {"quotes": t("Inside quotes"), "line_start": t("Start of a line"), "after_space": t("After a space"),
              "brackets": t("Inside brackets"), "char": t("A chosen character"), "span": t("A span I mark")}
    pattern = st.selectbox(t("Pattern"), PATTERNS, index=PATTERNS.index("after_space"), format_func=labels.get,
                           persist_state="session", key=choice_key("inside_pattern"))  # spaces: in almost every text
    if pattern == "char":
        char = st.text_input(t("Character"), "e", max_chars=1, persist_state="session",
                             key=kept_key("inside_pattern_char"))
        return inside.pattern_mask(text, "char", char)
    if pattern == "span":
        c1, c2 = st.columns(2)
        start = c1.number_input(t("From character"), value=0, step=1, persist_state="session",
                                key=kept_key(bounded("inside_span_start", 0, len(text) - 1, t("From character"))))
        end = c2.number_input(t("To character (not included)"), value=min(len(text), 10), step=1,
                              persist_state="session",
                              key=kept_key(bounded("inside_span_end", 1, len(text), t("To character (not included)"))))
        mask = np.zeros(len(text), dtype=bool)
        mask[int(start):int(end)] = True
        return mask
    return inside.pattern_mask(text, pattern)


def pattern_search(text: str, spans, activations: np.ndarray, layer_label: str, legend) -> None:
    st.markdown("**" + t("Find the units for this pattern") + "**")
    st.caption(t("Mark some characters and the page ranks this layer's units by how well their activation "
                 "tells marked characters from the rest: a score of 1 separates them perfectly, 0 not at all."))
    try:
        mask = pattern_mask(text)
    except TextgenError as e:  # a chosen character left empty, say
        show_error(e)
        return
    st.caption(t("The marked characters:"))
    st.html(highlight.coloured_html(text, np.where(mask, 1.0, np.nan), "sequential", low=0.0, high=1.0))
    try:
        best = inside.rank_units(activations, inside.token_mask(spans, mask), top=TOP_UNITS)
    except TextgenError as e:  # a pattern this text lacks: a hint, not a failure
        st.info(error_text(e), icon=":material/touch_app:")
        return
    for row in best:
        direction = t("higher on the marked characters") if row["sign"] > 0 else t("lower on the marked characters")
        st.markdown(t("**Unit {unit}** of {layer}: score {score:.2f}, {direction}", unit=row["unit"],
                      layer=layer_label, score=row["score"], direction=direction))
        st.html(highlight.coloured_html(text, highlight.per_character(spans, activations[:, row["unit"]], len(text)),
                                        "diverging", high=1.0))
    st.html(highlight.legend_html("diverging", *legend))


def attention_view(path: str, run, text: str) -> None:
    st.caption(t("A Transformer chooses what to read again at each position. Each small map is one layer "
                 "and head: row = the position reading, column = the earlier position it reads; darker "
                 "means more attention."))
    if not is_transformer(run):
        st.info(t("This view is for Transformer models. This model is recurrent (GRU or LSTM): see "
                  "Neurons instead."), icon=":material/info:")
        return
    if needs_text(text):
        return
    maps = computed("attention_maps", path, text)
    weights = np.asarray(maps["weights"])
    shown_text, spans = window(text, maps["spans"])
    layers, heads, count = weights.shape[:3]
    if len(shown_text) < len(text):
        st.caption(t("A Transformer reads at most {count:,} tokens at once: the maps show the text's last "
                     "{count:,}.", count=count))
    titles = [[t("Layer {layer}, head {head}", layer=i + 1, head=j + 1) for j in range(heads)] for i in range(layers)]
    if count > HEATMAP_TOKENS:
        st.caption(t("Each map shows the last {count} positions, so that it stays legible.", count=HEATMAP_TOKENS))
    st.plotly_chart(highlight.attention_figure(weights[:, :, -HEATMAP_TOKENS:, -HEATMAP_TOKENS:],
                                               highlight.token_labels(shown_text, spans)[-HEATMAP_TOKENS:], titles,
                                               t("%{y} reads %{x}: %{z:.2f}")), key="inside_attention_chart")
    st.markdown("**" + t("What one position reads") + "**")
    c1, c2, c3 = st.columns(3)
    position = c1.number_input(t("Position"), 0, count - 1, count - 1,
                               key=bounded("inside_position", 0, count - 1, t("Position")),
                               help=t("Counted in tokens from the start of the window, from 0."))
    layer_labels = {i: t("Layer {number}", number=i + 1) for i in range(layers)}
    layer = c2.selectbox(t("Layer"), list(layer_labels), format_func=layer_labels.get,
                         key=bounded("inside_attention_layer", 0, layers - 1))
    head_labels = {-1: t("All heads (average)"), **{j: t("Head {number}", number=j + 1) for j in range(heads)}}
    head = c3.selectbox(t("Head"), list(head_labels), format_func=head_labels.get,
                        key=bounded("inside_head", -1, heads - 1))
    position = int(position)
    row = weights[layer].mean(axis=0)[position] if head < 0 else weights[layer, head, position]
    start, end = spans[position]
    show_coloured(shown_text, highlight.per_character(spans, row, len(shown_text)), "sequential",
                  (t("not read"), t("read most ({weight:.0%})", weight=float(row.max()))),
                  low=0.0, outline=range(start, end))
    logit_lens_table(path, text, position)


def stage_name(stage: str) -> str:
    if stage == "embedding":
        return t("After the embedding")
    return t("After block {number}", number=stage.split()[-1])


def logit_lens_table(path: str, text: str, position: int) -> None:
    st.markdown("**" + t("What each layer would predict next") + "**")
    st.caption(t("The logit lens: the model's output layer applied after each block, at the framed position. "
                 "The last row is the model's own prediction."))
    rows = computed("logit_lens", path, text, position)
    table = pd.DataFrame({t("Stage"): [stage_name(row["stage"]) for row in rows],
                          t("Likeliest next"): ["   ".join(f"{shown(token)} {p:.0%}" for token, p in row["top"])
                                                for row in rows]})
    st.dataframe(table, hide_index=True, key="inside_logit_lens")


def surprise_view(path: str, run, text: str) -> None:
    st.caption(t("How surprised the model is by each character: its loss there, scored as the held-out "
                 "score is. Red marks what it did not expect; pale text it has learnt."))
    if needs_text(text):
        return
    result = computed("surprise", path, text)
    c1, c2 = st.columns(2)
    c1.metric(t("Nats per character"), f"{result['nats_per_char']:.3f}")
    c2.metric(t("Bits per character"), f"{result['nats_per_char'] / LN2:.3f}")
    values = np.asarray(result["char_nats"], dtype=float)
    finite = values[np.isfinite(values)]
    high = float(np.percentile(finite, 98)) if finite.size else 1.0  # a few outliers would pale the rest
    show_coloured(text, values, "sequential", (t("0 nats (expected)"), t("{nats:.1f} nats or more", nats=high)),
                  low=0.0, high=max(high, 1e-6))
    st.markdown("**" + t("The hardest places") + "**")
    hardest = result.get("hardest") or []
    if not hardest:
        st.caption(t("Nothing was scored: the text is too short."))
        return
    st.dataframe(pd.DataFrame({t("Character"): [h["start"] for h in hardest],
                               t("In context"): [in_context(text, h["start"], h["end"]) for h in hardest],
                               t("Loss (nats)"): [round(float(h["nats"]), 2) for h in hardest]}),
                 hide_index=True, key="inside_hardest")


def saliency_view(path: str, run, text: str) -> None:
    st.caption(t("Pick a position: the earlier characters that pushed the model towards what stands there "
                 "are red, those that pushed it away blue (gradient × input)."))
    if needs_text(text):
        return
    if is_transformer(run):
        spans = computed("attention_maps", path, text)["spans"]
    else:
        _, spans = computed("token_spans", path, text)
    shown_text, spans = window(text, spans)
    if len(spans) < 2:
        st.info(t("The text holds a single token: there is nothing before it to explain it."),
                icon=":material/text_fields:")
        return
    if len(shown_text) < len(text):
        st.caption(t("A Transformer reads at most {count:,} tokens at once: this view shows the text's last "
                     "{count:,}.", count=len(spans)))
    position = int(st.number_input(t("Position"), 1, len(spans) - 1, len(spans) - 1,
                                   key=bounded("inside_saliency_position", 1, len(spans) - 1, t("Position")),
                                   help=t("Counted in tokens from the start, from 0; the first token has "
                                          "nothing before it.")))
    start, end = spans[position]
    st.caption(t("Why the model expected {token} here:", token=f"[{shown(shown_text[start:end])}]"))
    values = np.asarray(computed("saliency", path, text, position), dtype=float)
    show_coloured(shown_text, highlight.per_character(spans, values, len(shown_text)), "diverging",
                  (t("pushed away"), t("pushed towards")), outline=range(start, end))


def token_map_view(path: str, run) -> None:
    st.caption(t("Every token the model knows, placed by what it learnt about it: tokens it treats alike "
                 "end up close together. The two axes are the directions in which the tokens differ most "
                 "(principal components)."))
    result = computed("token_map", path)
    tokens, explained = list(result["tokens"]), np.asarray(result["explained"], dtype=float)
    axes = (t("First direction ({share:.0%} of the spread)", share=float(explained[0])),
            t("Second direction ({share:.0%} of the spread)", share=float(explained[1])))
    st.plotly_chart(highlight.token_map_figure(result["coords"], tokens, axes), key="inside_token_map")
    labels = dict(enumerate(tokens))
    default = tokens.index("e") if "e" in tokens else 0
    token = st.selectbox(t("Token"), list(labels), index=default, format_func=labels.get,
                         key=f"inside_token_{Path(path).name}")
    st.markdown("**" + t("Its nearest neighbours") + "**")
    near = computed("nearest_tokens", path, token, NEIGHBOURS)
    st.dataframe(pd.DataFrame({t("Token"): [shown(label) for label, _ in near],
                               t("Similarity (cosine)"): [round(float(s), 3) for _, s in near]}),
                 hide_index=True, key="inside_neighbours")


def show_view(view: str, path: str, run, text: str) -> None:
    """One view, its problems shown as a sentence in its tab."""
    try:
        if view == "Neurons":
            neurons_view(path, run, text)
        elif view == "Attention":
            attention_view(path, run, text)
        elif view == "Surprise":
            surprise_view(path, run, text)
        elif view == "Why this character?":
            saliency_view(path, run, text)
        else:
            token_map_view(path, run)
    except TextgenError as e:
        show_error(e)
    except Exception as e:  # noqa: BLE001 - an unexpected failure: a sentence, not a traceback
        st.error(t("Something went wrong while looking inside the model ({kind}: {error}). "
                   "Try another text or model.", kind=type(e).__name__, error=e))


def inside_page() -> None:
    st.title(t("Inside"))
    st.write(t("See what a model learnt: how it reads a text, unit by unit, layer by layer and character by "
               "character."))
    path = run_choice()
    if path is None:
        return
    try:
        run = use_model(path)
    except TextgenError as e:
        show_error(e)
        return
    except Exception as e:  # noqa: BLE001 - a damaged model file: a sentence, not a traceback
        st.error(t("The model could not be loaded ({kind}: {error}). Try another model.",
                   kind=type(e).__name__, error=e))
        return
    text = text_choice(path)
    # Only the open tab is computed: each view runs the model.
    tabs = st.tabs([t(view) for view in VIEWS], key=f"inside_view_{language()}", on_change="rerun")
    for view, tab in zip(VIEWS, tabs):
        if tab.open:
            with tab:
                show_view(view, path, run, text)


inside_page()
