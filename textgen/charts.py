"""Plotly figures for the pages, and the small numbers shown beside them.

Pure functions of text, metric records and status dicts: no Streamlit and no
TensorFlow here, so the pages stay thin and these stay easy to test.
"""

from __future__ import annotations

import html
import math
import re
import time
import unicodedata
from collections import Counter

import plotly.graph_objects as go

from textgen import doctor
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


# A titled chart's title sits just above its plot, and the top margin leaves a band above
# the title for Plotly's toolbar, which appears there on hover and would cover the title.
TITLED_MARGIN = dict(l=10, r=10, t=80, b=10)


def _title(text: str) -> dict:
    return dict(text=text, yref="paper", y=1, yanchor="bottom", pad=dict(b=12))


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
                          height=max(340, 60 + TITLED_MARGIN["t"] + BAR_ROW_PX * len(labels)))
        fig.update_yaxes(autorange="reversed")
        label_axis = fig.update_yaxes
    fig.update_layout(title=_title(title), margin=TITLED_MARGIN)
    # Category axis: keep '1' or '2020' as labels instead of turning them into numbers,
    # and label every bar.
    label_axis(type="category", tickmode="array", tickvals=labels, ticktext=[plotly_text(label) for label in labels],
               tickangle=0, automargin=True)
    return fig


def char_frequency_figure(pairs: list[tuple[str, int]], translate=english) -> go.Figure:
    return _bar_figure(pairs, translate("The {count} most frequent characters", count=len(pairs)),
                       translate("character (␣ space, ↵ new line, ⇥ tab)"), TRAIN_COLOUR, translate)


def word_frequency_figure(pairs: list[tuple[str, int]], translate=english) -> go.Figure:
    return _bar_figure(pairs, translate("The {count} most frequent words", count=len(pairs)),
                       translate("word"), "#2f9e44", translate)


def line_length_figure(lengths: list[int], translate=english) -> go.Figure:
    """A histogram of ``lengths`` (characters per line): at most about 50 bins of a whole
    number of characters each, on an axis from 0, so that a text whose lines are all as long
    (a one-line text, say) is one bar at its length rather than a bar filling an axis
    around it (Plotly's automatic bins)."""
    hover = translate("%{x} characters: %{y:,} lines")
    longest = max(lengths, default=0)
    size = max(1, math.ceil((longest + 1) / 50))
    fig = go.Figure(go.Histogram(x=lengths, xbins=dict(start=0, end=longest + size, size=size),
                                 marker_color="#7048e8", hovertemplate=hover + "<extra></extra>"))
    fig.update_layout(title=_title(translate("Line lengths")), xaxis_title=translate("characters per line"),
                      yaxis_title=translate("lines"), margin=TITLED_MARGIN, height=340,
                      bargap=0.05, xaxis_range=[0, longest + size])
    if max(Counter(length // size for length in lengths).values(), default=0) < 10:
        fig.update_yaxes(dtick=1)  # counts of lines: no 0.2 or 0.4 lines between the whole ones
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
                translate=english, references: dict | None = None,
                notes: list[dict] | None = None) -> go.Figure:
    """Training and held-out loss of one run; `best` marks the best checkpoint;
    ``references`` (textgen.references.reference_losses) adds its reference lines;
    ``notes`` (the doctor's, notes.jsonl records) a mark each at its step.

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
        notes = continue_after(base_records, notes, x) if notes and x == "step" else notes
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
    _reference_lines(fig, references, bits, translate)
    _note_marks(fig, notes, records, x, translate, bits)
    _control_marks(fig, records, x, translate)
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


REFERENCE_COLOURS = {"uniform": "#6e7781", "ngram": "#2f9e44"}
# A reference line farther than this share of the curves' span outside them is not drawn
# (the axis would open on empty space); a note at the top or bottom edge gives its value.
REFERENCE_REACH = 0.5


def _reference_lines(fig: go.Figure, references: dict | None, bits: bool, translate=english) -> None:
    """Dashed horizontal lines at ``references``' uniform guess and n-gram model scores
    (nats per character; bits with ``bits``), across the curves' x extent, each labelled with
    its name and value at the plot's left edge; one too far from the curves is not drawn, and a
    note at the chart's top or bottom edge names it. No legend entries: a legend row under
    a short live chart takes its height from the plot. None, or a figure without points
    yet, adds nothing."""
    if not references:
        return
    xs = [v for trace in fig.data for v in (trace.x or ()) if isinstance(v, (int, float))]
    ys = [v for trace in fig.data for v in (trace.y or ()) if isinstance(v, (int, float)) and math.isfinite(v)]
    if not xs or not ys:
        return
    x_span = _padded_range(xs) or [min(xs), max(xs)]
    reach = REFERENCE_REACH * max(max(ys) - min(ys), 0.1 * max(ys), 0.1)
    scale = 1 / LN2 if bits else 1.0
    unit = translate("bits per character") if bits else translate("nats per character")
    for key, name in (("uniform", translate("uniform guess")),
                      ("ngram", translate("{order}-gram model", order=references.get("ngram_order", 5)))):
        value = references.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        value *= scale
        shown = min(ys) - reach <= value <= max(ys) + reach
        label = f"{name} ({value:.2f})"
        colour = REFERENCE_COLOURS[key]
        fig.add_trace(go.Scatter(
            x=x_span if shown else [None], y=[value, value] if shown else [None], mode="lines",
            name=label, showlegend=False,
            line=dict(color=colour, width=1.5, dash="dash"),
            hovertemplate=f"{name}: {value:.2f} {unit}<extra></extra>"))
        if shown:  # at the left edge of the plot as shown (a fine-tune's opens on its own part):
            # losses fall, so the newest points and the best mark are at the right
            fig.add_annotation(x=0, y=value, xref="x domain", yref="y", text=label, showarrow=False,
                               xanchor="left", yanchor="bottom", font=dict(size=10, color=colour),
                               bgcolor="rgba(255,255,255,0.7)")
        else:
            above = value > max(ys)
            fig.add_annotation(x=1, y=1 if above else 0, xref="x domain", yref="y domain",
                               text=("↑ " if above else "↓ ") + label, showarrow=False, xanchor="right",
                               yanchor="top" if above else "bottom", font=dict(size=10, color=colour),
                               bgcolor="rgba(255,255,255,0.7)")


CONTROL_COLOUR = "#8250df"  # purple: a mark of a person's action, apart from the curves' colours


def _control_label(mark: dict, translate=english) -> str | None:
    """A live control (a metrics record's ``control`` entry) in a few words; None if unknown."""
    kind, value = mark.get("kind"), mark.get("value")
    if kind == "learning_rate" and isinstance(value, (int, float)):
        return translate("lr {value:g}", value=value)
    if kind == "add_time" and isinstance(value, (int, float)):
        return (translate("+{seconds:g} s", seconds=value) if value > 0
                else translate("−{seconds:g} s", seconds=-value))
    if kind == "pause":
        return translate("paused")
    if kind == "continue":
        return translate("continued")
    return None


# Marks closer than this share of the x range share one label; a label is drawn about
# LABEL_CHAR_SHARE of the x range wide a character (10-pixel text on a ~1,000-pixel plot), and
# labels that would still overlap are staggered on up to CONTROL_LEVELS rows; a run of
# marks with no room left is labelled only on hover.
CONTROL_CLOSE_SHARE = 0.03
LABEL_CHAR_SHARE = 0.006
CONTROL_LEVELS = 3
CONTROL_LEVEL_STEP = 0.09  # of the plot's height, between two rows of labels
CONTROL_GROUP_LABELS = 4  # a longer run of marks close together is labelled on hover only


def control_groups(records: list[dict], x: str, translate=english) -> list[tuple[float, list[str]]]:
    """[(x of the group's first mark, [label, ...]), ...]: the live controls of ``records``
    (their ``control`` lists, textgen.control) at ``x`` (step or time), marks within
    CONTROL_CLOSE_SHARE of the x range of each other in one group, in order."""
    placed = []
    for record in records:
        marks = record.get("control")
        if not isinstance(marks, list) or not isinstance(record.get(x), (int, float)):
            continue
        labels = [label for label in (_control_label(m, translate) for m in marks if isinstance(m, dict))
                  if label]
        if labels:
            placed.append((record[x], labels))
    xs = [r[x] for r in records if isinstance(r.get(x), (int, float))]
    span = max(max(xs) - min(xs), 1e-9) if xs else 1.0
    groups = []
    for at, labels in placed:
        if groups and at - groups[-1][2] <= CONTROL_CLOSE_SHARE * span:
            groups[-1][1].extend(labels)
            groups[-1][2] = at
        else:
            groups.append([at, list(labels), at])
    return [(at, labels) for at, labels, _ in groups]


def _control_marks(fig: go.Figure, records: list[dict], x: str, translate=english) -> None:
    """A thin dotted vertical line at each record that carries live controls (its
    ``control`` list, textgen.control), at its ``x`` (step or time), labelled with what was
    done: "lr 0.001", "+60 s", "paused", "continued". Marks close together share one label
    (control_groups); labels that would overlap go on lower rows, and where no row has room,
    or for a long run of marks, the label is a small "•" whose hover text says it. No legend
    entries."""
    xs = [r[x] for r in records if isinstance(r.get(x), (int, float))]
    span = max(max(xs) - min(xs), 1e-9) if xs else 1.0
    for record in records:
        marks = record.get("control")
        if isinstance(marks, list) and isinstance(record.get(x), (int, float)) and any(
                isinstance(m, dict) and _control_label(m, translate) for m in marks):
            fig.add_vline(x=record[x], line_dash="dot", line_width=1, line_color=CONTROL_COLOUR)
    row_ends = [None] * CONTROL_LEVELS  # x of each row's last label: its right end, at its line
    for at, labels in control_groups(records, x, translate):
        text = ", ".join(labels)
        width = label_width(text) * LABEL_CHAR_SHARE * span
        level = next((i for i, end in enumerate(row_ends) if end is None or at - width > end), None)
        shown = level is not None and len(labels) <= CONTROL_GROUP_LABELS
        if shown:
            row_ends[level] = at
        fig.add_annotation(x=at, y=1 - CONTROL_LEVEL_STEP * (level or 0), xref="x", yref="y domain",
                           text=text if shown else "•", hovertext=text, showarrow=False, xanchor="right",
                           yanchor="top", font=dict(size=10, color=CONTROL_COLOUR))


NOTE_STYLES = {"overfitting": ("#d6336c", "triangle-up"), "diverging": ("#c92a2a", "x"),
               "plateau": ("#7048e8", "diamond")}
HOVER_WIDTH = 60  # narrow characters per line of a note's hover text


def note_kind_name(kind: str, translate=english) -> str:
    """The name of a doctor's note kind, as the chart's legend and the pages show it."""
    names = {"overfitting": translate("overfitting"), "diverging": translate("diverging"),
             "plateau": translate("plateau")}
    return names.get(kind, kind)


def _hover_lines(text: str) -> str:
    """``text`` broken into lines of about HOVER_WIDTH narrow characters (Plotly's hover
    box does not wrap); Chinese, with no spaces, is cut between characters."""
    lines, line = [], ""
    for piece in re.findall(r"\S+\s*|\s+", text):
        if line and label_width(line + piece.rstrip()) > HOVER_WIDTH:
            lines.append(line.rstrip())
            line = ""
        while label_width(piece) > HOVER_WIDTH:
            cut = next(i for i in range(1, len(piece) + 1) if label_width(piece[:i]) > HOVER_WIDTH) - 1
            lines.append(piece[:cut])
            piece = piece[cut:]
        line += piece
    return "<br>".join(lines + [line.rstrip()] if line.strip() else lines)


def _note_marks(fig: go.Figure, notes: list[dict] | None, records: list[dict], x: str,
                translate=english, bits: bool = False) -> None:
    """A mark per doctor's note, at its step on the held-out curve (the training curve before
    the first score), coloured by kind, its sentence on hover; no legend entries (the
    marks carry their sentences, and the short live chart keeps its legend to one row).
    ``records``: the run's, moved as its curves are; ``notes`` with steps to match."""
    placed = {}
    steps = [r for r in records if isinstance(r.get("step"), (int, float)) and isinstance(r.get(x), (int, float))]
    for note in notes or []:
        kind, step = note.get("kind"), note.get("step")
        upto = [r for r in steps if r["step"] <= step] if isinstance(step, (int, float)) else []
        if kind not in NOTE_STYLES or not upto:
            continue
        losses = [r[k] for k in ("val_loss", "train_loss") for r in reversed(upto)
                  if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        if not losses:
            continue
        xs, ys, texts = placed.setdefault(kind, ([], [], []))
        xs.append(upto[-1][x])
        ys.append(losses[0] / LN2 if bits else losses[0])
        texts.append(_hover_lines(doctor.note_text(note, translate)))
    for kind, (xs, ys, texts) in placed.items():
        colour, symbol = NOTE_STYLES[kind]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=note_kind_name(kind, translate),
                                 showlegend=False, text=texts, hovertemplate="%{text}<extra></extra>",
                                 marker=dict(color=colour, size=13, symbol=symbol,
                                             line=dict(color="white", width=1))))


def plotly_text(text) -> str:
    """``text`` as Plotly shows it as written: Plotly reads tags in labels and names (a run
    titled "<b>x</b>" would show a bold x) and entities, so both are escaped."""
    return html.escape(str(text), quote=False)


def compare_figure(curves: dict[str, list[dict]], key: str = "val_loss", bits: bool = False,
                   x: str = "step", translate=english) -> go.Figure:
    """One line per run for the same metric, overlaid; ``curves`` maps each run's label to its
    records."""
    fig = go.Figure()
    for name, records in curves.items():
        xs, ys = curve(records, key, x, bits)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=plotly_text(name),
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


# --- the learning-rate finder --------------------------------------------------------


LR_FINDER_TOP = 1.5  # the y axis stops at this many times the first smoothed loss


def lr_finder_range(result: dict) -> list[float] | None:
    """[bottom, top] of the finder chart's loss axis: both the per-batch and the smoothed
    losses (find_learning_rate's ``losses`` and ``smoothed``, nats per token) up to where the
    loss blew up, the top at most LR_FINDER_TOP times the first smoothed loss so that a
    blow-up many times the minimum does not flatten the rest; None without losses."""
    smooth = [y for y in result.get("smoothed") or [] if isinstance(y, (int, float)) and math.isfinite(y)]
    raw = [y for y in result.get("losses") or [] if isinstance(y, (int, float)) and math.isfinite(y)]
    values = smooth + raw
    if not values:
        return None
    low, top = min(values), max(values)
    if smooth:
        top = min(top, LR_FINDER_TOP * smooth[0])
    top = max(top, low + 1e-3)
    return [max(0.0, low - 0.05 * (top - low)), top + 0.02 * (top - low)]


def lr_finder_figure(result: dict, translate=english) -> go.Figure:
    """The range test's loss against learning rate (textgen.lr_finder.find_learning_rate's
    ``result``: its raw losses faint, the smoothed curve bold, nats per token) on a log rate
    axis, with the suggested rate marked by a dashed vertical line. Losses that were not
    finite (None) are left out."""
    rates = result.get("rates") or []
    fig = go.Figure()
    for key, name, line in (("losses", translate("loss of each batch"), dict(color=TRAIN_COLOUR, width=1)),
                            ("smoothed", translate("smoothed loss"), dict(color=VAL_COLOUR, width=2.5))):
        pairs = [(r, y) for r, y in zip(rates, result.get(key) or []) if y is not None]
        fig.add_trace(go.Scatter(x=[r for r, _ in pairs], y=[y for _, y in pairs], name=name, mode="lines",
                                 line=line, opacity=0.45 if key == "losses" else 1.0,
                                 hovertemplate="%{x:.2g}: %{y:.3f}<extra></extra>"))
    suggested = result.get("suggested")
    if suggested:
        fig.add_vline(x=suggested, line=dict(color="#2f9e44", dash="dash", width=2))
        fig.add_trace(go.Scatter(x=[suggested], y=[None], mode="lines", line=dict(color="#2f9e44", dash="dash"),
                                 name=translate("suggested: {rate:.2g}", rate=suggested)))
    span = lr_finder_range(result)
    if span is not None:
        fig.update_yaxes(range=span)
    fig.update_xaxes(type="log", title=translate("learning rate"))
    fig.update_layout(yaxis_title=translate("training loss (nats per token)"), height=320,
                      margin=dict(l=10, r=10, t=30, b=10))
    return legend_below(fig)
