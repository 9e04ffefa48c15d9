"""The learning-rate range test: a fresh model of the chosen settings trained for a few dozen
steps while the learning rate rises exponentially (textgen.lr_range holds the arithmetic and
the method's sources). Imports Keras: the app runs it in a child process
(lr_range.find_in_child), never in its own.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from textgen import lr_range
from textgen.backend import configure_devices
from textgen.config import COMMON_DEFAULTS, fine_tune_config, short_window
from textgen.corpus import load_corpus, require_min_length, require_min_tokens, split_text
from textgen.errors import TextgenError
from textgen.inference import check_saved_model
from textgen.tokenizers import run_tokenizer
from textgen.training import RandomWindows, compiled_model

# The tokenizer is built on at most this much of the training text: a subword vocabulary of a
# 50 MB text takes minutes to learn, and a few million characters give the rate the same answer.
MAX_CHARS = 2_000_000


def find_learning_rate(config: dict, corpus, seconds: float = 20.0, steps: int | None = None,
                       start: float = lr_range.START_RATE, end: float = lr_range.END_RATE) -> dict:
    """The range test (Smith 2017, section 3.3; fastai's lr_find) of ``config`` (resolved,
    config.resolve_config; ``init_from`` starts from that run's weights and vocabulary, as a
    fine-tune does) on ``corpus``: a corpus spec (textgen.corpus.load_corpus) or training token
    ids (a 1-D int array, for a character model of ``config["vocab_size"]`` tokens).

    One batch of random training windows per rate, the rate rising exponentially from
    ``start`` to ``end`` over ``steps`` steps (default: as many as fit in ``seconds``, from
    lr_range.MIN_STEPS to MAX_STEPS); stops early when the smoothed loss blows up (lr_range.blown_up) or the time is spent.

    Returns {"rates": [...], "losses": [...] (raw, nats per token), "smoothed": [...],
    "suggested": the suggested rate (lr_range.suggest_rate), "minimum_rate": the rate at the
    smoothed minimum, "steps": steps taken, "stopped": "blow-up", "time" or "end",
    "seconds": wall clock}. Raises TextgenError on a corpus too short for the settings or a
    damaged base run."""
    began = time.perf_counter()
    config = {**COMMON_DEFAULTS, **config}
    configure_devices()
    base_config = None
    if config.get("init_from"):
        base_config, _ = check_saved_model(config["init_from"])
        config = fine_tune_config(config, {}, base_config)
    ids, vocab_size = _training_ids(config, corpus)
    seed = config["seed"] if config.get("seed") is not None else 0
    keras.utils.set_random_seed(seed)  # the same settings and corpus give about the same curve
    model = compiled_model(config, base_config, vocab_size)
    windows = RandomWindows(ids, config, seed)  # short windows throughout: the rates of most of a run

    def step(i: int, rate: float) -> float:
        model.optimizer.learning_rate.assign(rate)
        x, y = windows[i]
        return float(np.asarray(model.train_on_batch(x, y)).reshape(-1)[0])

    # The first step compiles; its loss (at the start rate, which barely moves the weights)
    # is the curve's first point. A second one at that rate, timed and left off the curve,
    # tells how many steps fit.
    losses = [step(0, start)]
    if steps is None:
        timed = time.perf_counter()
        step(1, start)
        per_step = max(time.perf_counter() - timed, 1e-6)
        left = seconds - (time.perf_counter() - began)
        steps = int(min(lr_range.MAX_STEPS, max(lr_range.MIN_STEPS, left / per_step)))
    rates, beta = [start], lr_range.smoothing_for(steps)
    stopped = "end"
    while len(losses) < steps:
        smooth = lr_range.smoothed(losses, beta)
        if lr_range.blown_up(smooth):
            stopped = "blow-up"
            break
        if time.perf_counter() - began > seconds and len(losses) >= lr_range.MIN_STEPS:
            stopped = "time"
            break
        rate = lr_range.rate_at(len(losses), steps, start, end)
        rates.append(rate)
        losses.append(step(len(losses) + 1, rate))
    smooth = lr_range.smoothed(losses, beta)
    if stopped == "end" and lr_range.blown_up(smooth):
        stopped = "blow-up"
    finite = [(loss, rate) for loss, rate in zip(smooth, rates) if math.isfinite(loss)]
    return {"rates": rates, "losses": [_json_number(x) for x in losses],
            "smoothed": [_json_number(x) for x in smooth],
            "suggested": lr_range.suggest_rate(rates, smooth),
            "minimum_rate": min(finite)[1] if finite else None,
            "steps": len(losses), "stopped": stopped, "seconds": time.perf_counter() - began}


def find_in_this_process(config: dict, corpus_spec: list[str], seconds: float = 20.0) -> dict:
    """find_learning_rate for lr_range.find_in_child: a TextgenError comes back as
    {"error": {"template", "params"}, "suggested": None}, so the app can show its sentence."""
    try:
        return find_learning_rate(config, corpus_spec, seconds)
    except TextgenError as e:
        params = {k: v if isinstance(v, (int, float, str)) else str(v) for k, v in e.params.items()}
        return {"error": {"template": e.template, "params": params}, "suggested": None}


def _training_ids(config: dict, corpus) -> tuple[np.ndarray, int]:
    """(the training split's token ids, the vocabulary size) the run would train on."""
    if not isinstance(corpus, (str, list, tuple)):
        ids = np.asarray(corpus, dtype=np.int32)
        require_min_tokens(len(ids), short_window(config))
        return ids, int(config.get("vocab_size") or ids.max() + 1)
    text = load_corpus(corpus).text
    require_min_length(text, config)  # the windows it reads
    train_text, _ = split_text(text, config["val_fraction"])
    train_text = train_text[:MAX_CHARS]
    tokenizer = run_tokenizer(train_text, config["tokenizer"], config["max_vocab"], config.get("init_from"))
    ids = np.asarray(tokenizer.encode(train_text), dtype=np.int32)
    require_min_tokens(len(ids), short_window(config))
    return ids, tokenizer.vocab_size


def _json_number(x: float) -> float | None:
    """``x``, or None where it is not finite (JSON has no infinity)."""
    return float(x) if math.isfinite(x) else None
