"""A run's recorded curves read back: metrics.jsonl, samples.jsonl, notes.jsonl, and the figures
the Train page shows beside them.

A training job appends to these files while pages read them, so a reader keeps, per
file, how far it has read and the records so far: each call reads only what was
appended since the last. A file that shrank was rewritten (a new run under the same
name) and is read again from its start.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from pathlib import Path

from textgen import doctor
from textgen.charts import best_point
from textgen.files import read_json, read_jsonl
from textgen.runs import ACTIVE_STATES

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"
NOTES_FILE = doctor.NOTES_FILE  # the loss-curve doctor's notes, read like the others


def file_size(path: str | os.PathLike) -> int:
    """Size of ``path`` in bytes; 0 for a file that does not exist (yet)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def has_metrics(run_dir: str | os.PathLike) -> bool:
    """Whether the run has recorded at least part of its first metrics record."""
    return file_size(Path(run_dir) / METRICS_FILE) > 0


class RecordsReader:
    """Incremental reader of jsonl files; keep one per session and ask it again and again."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[int, list[dict]]] = {}  # path: (bytes read, records)

    def records(self, run_dir: str | os.PathLike, filename: str = METRICS_FILE) -> list[dict]:
        """Every complete record of ``run_dir/filename`` (a list of dicts, oldest first;
        empty for a missing file). The list returned grows with later calls: do not change it."""
        path = Path(run_dir) / filename
        key = str(path)
        size = file_size(path)
        offset, records = self._files.get(key, (0, None))
        if records is None or size < offset:
            offset, records = 0, []
        if size > offset:
            new, offset = read_jsonl(path, offset)
            records.extend(new)
        self._files[key] = (offset, records)
        return records

    def base_records(self, run_dir: str | os.PathLike) -> list[dict] | None:
        """The metrics of the run a fine-tune started from, so its curve continues that
        one; None for a run trained from scratch or a base without recorded metrics."""
        base = base_run(run_dir)
        if base is None or not (base / METRICS_FILE).exists():
            return None
        return self.records(base)


def live_samples(samples: list[dict]) -> list[dict]:
    """The samples.jsonl records written while the run trained (not the kept model's), oldest first."""
    return [s for s in samples if not s.get("kept")]


def kept_sample(samples: list[dict]) -> dict | None:
    """The kept model's sample (``"kept": true``) written when training last ended, or None.

    Only the file's last record counts: a live sample after it means the run trained on
    since, and model.keras may have changed."""
    return samples[-1] if samples and samples[-1].get("kept") else None


def sample_settings(sample: dict) -> tuple[float, int | None]:
    """(temperature, seed) a samples.jsonl record was written with; records that do not
    say were written at temperature 0.8 with their step as the seed."""
    return sample.get("temperature", 0.8), sample.get("seed", sample.get("step"))


def learning_timeline(samples: list[dict], records: list[dict]) -> list[dict]:
    """The samples a run wrote as it learnt, each beside the held-out loss it had then:
    what "Watch it learn" slides through.

    ``samples``: samples.jsonl records; ``records``: metrics.jsonl records. Returns the
    live samples oldest first, then the kept model's (``kept_sample``) last, each as
    ``{"step": int, "time": seconds of training when it was written or None, "text": str,
    "kept": bool, "val_loss": held-out loss in nats per character or None, "val_step": int
    or None}``. ``val_loss`` comes from the latest metrics record with a finite
    ``val_loss`` at or before the sample's step (``val_step`` is that record's step): the
    score of the weights nearest to those that wrote it, never one measured later.
    Samples without a step or a text are left out.
    """
    scored = sorted((r["step"], r["val_loss"]) for r in records
                    if isinstance(r.get("step"), (int, float)) and _number(r.get("val_loss")) is not None)
    steps = [step for step, _ in scored]
    kept = kept_sample(samples)
    timeline = []
    for sample in live_samples(samples) + ([kept] if kept else []):
        step, text = sample.get("step"), sample.get("text", sample.get("sample"))
        if not isinstance(step, (int, float)) or not isinstance(text, str):
            continue
        at = bisect.bisect_right(steps, step) - 1  # the last score at or before this step
        timeline.append({"step": int(step), "time": _number(sample.get("time")), "text": text,
                         "kept": bool(sample.get("kept")),
                         "val_loss": scored[at][1] if at >= 0 else None,
                         "val_step": int(scored[at][0]) if at >= 0 else None})
    return timeline


def read_records(run_dir: str | os.PathLike, filename: str = METRICS_FILE) -> list[dict]:
    """Every complete record of ``run_dir/filename`` read at once (see RecordsReader)."""
    return RecordsReader().records(run_dir, filename)


def base_run(run_dir: str | os.PathLike) -> Path | None:
    """The folder of the run a fine-tune started from (config.json's ``init_from``), or None."""
    base = (read_json(Path(run_dir) / "config.json", {}) or {}).get("init_from")
    return Path(base) if base else None


def _number(value) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def live_figures(status: dict, records: list[dict], now: float | None = None) -> dict:
    """The numbers shown above a run's live curve, from its status.json and metrics records.

    Returns ``step`` (int), ``train_loss`` and ``best_val_loss`` (nats per token),
    ``chars_per_sec`` and ``elapsed_s`` (seconds of training in this session so far, from
    status.json's ``started_at``, less the seconds it was paused: ``paused_s``, and the
    current pause from ``paused_at``; the whole session's once it ended). Each is None
    where not known yet. ``now`` defaults to the current time.
    """
    now = time.time() if now is None else now
    state = status.get("state")
    latest = records[-1] if records else {}
    best_loss = status.get("best_val_loss")
    if best_loss is None:
        best = best_point(records)
        best_loss = best["val_loss"] if best else None
    speed = next((r["chars_per_sec"] for r in reversed(records) if r.get("chars_per_sec")), None)
    started = status.get("started_at")
    end = status.get("updated_at") if state not in ACTIVE_STATES else now
    # A queued run has no training time yet (a resumed one still holds its last session's start).
    elapsed = end - started if isinstance(started, (int, float)) and end and state != "queued" else None
    if elapsed is not None:
        # Paused time is no training time, as on the job's own clock (callbacks.RunClock).
        paused, paused_at = _number(status.get("paused_s")) or 0.0, _number(status.get("paused_at"))
        if paused_at is not None:
            paused += max(end - paused_at, 0.0)
        elapsed = max(elapsed - paused, 0.0)
    return {"step": status.get("step") or latest.get("step") or 0, "train_loss": _number(latest.get("train_loss")),
            "best_val_loss": _number(best_loss), "chars_per_sec": _number(speed), "elapsed_s": elapsed}
