"""The learning-rate range test's arithmetic, and the call that runs the test in a child process.

The range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3;
fastai's ``lr_find``) trains a fresh model for a few dozen steps while the learning rate rises
exponentially, one batch per rate, and watches the loss: it falls once the rate is large enough
to learn, then rises and blows up once it is too large. The steps themselves (Keras) are
textgen.lr_finder's, run by find_in_child so that the app never imports the backend.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
import subprocess

from textgen import child, config
from textgen.errors import TextgenError
from textgen.i18n import Message

START_RATE, END_RATE = 1e-5, 1.0
# fastai stops when the smoothed loss passes four times its minimum: the rate is far too large
# by then, and more steps only fill the chart with divergence.
BLOW_UP = 4.0
# Exponential smoothing of the per-batch losses, bias-corrected as Adam's moments. fastai smooths
# with 0.98 over its 100 steps; fewer steps (a slow model) get a shorter memory, 1 - 2 / steps,
# so the smoothing spans the same share of the range of rates (smoothing_for).
SMOOTHING_RANGE = (0.9, 0.98)
# fastai takes 100 steps; fewer where the steps are slow, but not below 50 even if that takes
# longer than asked: with fewer, the rate rises faster than the model can follow. With 20 steps
# Quick's model saw its loss jump at 1.4e-2 after ten steps of learning and the suggestion fell
# to 8e-4; with 50, 6e-3 to 7.5e-3 (tinyshakespeare's first 300,000 characters, 2 busy cores).
MIN_STEPS, MAX_STEPS = 50, 100
# A tenth of the rate at the smoothed loss's minimum is suggested (fastai's "lr_min / 10"; Smith:
# the best rates lie somewhat below where the loss stops falling). On tinyshakespeare (2026-12-01,
# 2 CPU cores, seconds=20, seed 1) it gave 1.2e-2 for Quick's model (100 steps, 16 s) and 4.6e-3
# for Balanced's (57 steps, 19 s), whose rates measured best are 1.2e-2 and 5e-3
# (benchmarks/README.md). The steepest descent of the smoothed loss, tried on earlier curves of
# the same models, gave 1.1e-3 and 2.1e-3: too cautious, so it is not used.
SUGGESTED_SHARE_OF_MINIMUM = 0.1


def rate_at(step: int, steps: int, start: float = START_RATE, end: float = END_RATE) -> float:
    """The learning rate at ``step`` (0 to steps - 1) of a test of ``steps`` steps: rising
    exponentially from ``start`` to ``end``."""
    if steps <= 1:
        return start
    return start * (end / start) ** (step / (steps - 1))


def smoothing_for(steps: int) -> float:
    """The smoothing factor for a test of ``steps`` steps: 1 - 2 / steps within SMOOTHING_RANGE."""
    low, high = SMOOTHING_RANGE
    return min(high, max(low, 1.0 - 2.0 / max(int(steps), 1)))


def smoothed(losses: list[float], beta: float = SMOOTHING_RANGE[1]) -> list[float]:
    """The exponentially smoothed ``losses`` (same length), bias-corrected so the first values
    are not pulled towards 0. A non-finite loss makes every later value infinite."""
    out, average = [], 0.0
    for i, loss in enumerate(losses):
        if not math.isfinite(loss) or not math.isfinite(average):
            average = math.inf
        else:
            average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return out


def blown_up(smooth: list[float], factor: float = BLOW_UP) -> bool:
    """Whether the last smoothed loss is not finite or above ``factor`` times the lowest so far."""
    if not smooth:
        return False
    return not math.isfinite(smooth[-1]) or smooth[-1] > factor * min(smooth)


def suggest_rate(rates: list[float], smooth: list[float]) -> float:
    """The suggested learning rate: SUGGESTED_SHARE_OF_MINIMUM of the rate where the smoothed
    loss ``smooth`` (one value per rate of ``rates``) is lowest, within config.RANGES. Raises
    TextgenError when there is no finite loss to judge."""
    finite = [(loss, rate) for loss, rate in zip(smooth, rates) if math.isfinite(loss)]
    if not finite:
        raise TextgenError("The learning-rate finder saw no finite loss. Check the settings, "
                           "or try a smaller model.")
    _, best_rate = min(finite)
    _, low, high, _ = config.RANGES["learning_rate"]
    return float(min(high, max(low, best_rate * SUGGESTED_SHARE_OF_MINIMUM)))


def find_in_child(settings: dict, corpus_spec: list[str], seconds: float = 20.0,
                  timeout_s: float | None = None) -> dict:
    """textgen.lr_finder.find_learning_rate of ``settings`` (resolved, config.resolve_config; a
    fine-tune names its base in ``init_from``) on the corpus ``corpus_spec``, in a child process:
    about ``seconds`` of steps plus loading the backend (longer for a model so slow that
    MIN_STEPS steps take longer). Raises TextgenError when the test fails (its sentence where
    the child raised one) or takes longer than ``timeout_s`` (default: ``seconds`` + 300)
    seconds."""
    timeout_s = float(timeout_s if timeout_s is not None else seconds + 300.0)
    try:
        result = child.call("textgen.lr_finder:find_in_this_process", dict(settings), list(corpus_spec),
                            float(seconds), timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        raise TextgenError("The learning-rate finder took more than {seconds:.0f} seconds; try smaller "
                           "settings.", seconds=timeout_s) from None
    except child.ChildFailed:
        raise TextgenError("The learning-rate finder failed on this machine with these settings.") from None
    if not isinstance(result, dict) or "suggested" not in result:
        raise TextgenError("The learning-rate finder failed on this machine with these settings.")
    problem = result.get("error")
    if isinstance(problem, dict):  # a TextgenError in the child: its sentence, in English
        raise TextgenError("The learning-rate finder could not run: {problem}",
                           problem=Message(str(problem.get("template", "")), **(problem.get("params") or {})))
    return result
