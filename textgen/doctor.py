"""The loss-curve doctor: what a run's curves say is going wrong, and what to try.

A training job hands ``diagnose`` its metrics.jsonl records as they are written and
appends the notes it returns to notes.jsonl; pages and the report show them. Three
kinds: ``overfitting`` (the held-out loss stopped falling while the training loss keeps
falling), ``diverging`` (the training loss runs away) and ``plateau`` (both losses flat).
Each kind is noted once, and again only after its situation cleared and came back.

Pure functions of records and settings: no TensorFlow, no Plotly, no Streamlit. Losses are
in nats per character, as metrics.jsonl holds them.
"""

from __future__ import annotations

import math

NOTES_FILE = "notes.jsonl"  # in the run folder: one note per line, appended as they come
KINDS = ("overfitting", "diverging", "plateau")

# Every sentence a note can say, English, filled in with the note's ``params``; pages
# translate ``template`` with the same params (as i18n.Message does for status.json).
MESSAGES = {
    "overfitting": ("The model has started memorising: its held-out loss rose from {best:.3f} "
                    "(step {best_step}) to {latest:.3f} nats per character while its training loss "
                    "kept falling. Try more dropout or more text, or stop here: the best checkpoint "
                    "is already kept."),
    "rising": ("The training loss is rising: from {low:.2f} to {now:.2f} nats per character. The "
               "learning rate {lr:.2g} is too high: lower it to about {lower:.2g} (a third) with the "
               "learning-rate control on Train, or python -m textgen control RUN_DIR "
               "--learning-rate {lower:.2g}."),
    "not_finite": ("The loss became infinite or NaN at step {step}: the learning rate {lr:.2g} is far "
                   "too high. Lower it to about {lower:.2g} (a third) with the learning-rate control "
                   "on Train, or python -m textgen control RUN_DIR --learning-rate {lower:.2g}."),
    "diverged": ("Training diverged and was stopped at step {step}: the learning rate {lr:.2g} is too "
                 "high for this model. Train again with {lower:.2g} or lower."),
    "plateau": ("Both losses have hardly moved since step {since} (held-out {before:.3f} to {now:.3f} "
                "nats per character): the model has learnt what it can at this size and learning "
                "rate. Try a lower learning rate, a bigger model or more text, or stop here."),
    "no_learning": ("The losses have not moved from a blind guess ({uniform:.2f} nats per character) "
                    "since step {since}: the learning rate {lr:.2g} is too low to learn anything. "
                    "Try a higher one, {higher:.2g} say."),
}

SMOOTH_RECORDS = 5
"""Training-loss records averaged into one point (about 2.5 s of training at METRICS_EVERY_S):
one record covers a few batches, whose losses scatter by several per cent."""

OVERFIT_SCORES_AFTER_BEST = 2
"""Held-out scores the best must lie back: one score above the best is noise as often as not."""
OVERFIT_MARGIN = 0.02
"""How far (relative) the latest held-out loss must be above the best. Successive scores of
a settled run on the same held-out text differ by well under 1 %; 2 % is a real rise."""
OVERFIT_TRAIN_FALL = 0.01
"""How much (relative) the smoothed training loss must have fallen since the best held-out
score: the training loss falling while the held-out one rises is the textbook sign of
overfitting (Goodfellow, Bengio and Courville, Deep Learning, 2016, section 7.8)."""

RISE_MARGIN = 0.3
"""Nats per character the smoothed training loss must climb above its lowest point: more
than batch noise, yet well before callbacks.DivergenceWatch ends the run (1 nat per token
or more above where the run started)."""
RISE_SHARE = 0.2
"""... or this share of the lowest point, where that is more (a high loss moves more)."""

PLATEAU_SCORES = 4
"""Held-out scores a plateau must span (the first included): fewer cannot tell flat from slow."""
PLATEAU_MIN_STEPS = 100
PLATEAU_RUN_SHARE = 0.2
"""A plateau must last at least this share of the steps so far (and PLATEAU_MIN_STEPS):
a loss that fell for 10,000 steps is not flat after 200 slow ones."""
PLATEAU_GAIN = 0.01
"""Held-out improvement (relative, best before the window to best now) below which it is
flat. Early stopping waits for no improvement at all; this notes it sooner, as the
"plateau" test of Keras' ReduceLROnPlateau does with its min_delta."""
PLATEAU_TRAIN_FALL = 0.02
"""The smoothed training loss must have fallen less than this (relative) over the window:
a falling training loss under a flat held-out one is the start of overfitting instead."""
TINY_LR_SHARE = 0.25
"""Below this share of the run's set learning rate the schedule has decayed the rate:
a flat curve then is the schedule ending, not a plateau to act on."""
BLIND_GUESS_SHARE = 0.9
"""A character model whose held-out loss is above this share of ln(vocabulary size), the
uniform guess, has learnt next to nothing."""


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _steps(records):
    return [r for r in records if _finite(r.get("step"))]


def _scores(records):
    """(step, val_loss) of every held-out score, oldest first."""
    return [(r["step"], r["val_loss"]) for r in records if _finite(r.get("val_loss"))]


def _train(records):
    """(step, train_loss) of every record with a finite training loss, oldest first."""
    return [(r["step"], r["train_loss"]) for r in records if _finite(r.get("train_loss"))]


def _smoothed_at(train, step) -> float | None:
    """Mean training loss of the SMOOTH_RECORDS records up to ``step``."""
    values = [loss for s, loss in train if s <= step][-SMOOTH_RECORDS:]
    return sum(values) / len(values) if values else None


def _rolling(train) -> list[tuple[int, float]]:
    """(step, mean of the SMOOTH_RECORDS losses ending there) for each full window."""
    out, total = [], 0.0
    for i, (step, loss) in enumerate(train):
        total += loss
        if i >= SMOOTH_RECORDS:
            total -= train[i - SMOOTH_RECORDS][1]
        if i >= SMOOTH_RECORDS - 1:
            out.append((step, total / SMOOTH_RECORDS))
    return out


def _rise_margin(floor: float) -> float:
    return max(RISE_MARGIN, RISE_SHARE * floor)


def _current_lr(records, config) -> float | None:
    lr = next((r["lr"] for r in reversed(records) if _finite(r.get("lr"))), None)
    lr = lr if lr is not None else config.get("learning_rate")
    return lr if _finite(lr) and lr > 0 else None


def _round(value: float) -> float:
    """``value`` to one significant figure: a learning rate to type in."""
    return float(f"{value:.1g}")


def lower_learning_rate(lr: float) -> float:
    """The learning rate a diverging run is told to try: a third of ``lr``, to one figure.

    A third steps well down without giving up most of the speed; the common halving
    may not be enough once the loss runs away."""
    return _round(lr / 3)


def make_note(step: int, kind: str, template: str, /, **params) -> dict:
    """A notes.jsonl record: ``{"step", "kind", "message", "template", "params"}``, the message
    being ``template`` (one of MESSAGES) in English, filled in with ``params``."""
    return {"step": int(step), "kind": kind, "message": template.format(**params),
            "template": template, "params": params}


def overfitting(records: list[dict]) -> dict | None:
    """An ``overfitting`` note when the held-out loss stopped falling while the training loss
    kept falling, else None.

    The best held-out score must be at least OVERFIT_SCORES_AFTER_BEST scores back, the latest
    more than OVERFIT_MARGIN (relative) above it, and the smoothed training loss at the latest
    score more than OVERFIT_TRAIN_FALL below its value at the best."""
    scores = _scores(records)
    if len(scores) <= OVERFIT_SCORES_AFTER_BEST:
        return None
    best_index = min(range(len(scores)), key=lambda i: scores[i][1])
    (best_step, best), (latest_step, latest) = scores[best_index], scores[-1]
    if len(scores) - 1 - best_index < OVERFIT_SCORES_AFTER_BEST or latest <= best * (1 + OVERFIT_MARGIN):
        return None
    train = _train(records)
    then, now = _smoothed_at(train, best_step), _smoothed_at(train, latest_step)
    if then is None or now is None or now >= then * (1 - OVERFIT_TRAIN_FALL):
        return None
    return make_note(latest_step, "overfitting", MESSAGES["overfitting"], best=best, best_step=int(best_step),
                     latest=latest)


def diverging(records: list[dict], config: dict) -> dict | None:
    """A ``diverging`` note when the latest record holds an infinite or NaN loss, or when the
    smoothed training loss (SMOOTH_RECORDS records) has climbed more than ``_rise_margin``
    above its lowest point so far; else None."""
    records = _steps(records)
    if not records:
        return None
    latest = records[-1]
    lr = _current_lr(records, config)
    if any(isinstance(latest.get(k), float) and not math.isfinite(latest[k]) for k in ("train_loss", "val_loss")):
        return make_note(latest["step"], "diverging", MESSAGES["not_finite"], step=int(latest["step"]),
                         lr=lr or 0.0, lower=lower_learning_rate(lr) if lr else 0.0)
    rolling = _rolling(_train(records))
    if len(rolling) < 2 or lr is None:
        return None
    floor = min(mean for _, mean in rolling[:-1])
    now = rolling[-1][1]
    if now <= floor + _rise_margin(floor):
        return None
    return make_note(rolling[-1][0], "diverging", MESSAGES["rising"], low=floor, now=now, lr=lr,
                     lower=lower_learning_rate(lr))


def plateau(records: list[dict], config: dict) -> dict | None:
    """A ``plateau`` note when both losses have been flat, else None.

    Flat: the held-out scores since the window began (at least PLATEAU_SCORES of them, over
    at least PLATEAU_MIN_STEPS steps and PLATEAU_RUN_SHARE of the run's steps) improved the
    best by less than PLATEAU_GAIN, and the smoothed training loss fell less than
    PLATEAU_TRAIN_FALL; never while the schedule has decayed the learning rate below
    TINY_LR_SHARE of the set one. A character model still at a blind guess is told its
    learning rate is too low instead."""
    scores = _scores(records)
    if len(scores) < PLATEAU_SCORES:
        return None
    latest_step = scores[-1][0]
    span = max(PLATEAU_MIN_STEPS, PLATEAU_RUN_SHARE * latest_step)
    starts = [i for i, (step, _) in enumerate(scores) if step <= latest_step - span]
    if not starts or len(scores) - starts[-1] < PLATEAU_SCORES:
        return None
    start = starts[-1]
    since, before = scores[start][0], min(loss for _, loss in scores[:start + 1])
    now = min(loss for _, loss in scores)
    if before - now >= PLATEAU_GAIN * before:
        return None
    train = _train(records)
    train_then, train_now = _smoothed_at(train, since), _smoothed_at(train, latest_step)
    if train_then is None or train_now is None or train_then - train_now >= PLATEAU_TRAIN_FALL * train_then:
        return None
    lr, set_lr = _current_lr(records, config), config.get("learning_rate")
    if lr is None or (_finite(set_lr) and lr < TINY_LR_SHARE * set_lr):
        return None
    vocab = config.get("vocab_size")
    if config.get("tokenizer") == "char" and _finite(vocab) and vocab > 1 \
            and now >= BLIND_GUESS_SHARE * math.log(vocab):
        return make_note(latest_step, "plateau", MESSAGES["no_learning"], uniform=math.log(vocab),
                         since=int(since), lr=lr, higher=_round(lr * 10))
    return make_note(latest_step, "plateau", MESSAGES["plateau"], since=int(since), before=before, now=now)


def _best_up_to(records, step) -> float | None:
    losses = [loss for s, loss in _scores(records) if s <= step]
    return min(losses) if losses else None


def cleared(kind: str, records: list[dict], since_step: int) -> bool:
    """Whether the situation of a ``kind`` note made at ``since_step`` has cleared since.

    overfitting and plateau: a held-out score after it beat the best there was (plateau:
    by PLATEAU_GAIN); diverging: the smoothed training loss fell back to within half the
    rise margin of its lowest point before the note."""
    if kind == "diverging":
        rolling = _rolling(_train(records))
        before = [mean for step, mean in rolling if step < since_step]
        if not before:
            return False
        floor = min(before)
        return any(mean <= floor + _rise_margin(floor) / 2 for step, mean in rolling if step > since_step)
    best_then = _best_up_to(records, since_step)
    later = [loss for step, loss in _scores(records) if step > since_step]
    if best_then is None or not later:
        return False
    gain = PLATEAU_GAIN * best_then if kind == "plateau" else 0.0
    return min(later) < best_then - gain


RULES = {"overfitting": lambda records, config: overfitting(records),
         "diverging": diverging, "plateau": plateau}


def diagnose(records: list[dict], config: dict, notes_so_far: list[dict]) -> list[dict]:
    """The NEW notes on a run's curves: a list of ``make_note`` dicts, empty when nothing new.

    ``records``: its metrics.jsonl records so far, oldest first (``step``, ``train_loss`` and
    where measured ``val_loss`` and ``lr``); ``config``: its settings (``learning_rate``,
    ``tokenizer``, ``vocab_size`` are read where present); ``notes_so_far``: the notes already
    written. A kind already noted is noted again only once its situation ``cleared`` since."""
    new = []
    for kind, rule in RULES.items():
        last = next((n for n in reversed(notes_so_far) if n.get("kind") == kind), None)
        if last is not None and not cleared(kind, records, last.get("step", 0)):
            continue
        note = rule(records, config or {})
        if note is not None and (last is None or note["step"] > last.get("step", 0)):
            new.append(note)
    return new


def diverged_note(step: int, lr: float, lower: float) -> dict:
    """The ``diverging`` note of a run that ended because it diverged, at ``step``; ``lr`` the
    rate it had, ``lower`` the one its end message suggests (callbacks.safer_learning_rate)."""
    return make_note(step, "diverging", MESSAGES["diverged"], step=int(step), lr=lr, lower=lower)


def note_text(note: dict, translate) -> str:
    """A note's sentence written with ``translate`` ((text, **params) -> str), from its template
    and params where it keeps them, else its English message."""
    template, params = note.get("template"), note.get("params")
    if isinstance(template, str) and template and isinstance(params, dict):
        return translate(template, **params)
    return str(note.get("message") or "")
