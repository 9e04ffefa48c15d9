"""A run's checkpoints on disk: the best model, the resume checkpoint, and reading them back.

``model.keras`` holds the weights with the lowest held-out loss so far (no optimizer);
``checkpoint/state.npz`` holds the latest weights, optimizer state and progress, for
``--resume``. Both are written whole or not at all. ``restore_run`` puts a model back
where a stopped or killed run left off, reading files only.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np

from textgen import files
from textgen.errors import TextgenError
from textgen.models import load_weights

# The progress a resume checkpoint keeps, besides the weights and the optimizer state.
CHECKPOINT_KEEPS = ("step", "total_steps", "best_val_loss", "best_step", "evals_since_best", "elapsed")


def inference_model(model):
    """The same layers without the optimizer, so model.keras holds weights only."""
    return keras.Model(model.inputs, model.outputs, name=model.name)


def save_best_model(run_dir, model):
    """Write ``model``'s weights (no optimizer) to ``run_dir/model.keras``, whole or not at
    all. Raises OSError when the disk refuses it."""
    with files.atomic_path(Path(run_dir) / "model.keras") as tmp:
        inference_model(model).save(tmp)


def save_checkpoint(run_dir, model, progress):
    """Latest weights, optimizer state and progress for ``--resume``: one file, written atomically.

    ``progress``: a dict with the ``CHECKPOINT_KEEPS`` (step, the run's clock in seconds as
    ``elapsed``, best score ...). It is the archive's comment, so
    a kill at any moment leaves either the old checkpoint or the new one whole, never weights
    of one step beside the progress of another. Raises OSError when the disk refuses it.
    """
    folder = Path(run_dir) / "checkpoint"
    folder.mkdir(exist_ok=True)
    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v)
                   for i, v in enumerate(model.optimizer.variables)})
    with files.atomic_path(folder / "state.npz") as tmp:
        np.savez(tmp, **arrays)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.comment = json.dumps({k: progress.get(k) for k in CHECKPOINT_KEEPS}).encode()
    (folder / "meta.json").unlink(missing_ok=True)  # an older layout's progress file: stale now


def checkpoint_meta(run_dir):
    """The progress a run's resume checkpoint holds (a dict with at least ``step``), or None
    when it has no whole one. Reads the file only."""
    folder = Path(run_dir) / "checkpoint"
    try:
        with zipfile.ZipFile(folder / "state.npz") as archive:
            comment = archive.comment
        # A checkpoint of an older layout kept its progress beside it, in meta.json.
        meta = json.loads(comment) if comment else files.read_json(folder / "meta.json")
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    ok = isinstance(meta, dict) and isinstance(meta.get("step"), int) and meta["step"] >= 0
    return meta if ok else None


def restore_checkpoint(run_dir, model):
    """Load the resume checkpoint's weights and optimizer state into ``model``; returns its
    progress. Everything is checked before anything is assigned: a checkpoint that does not
    fit the model raises TextgenError and leaves the model as it was."""
    meta = checkpoint_meta(run_dir)
    damaged = TextgenError("The resume checkpoint of this run is damaged.")
    if meta is None:
        raise damaged
    try:
        with np.load(Path(run_dir) / "checkpoint" / "state.npz", allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        raise damaged from None
    model.optimizer.build(model.trainable_variables)
    pairs = [(v, arrays.get(f"w{i}")) for i, v in enumerate(model.weights)]
    pairs += [(v, arrays.get(f"o{i}")) for i, v in enumerate(model.optimizer.variables)]
    if len(arrays) != len(pairs) or any(a is None or tuple(a.shape) != tuple(v.shape)
                                        for v, a in pairs):
        raise damaged
    for v, a in pairs:
        v.assign(a)
    return meta


def best_record(path):
    """The metrics record with the lowest held-out loss (the one model.keras was saved at), or None."""
    scored = [r for r in files.read_jsonl(path)[0]
              if isinstance(r.get("val_loss"), (int, float)) and isinstance(r.get("step"), int)]
    return min(scored, key=lambda r: r["val_loss"], default=None)


def restore_run(run_dir, model, score):
    """Put ``model`` where a stopped or killed run left off, reading files only.

    From the resume checkpoint when there is a whole one; else from the best model
    (model.keras) with a fresh optimizer; else from step 0, when the run stopped before
    saving either. ``score()`` gives the held-out loss of the weights ``model`` holds: the
    best model is scored again, since it may be newer than the checkpoint.
    Returns ``{"state": progress to continue from, "elapsed": the run's clock in seconds,
    "note": a sentence saying where it continues, None from the checkpoint}``.
    """
    best_path = Path(run_dir) / "model.keras"
    record = best_record(Path(run_dir) / "metrics.jsonl")
    progress = {"best_val_loss": None, "best_step": None, "evals_since_best": 0}
    if best_path.exists():
        try:
            load_weights(model, best_path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            raise TextgenError("The best model of this run (model.keras) is damaged, so the run "
                               "cannot be resumed. Start a new run instead.") from None
        progress.update(best_val_loss=score(), best_step=record["step"] if record else None)
    try:
        meta = restore_checkpoint(run_dir, model)
    except TextgenError:
        meta = None
    if meta is not None:
        kept = {k: meta[k] for k in ("step", "evals_since_best") if meta.get(k) is not None}
        return {"state": {**progress, **kept}, "elapsed": meta.get("elapsed") or 0.0, "note": None}
    if best_path.exists():
        step = record["step"] if record else 0
        note = (f"This run has no whole resume checkpoint, so it continues from its best model "
                f"(step {step:,}) with a fresh optimizer.")
        state = {**progress, "step": step, "warmup_from": step}
        return {"state": state, "elapsed": float(record.get("time") or 0.0) if record else 0.0,
                "note": note}
    return {"state": {**progress, "step": 0}, "elapsed": 0.0,
            "note": "This run stopped before it saved a model, so it starts again from step 0."}


def clear_torn_writes(run_dir):
    """Remove what a killed writer left half done: temporary model and checkpoint files
    (textgen.files.atomic_path names them .<name>.<random>.tmp<suffix>)."""
    run_dir = Path(run_dir)
    for tmp in [*run_dir.glob(".model.*.tmp.keras"), *run_dir.glob("checkpoint/.state.*.tmp.npz")]:
        tmp.unlink(missing_ok=True)


def truncate_log(path, last_step):
    """Drop records written after the checkpoint we resume from, so steps never repeat.

    Returns the last step the log keeps (-1 for none)."""
    records, _ = files.read_jsonl(path)
    kept = [r for r in records if isinstance(r.get("step", 0), int) and r.get("step", 0) <= last_step]
    files.atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                           for r in kept).encode("utf-8"))
    return max((r.get("step", 0) for r in kept), default=-1)
