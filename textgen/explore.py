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

from textgen.charts import legend_below, visible_char
from textgen.i18n import english
from textgen.sampling_settings import DEFAULT_TEMPERATURE, SamplingSettings
from textgen.tokenizers import never_sampled

TOP = 20
TAIL_CHARS = 200  # the end of the text shown above the chart: what the model continues
KEPT_COLOUR = "#1f6feb"
CUT_COLOUR = "#c4c8cc"
AFTER_COLOUR = "#e8590c"


def prompt_ids(run, prompt: str) -> np.ndarray:
    """The token ids the model reads, exactly as Generate reads its prompt (``Run.prompt_ids``):
    the prompt's tokens, or the start token for an empty prompt.

    Unknown characters raise the tokenizer's TextgenError (a sentence naming them).
    """
    return np.asarray(run.prompt_ids(prompt), dtype=np.int32)


def text_tail(text: str, max_chars: int = TAIL_CHARS) -> str:
    """The last ``max_chars`` characters of ``text``, after "…" where the start is cut."""
    return text if len(text) <= max_chars else "…" + text[-max_chars:]


def shown_end(text: str) -> str:
    """``text_tail`` of the text the sampling explorer continues, with each line break at its
    very end marked "↵" (before the break): a code block hides a last line break, and the
    next token's chances depend on it."""
    tail = text_tail(text)
    body = tail.rstrip("\n")
    return body + (visible_char("\n") + "\n") * (len(tail) - len(body))


def next_token_logits(run, prompt: str) -> np.ndarray:
    """The model's logits (vocab,) for the token after ``prompt``.

    Recurrent models read the whole prompt from a fresh state, as the sampler does; the
    Transformer reads the latest tokens its key/value cache holds when the sampler gets
    there (models.cached_context), so the chances shown are the ones it draws from.
    """
    from keras import ops
    from textgen.models import cached_context

    ids = prompt_ids(run, prompt)
    if run.config.get("arch") == "transformer":
        ids = ids[-cached_context(len(ids), int(run.config["seq_len"])):]
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
    raises its TextgenError. Which tokens survive the cut is decided by the sampler's own
    ``filter_probabilities``; the chances are then the temperature's, renormalised over
    them, so the bars after the cut are exactly the bars before it, scaled up.
    """
    from keras import ops
    from textgen.sampling import filter_probabilities

    settings = SamplingSettings(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    vocab = logits.shape[-1]
    probs, ids = filter_probabilities(ops.convert_to_tensor(logits[None, :], dtype="float32"),
                                      *settings.filter_values())
    probs = np.asarray(ops.convert_to_numpy(probs), dtype=np.float64)[0]
    ids = np.asarray(ops.convert_to_numpy(ids))[0]
    kept = np.zeros(vocab, dtype=bool)
    kept[ids[probs > 0]] = True
    if settings.greedy:  # the one token the sampler takes, even among equal logits
        scaled = kept.astype(np.float64)
    else:
        scaled = _softmax(logits / float(settings.temperature))
    filtered = np.where(kept, scaled, 0.0)  # the likeliest is always kept: the sum is above 0
    return scaled, filtered / filtered.sum()


def distribution_from_logits(tokens: list[str], logits, temperature: float = DEFAULT_TEMPERATURE,
                             top_k=None, top_p=None, top: int | None = TOP, never=()) -> list[dict]:
    """Rows for the likeliest ``top`` tokens (None: all), likeliest first.

    Each row: ``token``, ``prob_model`` (as the model learnt it, temperature 1),
    ``prob_temperature`` (after temperature, before the cut), ``prob_filtered``
    (what sampling draws from: after temperature and the Top-k / Top-p cut) and
    ``kept`` (whether sampling can pick it at all). Token ids in ``never`` (such as
    "<unk>", which generation never writes) get no row: they are no possible next token.
    """
    logits = np.asarray(logits, dtype=np.float64).copy()
    never = {int(i) for i in never}
    logits[list(never)] = -1e9  # as in generation
    model = _softmax(logits)
    scaled, filtered = filter_logits(logits, temperature, top_k, top_p)
    order = [i for i in np.argsort(-logits, kind="stable") if i not in never]
    if top is not None:
        order = order[:top]
    return [{"token": tokens[i], "id": int(i), "prob_model": float(model[i]),
             "prob_temperature": float(scaled[i]), "prob_filtered": float(filtered[i]),
             "kept": bool(filtered[i] > 0)} for i in order]


def summary(rows: list[dict]) -> dict:
    """What the caption under the bars says, from the same rows (all of them: ``top=None``):
    ``kept`` (tokens sampling can pick) of ``total`` (every possible next token), and the
    likeliest row's ``token``, ``before`` (its bar before the cut, at this temperature),
    ``after`` (its bar after Top-k / Top-p) and ``learnt`` (as the model learnt it)."""
    top = rows[0]
    return {"kept": sum(r["kept"] for r in rows), "total": len(rows), "token": top["token"],
            "before": top["prob_temperature"], "after": top["prob_filtered"], "learnt": top["prob_model"]}


def next_token_distribution(run, prompt: str = "", temperature: float = DEFAULT_TEMPERATURE, top_k=None,
                            top_p=None, top: int | None = TOP) -> list[dict]:
    """What the run's model gives the token after ``prompt``: see ``distribution_from_logits``."""
    return distribution_from_logits(run.tokenizer.tokens, next_token_logits(run, prompt),
                                    temperature, top_k, top_p, top, never=never_sampled(run.tokenizer))


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
                      margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(type="category", tickmode="array", tickvals=labels)
    return legend_below(fig)
