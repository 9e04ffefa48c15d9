"""The sampling explorer: what a model thinks comes next, and what the sampling settings cut.

``next_token_distribution`` feeds a prompt to a run's model and returns every
token's probability as the model learnt it, after temperature, and after the
Top-k / Top-p cut that sampling applies (``textgen.sampling.filter_probabilities``,
the very function the compiled sampler uses). ``distribution_figure`` draws the
top of that list as a Plotly bar chart.

TensorFlow is imported only when a model is used, so this module can be
imported (and its figure drawn) without it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from textgen.charts import visible_char
from textgen.errors import TextgenError
from textgen.i18n import english
from textgen.sampling_settings import DEFAULT_TEMPERATURE, SamplingSettings

TOP = 20
KEPT_COLOUR = "#1f6feb"
CUT_COLOUR = "#c4c8cc"
AFTER_COLOUR = "#e8590c"


def prompt_ids(run, prompt: str) -> np.ndarray:
    """The token ids the model reads: the prompt, or the start token for an empty prompt.

    Unknown characters raise the tokenizer's TextgenError (a sentence naming them).
    """
    from textgen.sampling import start_token

    if not isinstance(prompt, str):
        raise TextgenError("The prompt must be text.")
    ids = np.asarray(run.tokenizer.encode(prompt), dtype=np.int32) if prompt else np.zeros(0, np.int32)
    if ids.size == 0:
        ids = np.array([start_token(run.tokenizer)], dtype=np.int32)
    return ids


def next_token_logits(run, prompt: str) -> np.ndarray:
    """The model's logits (vocab,) for the token after ``prompt``.

    Recurrent models read the whole prompt from a fresh state, as the sampler does;
    the Transformer reads the last ``seq_len`` tokens, its context window.
    """
    from keras import ops
    from textgen.sampling import never_sampled

    ids = prompt_ids(run, prompt)
    if run.config.get("arch") == "transformer":
        ids = ids[-int(run.config["seq_len"]):]
    logits = run.model(ids[None, :], training=False)
    logits = np.asarray(ops.convert_to_numpy(logits), dtype=np.float64)[0, -1]
    logits[never_sampled(run.tokenizer)] = -1e9  # as in generation: "<unk>" is never written
    return logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


def filter_logits(logits: np.ndarray, temperature: float, top_k, top_p) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities after temperature, probabilities after temperature + cut), both by token id.

    The settings mean what they mean in ``SamplingSettings``: temperature 0 is greedy
    (only the likeliest token), Top-k 0 or None and Top-p 1 or None are off; a bad one
    raises its TextgenError.
    """
    from keras import ops
    from textgen.sampling import filter_probabilities

    settings = SamplingSettings(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    vocab = logits.shape[-1]
    if settings.greedy:
        scaled = np.zeros(vocab)
        scaled[int(np.argmax(logits))] = 1.0
    else:
        scaled = _softmax(logits / float(settings.temperature))
    probs, ids = filter_probabilities(ops.convert_to_tensor(logits[None, :], dtype="float32"),
                                      *settings.filter_values())
    probs = np.asarray(ops.convert_to_numpy(probs), dtype=np.float64)[0]
    ids = np.asarray(ops.convert_to_numpy(ids))[0]
    filtered = np.zeros(vocab)
    filtered[ids] = probs
    filtered /= filtered.sum()
    return scaled, filtered


def distribution_from_logits(tokens: list[str], logits, temperature: float = DEFAULT_TEMPERATURE,
                             top_k=None, top_p=None, top: int | None = TOP) -> list[dict]:
    """Rows for the likeliest ``top`` tokens (None: all), likeliest first.

    Each row: ``token``, ``prob_model`` (as the model learnt it, temperature 1),
    ``prob_temperature`` (after temperature, before the cut), ``prob_filtered``
    (what sampling draws from: after temperature and the Top-k / Top-p cut) and
    ``kept`` (whether sampling can pick it at all).
    """
    logits = np.asarray(logits, dtype=np.float64)
    model = _softmax(logits)
    scaled, filtered = filter_logits(logits, temperature, top_k, top_p)
    order = np.argsort(-logits, kind="stable")
    if top is not None:
        order = order[:top]
    return [{"token": tokens[i], "id": int(i), "prob_model": float(model[i]),
             "prob_temperature": float(scaled[i]), "prob_filtered": float(filtered[i]),
             "kept": bool(filtered[i] > 0)} for i in order]


def next_token_distribution(run, prompt: str = "", temperature: float = DEFAULT_TEMPERATURE, top_k=None,
                            top_p=None, top: int | None = TOP) -> list[dict]:
    """What the run's model gives the token after ``prompt``: see ``distribution_from_logits``."""
    return distribution_from_logits(run.tokenizer.tokens, next_token_logits(run, prompt),
                                    temperature, top_k, top_p, top)


def sample_token(rows: list[dict], rng=None) -> str:
    """One token drawn from the rows' ``prob_filtered`` (pass all rows: ``top=None``)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    probs = np.array([r["prob_filtered"] for r in rows], dtype=np.float64)
    return rows[int(rng.choice(len(rows), p=probs / probs.sum()))]["token"]


def likeliest_token(rows: list[dict]) -> str:
    return max(rows, key=lambda r: r["prob_model"])["token"]


def token_label(token: str) -> str:
    """A token as a chart label: spaces, line breaks and tabs made visible."""
    return "".join(visible_char(c) for c in token) or "∅"


def _unique_labels(tokens: list[str]) -> list[str]:
    labels, seen = [], set()
    for token in tokens:
        label = token_label(token)
        while label in seen:  # e.g. a real "␣" next to a space: keep both bars
            label += "\u200b"
        seen.add(label)
        labels.append(label)
    return labels


def distribution_figure(rows: list[dict], unit: str = "character", translate=english) -> go.Figure:
    """Bars of the chance of each likely next token: before the cut (kept ones coloured,
    cut ones grey) and after it (what sampling actually draws from). ``translate``
    (text, **params) -> str labels it in another language."""
    labels = _unique_labels([r["token"] for r in rows])
    before = [r["prob_temperature"] for r in rows]
    after = [r["prob_filtered"] for r in rows]
    model = [r["prob_model"] for r in rows]
    kept, cut = translate("kept"), translate("cut by the settings")
    status = [kept if r["kept"] else cut for r in rows]
    hover = ("%{x}: %{y:.1%}<br>" + translate("as learnt") + ": %{customdata[0]:.1%}"
             "<br>%{customdata[1]}<extra>%{fullData.name}</extra>")
    custom = list(zip(model, status))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=before, name=translate("before the cut (at this temperature)"),
                         marker_color=[KEPT_COLOUR if r["kept"] else CUT_COLOUR for r in rows],
                         customdata=custom, hovertemplate=hover))
    fig.add_trace(go.Bar(x=labels, y=after, name=translate("after Top-k / Top-p (what sampling uses)"),
                         marker_color=AFTER_COLOUR, customdata=custom, hovertemplate=hover))
    fig.update_layout(barmode="group", height=380, yaxis_title=translate("chance"), yaxis_tickformat=".0%",
                      xaxis_title=translate("the {count} likeliest next {unit}s (grey: cut, never chosen)",
                                            count=len(rows), unit=translate(unit)),
                      margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    fig.update_xaxes(type="category", tickmode="array", tickvals=labels)
    return fig
