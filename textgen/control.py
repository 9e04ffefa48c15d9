"""Live controls on a running job: a new learning rate, more or less time, pause, continue.

Whoever steers a job (``python -m textgen control``, the Train page) appends a request to
the run's ``control.jsonl``; the job reads new requests between steps
(``callbacks.Controls``), applies them, records them in ``metrics.jsonl`` and acknowledges
them in ``status.json``. Plain file IO only (no TensorFlow), so the CLI answers at once.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from pathlib import Path

import numpy as np

from textgen import files, runs
from textgen.config import COMMON_DEFAULTS, RANGES, check_setting
from textgen.errors import TextgenError

CONTROL_FILE = "control.jsonl"
KINDS = ("learning_rate", "add_time", "pause", "continue")
# States of a job that still reads its requests; a queued job reads them once it trains.
STEERABLE_STATES = ("queued", "running", "paused")
RECENT_KEPT = 20  # acknowledged request ids status.json keeps, so a waiting sender finds its own
POLL_S = 0.1


def control_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CONTROL_FILE


def _time_budget(run_dir: Path, status: dict):
    """The run's time budget in seconds (config.json, which the job keeps up to date; else
    status.json), or None when it trains for its epochs."""
    config = files.read_json(run_dir / "config.json", {}) or {}
    budget = config.get("time_budget") if "time_budget" in config else status.get("time_budget")
    return budget if isinstance(budget, (int, float)) and budget > 0 else None


def _seconds(value) -> float:
    """``value`` as a finite, nonzero number of seconds; TextgenError otherwise."""
    try:
        seconds = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds == 0:
        raise TextgenError("The time to add must be a number of seconds other than 0, such as 60 "
                           "(or -60 to shorten the run); {value!r} is not.", value=value)
    return seconds


def check_request(run_dir: str | os.PathLike, kind: str, value=None):
    """The request's value, checked against the run as it stands; raises TextgenError with a
    sentence for a folder that is no run, a run that has finished, or a value the run cannot
    take. The learning rate follows config.RANGES; time is in seconds, negative to shorten."""
    run_dir = Path(run_dir)
    if not runs.is_run(run_dir):
        raise TextgenError("{run_dir} is not a run folder: it holds no config.json or status.json. "
                           "Give the folder of a training run.", run_dir=str(run_dir))
    status = runs.read_status(run_dir)
    state = status.get("state")
    if state not in STEERABLE_STATES:
        raise TextgenError("This run has finished ({state}), so it cannot be steered. "
                           "Resume it to train it further.", state=state or "unknown")
    if kind not in KINDS:
        raise TextgenError("Unknown control {kind!r}. Choose learning_rate, add_time, pause or continue.",
                           kind=kind)
    if kind == "learning_rate":
        return check_setting("learning_rate", value)
    if kind == "add_time":
        seconds = _seconds(value)
        budget = _time_budget(run_dir, status)
        if budget is None:
            raise TextgenError("This run has no time budget: it trains for its set number of epochs, "
                               "so there is no time to add or take away.")
        if budget + seconds > RANGES["time_budget"][2]:
            check_setting("time_budget", budget + seconds)  # names the longest budget allowed
        return seconds
    if kind == "pause" and state == "paused":
        raise TextgenError("This run is paused already. Continue it to let it train on.")
    if kind == "continue" and state != "paused":
        raise TextgenError("This run is not paused, so there is nothing to continue.")
    return None


def send(run_dir: str | os.PathLike, kind: str, value=None) -> dict:
    """Ask the job training ``run_dir`` to apply a control; returns the request sent:
    ``id`` (hex), ``kind`` (one of KINDS), ``value`` (the learning rate; seconds to add, may
    be negative; None for pause and continue) and ``sent_at`` (Unix seconds).

    The request is checked first (``check_request``: TextgenError with a sentence) and
    appended to control.jsonl; the job applies it at its next step, within about a second.
    """
    value = check_request(run_dir, kind, value)
    request = {"id": uuid.uuid4().hex, "kind": kind, "value": value, "sent_at": time.time()}
    files.append_jsonl(control_path(run_dir), request)
    return request


def read_requests(run_dir: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int]:
    """Requests appended to control.jsonl from byte ``offset`` on, and the offset to continue
    from. Lines that are not a request of a known kind are skipped."""
    records, offset = files.read_jsonl(control_path(run_dir), offset)
    return [r for r in records if r.get("kind") in KINDS and isinstance(r.get("id"), str)], offset


def acknowledgement(status: dict, request_ids: list[str], step: int) -> dict:
    """The status.json fields that acknowledge ``request_ids``, applied at ``step``:
    ``last_control_id``, ``last_control_step`` and ``recent_controls`` ([id, step] pairs,
    the last RECENT_KEPT)."""
    recent = [pair for pair in status.get("recent_controls") or [] if isinstance(pair, list)]
    recent = (recent + [[request_id, step] for request_id in request_ids])[-RECENT_KEPT:]
    return {"last_control_id": request_ids[-1], "last_control_step": step, "recent_controls": recent}


def applied_step(status: dict, request_id: str) -> int | None:
    """The step at which the job applied ``request_id`` (from status.json), or None."""
    if status.get("last_control_id") == request_id:
        return status.get("last_control_step")
    for pair in status.get("recent_controls") or []:
        if isinstance(pair, list) and len(pair) == 2 and pair[0] == request_id:
            return pair[1]
    return None


def wait_applied(run_dir: str | os.PathLike, request_id: str, timeout_s: float = 10.0) -> int | None:
    """Wait up to ``timeout_s`` seconds for the job to acknowledge ``request_id``; returns the
    step it was applied at, or None when it has not been yet (a queued job, a slow step, a
    paused job: it applies all but a continue at the first step after it is continued, so
    there is no waiting for those)."""
    deadline = time.time() + timeout_s
    kind = None
    while True:
        status = files.read_json(Path(run_dir) / "status.json", {}) or {}
        step = applied_step(status, request_id)
        if step is not None or time.time() >= deadline:
            return step
        if status.get("state") == "paused":
            kind = kind or next((r["kind"] for r in read_requests(run_dir)[0] if r["id"] == request_id), None)
            if kind != "continue":
                return None
        if runs.read_status(run_dir).get("state") not in STEERABLE_STATES:
            return applied_step(files.read_json(Path(run_dir) / "status.json", {}) or {}, request_id)
        time.sleep(POLL_S)


def rate_text(rate: float) -> str:
    """A learning rate in three significant digits, without an exponent: 0.000899, 0.00009."""
    return np.format_float_positional(rate, precision=3, unique=False, fractional=False, trim="-")


def learning_rates(config: dict, records: list[dict]) -> dict | None:
    """The rate a job trains at beside its schedule, so that the peak a page shows is not
    taken for the rate in use: ``now`` (the latest metrics record's ``lr``), ``peak``
    (config.json's learning rate, where the schedule decays from) and ``floor`` (peak x
    ``min_lr_ratio``, where it decays to), and ``warming_up``: the rate still rises towards
    the peak (the linear warm-up of callbacks.learning_rate_at: the latest rate above the one
    before, or within the first ``warmup_steps``). None until a record holds a rate, or
    without a peak."""
    peak = config.get("learning_rate")
    rated = [r for r in records if isinstance(r.get("lr"), (int, float))]
    if not isinstance(peak, (int, float)) or not rated:
        return None
    now, step = rated[-1]["lr"], rated[-1].get("step")
    ratio = config.get("min_lr_ratio")
    ratio = ratio if isinstance(ratio, (int, float)) else COMMON_DEFAULTS["min_lr_ratio"]
    warmup = config.get("warmup_steps")
    warmup = warmup if isinstance(warmup, int) else COMMON_DEFAULTS["warmup_steps"]
    rising = len(rated) > 1 and now > rated[-2]["lr"]
    early = isinstance(step, int) and step < warmup
    return {"now": now, "peak": peak, "floor": peak * ratio, "warming_up": now < peak and (rising or early)}


def describe(kind: str, value=None, translate=None) -> str:
    """A request in a few words, as the CLI and the chart say it: "learning rate 0.001",
    "+60 s", "pause", "continue". ``translate`` (text, **params) -> str; default English."""
    translate = translate or (lambda text, **params: text.format(**params))
    if kind == "learning_rate":
        return translate("learning rate {value:g}", value=value)
    if kind == "add_time":
        return translate("+{seconds:g} s", seconds=value) if value > 0 else \
            translate("−{seconds:g} s", seconds=-value)
    return translate("pause") if kind == "pause" else translate("continue")
