"""Plotly figures for the pages, and the small numbers shown beside them.

Pure functions of text, metric records and status dicts: no Streamlit and no
TensorFlow here, so the pages stay thin and these stay easy to test.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections import Counter

import plotly.graph_objects as go

from textgen.i18n import english
from textgen.units import LN2
from textgen.words import WORD_RE

MAX_POINTS = 2000
TRAIN_COLOUR = "#1f6feb"
VAL_COLOUR = "#e8590c"

# Characters that would be invisible or break a chart axis, shown as symbols instead.
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍", "\u3000": "⎵"}

BASE_COLOUR = "#9aa0a6"

# Upright bars fit about this many narrow characters of labels side by side in a half-page
# chart at 1280 pixels; wider sets of labels (Chinese characters, words) get horizontal bars.
UPRIGHT_LABEL_WIDTH = 48
BAR_ROW_PX = 16  # height of one horizontal bar with its label


def visible_char(char: str) -> str:
    if char in _VISIBLE:
        return _VISIBLE[char]
    if not char.isprintable():
        return f"U+{ord(char):04X}"
    return char


# --- corpus statistics ---------------------------------------------------------


def char_frequencies(text: str, top: int = 40) -> list[tuple[str, int]]:
    return [(visible_char(c), n) for c, n in Counter(text).most_common(top)]


def word_frequencies(text: str, top: int = 30) -> list[tuple[str, int]]:
    return Counter(m.group().lower() for m in WORD_RE.finditer(text)).most_common(top)


def line_lengths(text: str) -> list[int]:
    return [len(line) for line in text.split("\n")]


def label_width(label: str) -> int:
    """How many narrow characters wide a label is drawn: a Chinese character counts two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(label))


def fits_upright(labels) -> bool:
    """Whether the labels fit side by side under upright bars without touching."""
    return sum(label_width(label) for label in labels) <= UPRIGHT_LABEL_WIDTH


def _bar_figure(pairs, title: str, label_title: str, colour: str, translate=english) -> go.Figure:
    """Bars of counts, most frequent first: upright where the labels fit side by side,
    else horizontal (most frequent at the top), so labels never overlap."""
    labels = [label for label, _ in pairs]
    counts = [count for _, count in pairs]
    count_title = translate("count")
    if fits_upright(labels):
        fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colour,
                               hovertemplate="%{x}: %{y:,}<extra></extra>"))
        fig.update_layout(xaxis_title=label_title, yaxis_title=count_title, height=340)
        label_axis = fig.update_xaxes
    else:
        fig = go.Figure(go.Bar(x=counts, y=labels, orientation="h", marker_color=colour,
                               hovertemplate="%{y}: %{x:,}<extra></extra>"))
        fig.update_layout(xaxis_title=count_title, yaxis_title=label_title,
                          height=max(340, 110 + BAR_ROW_PX * len(labels)))
        fig.update_yaxes(autorange="reversed")
        label_axis = fig.update_yaxes
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50, b=10))
    # Category axis: keep '1' or '2020' as labels instead of turning them into numbers,
    # and label every bar.
    label_axis(type="category", tickmode="array", tickvals=labels, tickangle=0, automargin=True)
    return fig


def char_frequency_figure(pairs: list[tuple[str, int]], translate=english) -> go.Figure:
    return _bar_figure(pairs, translate("The {count} most frequent characters", count=len(pairs)),
                       translate("character (␣ space, ↵ new line, ⇥ tab)"), TRAIN_COLOUR, translate)


def word_frequency_figure(pairs: list[tuple[str, int]], translate=english) -> go.Figure:
    return _bar_figure(pairs, translate("The {count} most frequent words", count=len(pairs)),
                       translate("word"), "#2f9e44", translate)


def line_length_figure(lengths: list[int], translate=english) -> go.Figure:
    hover = translate("%{x} characters: %{y:,} lines")
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=50, marker_color="#7048e8",
                                 hovertemplate=hover + "<extra></extra>"))
    fig.update_layout(title=translate("Line lengths"), xaxis_title=translate("characters per line"),
                      yaxis_title=translate("lines"), margin=dict(l=10, r=10, t=50, b=10), height=340,
                      bargap=0.05)
    return fig


# --- training curves -----------------------------------------------------------


def downsample(points: list, max_points: int = MAX_POINTS) -> list:
    """At most max_points evenly spread points, always keeping the first and last."""
    if len(points) <= max_points:
        return points
    step = (len(points) - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]


def curve(records: list[dict], key: str, x: str = "step", bits: bool = False,
          max_points: int = MAX_POINTS) -> tuple[list, list]:
    """(xs, ys) of one metric, only where it was measured, downsampled for plotting."""
    scale = 1 / LN2 if bits else 1.0
    points = [(r.get(x), r[key] * scale) for r in records
              if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
              and isinstance(r.get(x), (int, float))]
    points = downsample(points, max_points)
    return [p[0] for p in points], [p[1] for p in points]


def legend_below(fig: go.Figure) -> go.Figure:
    """The legend in a row under the chart, at the bottom of the figure: the chart's
    toolbar (top right) can never cover it, however many entries it has."""
    fig.update_layout(legend=dict(orientation="h", xref="container", yref="container", x=0, xanchor="left",
                                  y=0, yanchor="bottom"), showlegend=True)
    return fig


def _axis_titles(x: str, bits: bool, translate=english) -> tuple[str, str]:
    return (translate("seconds") if x == "time" else translate("training step"),
            translate("bits per character") if bits else translate("loss (nats per character)"))


def continue_after(base_records: list[dict], records: list[dict], x: str = "step") -> list[dict]:
    """A fine-tune's records moved along the x axis so its curve continues the base model's."""
    offset = max((r[x] for r in base_records if isinstance(r.get(x), (int, float))), default=0)
    return [dict(r, **{x: r[x] + offset}) for r in records if isinstance(r.get(x), (int, float))]


def _padded_range(values, floor: float | None = 0.0) -> list[float] | None:
    """An axis range around values that (nearly) coincide: a lone point or a flat curve.

    Plotly would draw those on an arbitrary span around the value, one that may run below
    zero where no loss, step or second can be; None where the values spread out enough
    for Plotly's own range. ``floor`` is the lowest value the quantity can take.
    """
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not numbers:
        return None
    low, high = min(numbers), max(numbers)
    middle = (low + high) / 2
    if high - low > 0.02 * max(abs(middle), 1.0):
        return None
    pad = max(0.1 * abs(middle), 0.1)
    start = low - pad if floor is None else max(floor, low - pad)
    return [start, high + pad]


def fit_axes(fig: go.Figure) -> go.Figure:
    """Give both axes a sensible range when the figure holds a lone point or flat curves."""
    for values, update in ((lambda trace: trace.x or (), fig.update_xaxes),
                           (lambda trace: trace.y or (), fig.update_yaxes)):
        span = _padded_range([v for trace in fig.data for v in values(trace)])
        if span is not None:
            update(range=span)
    return fig


def _own_part_view(records: list[dict], x: str, bits: bool) -> tuple[list[float], list[float]] | None:
    """(x range, y range) around a fine-tune's own ``records`` (already moved to continue
    its base model's); None when it has no points."""
    xs = [r[x] for r in records if isinstance(r.get(x), (int, float))]
    scale = LN2 if bits else 1.0
    ys = [r[k] / scale for r in records for k in ("train_loss", "val_loss")
          if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
    if not xs or not ys:
        return None
    x_pad = max((max(xs) - min(xs)) * 0.03, 1)
    y_pad = max((max(ys) - min(ys)) * 0.1, 0.05)
    return [min(xs) - x_pad, max(xs) + x_pad], [max(0.0, min(ys) - y_pad), max(ys) + y_pad]


def loss_figure(records: list[dict], bits: bool = False, x: str = "step",
                best: dict | None = None, base_records: list[dict] | None = None,
                translate=english) -> go.Figure:
    """Training and held-out loss of one run; `best` marks the best checkpoint.

    With ``base_records`` (the run a fine-tune started from), the base model's
    curves come first in grey and this run's continue where they end; the chart opens
    on the fine-tune's own part (a base model trained thousands of steps would squeeze
    it into a sliver), and zooming out (double-click) shows the base model's.
    """
    fig = go.Figure()
    if base_records:
        for key, name in (("train_loss", translate("base model: training")),
                          ("val_loss", translate("base model: held-out"))):
            bx, by = curve(base_records, key, x, bits)
            fig.add_trace(go.Scatter(x=bx, y=by, name=name, mode="lines",
                                     line=dict(color=BASE_COLOUR, width=1.5 if key == "train_loss" else 2.5,
                                               dash="dot" if key == "train_loss" else "solid")))
        records = continue_after(base_records, records, x)
        if best and best.get(x) is not None:
            best = continue_after(base_records, [best], x)[0]
    tx, ty = curve(records, "train_loss", x, bits)
    vx, vy = curve(records, "val_loss", x, bits)
    fig.add_trace(go.Scatter(x=tx, y=ty, name=translate("training"), mode="lines",
                             line=dict(color=TRAIN_COLOUR, width=1.5)))
    fig.add_trace(go.Scatter(x=vx, y=vy, name=translate("held-out"), mode="lines+markers",
                             line=dict(color=VAL_COLOUR, width=2.5), marker=dict(size=6)))
    if best and best.get(x) is not None and best.get("val_loss") is not None:
        y = best["val_loss"] / LN2 if bits else best["val_loss"]
        fig.add_trace(go.Scatter(x=[best[x]], y=[y], name=translate("best checkpoint"), mode="markers",
                                 marker=dict(color=VAL_COLOUR, size=14, symbol="star")))
    x_title, y_title = _axis_titles(x, bits, translate)
    fig.update_layout(xaxis_title=x_title, yaxis_title=y_title, height=380,
                      margin=dict(l=10, r=10, t=30, b=10),
                      uirevision="keep")  # keep the user's zoom while points arrive
    fig = fit_axes(legend_below(fig))
    view = _own_part_view(records, x, bits) if base_records else None
    if view:
        fig.update_xaxes(range=view[0])
        fig.update_yaxes(range=view[1])
    return fig


def compare_figure(curves: dict[str, list[dict]], key: str = "val_loss", bits: bool = False,
                   x: str = "step", translate=english) -> go.Figure:
    """One line per run for the same metric, overlaid."""
    fig = go.Figure()
    for name, records in curves.items():
        xs, ys = curve(records, key, x, bits)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=name,
                                 mode="lines+markers" if key == "val_loss" else "lines"))
    x_title, y_title = _axis_titles(x, bits, translate)
    fig.update_layout(xaxis_title=x_title, yaxis_title=y_title, height=420,
                      margin=dict(l=10, r=10, t=30, b=10))
    return fit_axes(legend_below(fig))


# --- reading a run's progress ----------------------------------------------------


def best_point(records: list[dict]) -> dict | None:
    """The record with the lowest held-out loss (the saved checkpoint), if any."""
    measured = [r for r in records if isinstance(r.get("val_loss"), (int, float))]
    return min(measured, key=lambda r: r["val_loss"]) if measured else None


def overfitting(records: list[dict], tolerance: float = 0.02) -> dict | None:
    """Held-out loss rising while training loss keeps falling: the model memorises.

    Returns the best and latest held-out points when the latest held-out loss is
    more than `tolerance` (relative) above the best one, at least two evaluations
    after it, and the training loss fell in between; else None.
    """
    measured = [r for r in records if isinstance(r.get("val_loss"), (int, float))]
    if len(measured) < 3:
        return None
    best_index = min(range(len(measured)), key=lambda i: measured[i]["val_loss"])
    best, latest = measured[best_index], measured[-1]
    if len(measured) - 1 - best_index < 2 or latest["val_loss"] <= best["val_loss"] * (1 + tolerance):
        return None
    train_then = _train_near(records, best.get("step"))
    train_now = _train_near(records, latest.get("step"))
    if train_then is None or train_now is None or train_now >= train_then:
        return None
    return {"best": best, "latest": latest}


def _train_near(records: list[dict], step) -> float | None:
    """Mean training loss of the few records up to `step` (one step is noisy)."""
    values = [r["train_loss"] for r in records
              if isinstance(r.get("train_loss"), (int, float)) and (step is None or (r.get("step") or 0) <= step)]
    if not values:
        return None
    tail = values[-5:]
    return sum(tail) / len(tail)


def progress(status: dict, now: float | None = None) -> tuple[float | None, float | None]:
    """(fraction done 0..1, seconds left) from a status dict; None where unknown.

    Uses the job's own ETA where it gives one, else step/total_steps, else the
    elapsed share of the time budget (whichever ends sooner).
    """
    now = time.time() if now is None else now
    started = status.get("started_at")
    elapsed = max(0.0, now - started) if isinstance(started, (int, float)) else None
    fractions, etas = [], []
    step, total = status.get("step"), status.get("total_steps")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        fractions.append(min(1.0, step / total))
        if elapsed and step > 0:
            etas.append(elapsed * (total - step) / step)
    budget = status.get("time_budget")
    if isinstance(budget, (int, float)) and budget > 0 and elapsed is not None:
        fractions.append(min(1.0, elapsed / budget))
        etas.append(max(0.0, budget - elapsed))
    eta = status.get("eta_s")
    if isinstance(eta, (int, float)) and eta >= 0:
        etas = [eta]
        if elapsed is not None and elapsed + eta > 0:
            fractions.append(elapsed / (elapsed + eta))
    return (max(fractions) if fractions else None), (min(etas) if etas else None)


def format_duration(seconds, translate=english) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return translate("unknown")
    seconds = max(0, int(round(seconds)))  # clocks of two machines may disagree a little
    if seconds < 60:
        return translate("{seconds} s", seconds=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return translate("{minutes} min {seconds:02d} s", minutes=minutes, seconds=seconds)
    hours, minutes = divmod(minutes, 60)
    return translate("{hours} h {minutes:02d} min", hours=hours, minutes=minutes)
