"""Pictures of what a model computes over a text: the text coloured by one value per
character (HTML), attention as a grid of heatmaps and the token map (Plotly figures).

Shared by the Inside page and the HTML report; plain functions of arrays and text, no
Streamlit and no Keras here.

Colour scales (backgrounds are translucent, so the text stays readable on a light or a
dark page):

- ``"diverging"``: negative values blue (``NEGATIVE_RGB``), zero clear, positive red
  (``POSITIVE_RGB``); the opacity is |value| / ``high``, at most ``MAX_ALPHA``. For
  activations (-1 to 1) and saliency (either sign).
- ``"sequential"``: from clear at ``low`` to red at ``high``. For losses and attention
  weights (0 and up).

A value that is NaN leaves its character uncoloured (not scored, outside the window).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from textgen.charts import visible_char

POSITIVE_RGB = (214, 39, 40)
NEGATIVE_RGB = (31, 119, 180)
MAX_ALPHA = 0.85
SCALES = ("diverging", "sequential")
# The box text is shown in: a monospaced font keeps columns of code and verse in line, and
# pre-wrap keeps the text's own spaces and line breaks.
BOX_STYLE = ("font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.95rem; "
             "white-space: pre-wrap; word-break: break-word; line-height: 1.7; padding: 0.6rem 0.8rem; "
             "border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem; max-height: 28rem; "
             "overflow-y: auto")
OUTLINE_STYLE = "outline: 2px solid currentColor; outline-offset: 1px; border-radius: 2px"
MANY_TOKENS = 120  # a token map with more points than this labels them on hover only


def per_character(spans: list[tuple[int, int]], values, length: int) -> np.ndarray:
    """(length,) float64: each token's value over the characters it covers (``spans``: each
    token's (start, end) character offsets, ``values``: (T,) one value per token); NaN
    where no token covers a character."""
    out = np.full(length, np.nan)
    for (start, end), value in zip(spans, np.asarray(values, dtype=float)):
        out[max(start, 0):min(end, length)] = value
    return out


def _scale_range(values: np.ndarray, scale: str, low, high) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if scale == "diverging":
        top = high if high is not None else (float(np.max(np.abs(finite))) if finite.size else 1.0)
        return 0.0, top if top > 0 else 1.0
    bottom = low if low is not None else 0.0
    top = high if high is not None else (float(np.max(finite)) if finite.size else bottom + 1.0)
    return bottom, top if top > bottom else bottom + 1.0


def background(value: float, scale: str, low: float, high: float) -> str | None:
    """The CSS background of one value on ``scale`` (see the module's docstring), or None
    for NaN."""
    if not np.isfinite(value):
        return None
    if scale == "diverging":
        share = min(abs(value) / high, 1.0)
        rgb = POSITIVE_RGB if value >= 0 else NEGATIVE_RGB
    else:
        share = min(max((value - low) / (high - low), 0.0), 1.0)
        rgb = POSITIVE_RGB
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {share * MAX_ALPHA:.3f})"


def coloured_html(text: str, values, scale: str = "diverging", low: float | None = None,
                  high: float | None = None, outline=(), digits: int = 3) -> str:
    """``text`` as one HTML ``<div>``, each character's background coloured by its value.

    ``values``: (len(text),) numbers, NaN for none. ``scale``: ``"diverging"`` or
    ``"sequential"`` (module docstring); ``low`` / ``high`` fix the ends of the scale
    (default: 0 and the largest value; for diverging, the largest |value|). ``outline``:
    character indices drawn with a frame (a chosen position). Each run of characters with
    the same value is one ``<span>`` whose tooltip gives the value to ``digits`` decimals.
    All text is HTML-escaped. Raises ValueError for an unknown scale or a values array whose
    length is not the text's."""
    if scale not in SCALES:
        raise ValueError(f"unknown colour scale {scale!r}")
    values = np.asarray(values, dtype=float).reshape(-1)
    if values.shape[0] != len(text):
        raise ValueError(f"{values.shape[0]} values for {len(text)} characters")
    low, high = _scale_range(values, scale, low, high)
    framed = set(int(i) for i in outline)
    parts, start = [], 0
    for end in range(1, len(text) + 1):
        if end < len(text) and _same(values[end], values[start]) and (end in framed) == (start in framed):
            continue
        parts.append(_span(text[start:end], values[start], scale, low, high, start in framed, digits))
        start = end
    return f'<div class="textgen-highlight" style="{BOX_STYLE}">{"".join(parts)}</div>'


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def _span(piece: str, value: float, scale: str, low: float, high: float, framed: bool, digits: int) -> str:
    styles = []
    colour = background(value, scale, low, high)
    if colour:
        styles.append(f"background-color: {colour}")
    if framed:
        styles.append(OUTLINE_STYLE)
    text = html.escape(piece, quote=True)
    if not styles:
        return text
    title = f' title="{value:.{digits}f}"' if np.isfinite(value) else ""
    return f'<span style="{"; ".join(styles)}"{title}>{text}</span>'


def legend_html(scale: str, low_label: str, high_label: str) -> str:
    """A small colour bar of ``scale`` between its two ends' labels (escaped; give them in
    the reader's language: for diverging, the negative end first), to show beside
    coloured_html's text. Raises ValueError for an unknown scale."""
    if scale not in SCALES:
        raise ValueError(f"unknown colour scale {scale!r}")
    clear = "rgba(255, 255, 255, 0)"
    red = "rgba({}, {}, {}, {})".format(*POSITIVE_RGB, MAX_ALPHA)
    blue = "rgba({}, {}, {}, {})".format(*NEGATIVE_RGB, MAX_ALPHA)
    stops = f"{blue}, {clear}, {red}" if scale == "diverging" else f"{clear}, {red}"
    bar = ('<span style="display: inline-block; width: 10rem; height: 0.8rem; vertical-align: middle; '
           f'border: 1px solid rgba(128, 128, 128, 0.35); background: linear-gradient(to right, {stops})"></span>')
    return (f'<div class="textgen-legend" style="font-size: 0.85rem">{html.escape(low_label)} {bar} '
            f'{html.escape(high_label)}</div>')


def token_labels(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """Each token as an axis label: the characters it covers, spaces and line breaks made
    visible ("␣", "↵"); made unique by invisible marks so repeated tokens keep their place."""
    labels = []
    for i, (start, end) in enumerate(spans):
        label = "".join(visible_char(c) for c in text[start:end]) or "∅"
        labels.append(label + _invisible_index(i))
    return labels


def _invisible_index(i: int) -> str:
    # Plotly merges equal category labels: zero-width spaces, as many as the index in
    # binary, keep each one apart without changing how it looks.
    return "".join("\u200b" if bit == "1" else "\u200c" for bit in format(i, "b"))


def attention_figure(weights, labels: list[str], titles: list[list[str]], hover: str) -> go.Figure:
    """Every layer x head of ``weights`` ((layers, heads, T, T), row t = where position t
    attends) as a grid of small heatmaps (one row per layer); ``labels``: (T,) token labels,
    ``titles``: [layer][head] subplot titles, ``hover``: the hover text, a Plotly template
    using %{y} (the position reading), %{x} (the position read) and %{z} (the weight)."""
    weights = np.round(np.asarray(weights, dtype=float), 3)  # the page need not carry more digits
    layers, heads = weights.shape[:2]
    fig = make_subplots(rows=layers, cols=heads, subplot_titles=[t for row in titles for t in row],
                        horizontal_spacing=0.04 / max(heads, 1) + 0.02, vertical_spacing=0.08 / max(layers, 1) + 0.03)
    for layer in range(layers):
        for head in range(heads):
            fig.add_trace(go.Heatmap(z=weights[layer, head], x=labels, y=labels, zmin=0, zmax=1,
                                     colorscale="Reds", showscale=layer == 0 and head == 0,
                                     hovertemplate=hover + "<extra></extra>"),
                          row=layer + 1, col=head + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    side = 220
    fig.update_layout(height=max(side * layers + 60, 300), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def token_map_figure(coords, tokens: list[str], axis_titles: tuple[str, str]) -> go.Figure:
    """The token map: ``coords`` (V, 2) as points, hover shows ``tokens[i]``; each point is
    labelled with its token as well when there are at most MANY_TOKENS of them."""
    coords = np.asarray(coords, dtype=float)
    few = len(tokens) <= MANY_TOKENS
    fig = go.Figure(go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers+text" if few else "markers",
                               text=tokens, textposition="top center", hovertemplate="%{text}<extra></extra>",
                               marker=dict(size=7, color="#1f6feb", opacity=0.7)))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=20, b=10),
                      xaxis_title=axis_titles[0], yaxis_title=axis_titles[1])
    return fig
