"""The training path, start to finish.

``train`` reads the corpus, builds the tokenizer and model, and runs
``model.fit`` on random windows of the training split. One callback,
``RunMonitor``, does everything a run folder needs while training: it streams
metrics, scores the held-out split now and then, keeps the best checkpoint,
writes samples and the status heartbeat, and stops cleanly on a STOP file,
SIGTERM, the time budget, early stopping or a diverging loss.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import keras

from textgen import capacity, runs, __version__
from textgen.config import PRESETS, fine_tune_config
from textgen.corpus import (load_corpus, split_text, require_min_length, held_out_record,
                            run_held_out_warning)
from textgen.backend import configure_devices, choose_parallel, Parallel
from textgen.errors import TextgenError
from textgen.evaluation import HeldOutText, Scorer
from textgen.inference import check_saved_model
from textgen.models import build_model, body_layers, load_weights
from textgen.sampling import Sampler, never_sampled, start_token
from textgen.tokenizers import run_tokenizer, save_tokenizer, load_tokenizer
from textgen.unknowns import (attach_spelling_counts, spelling_nats_per_char, unknown_shares,
                              unknown_text_warning)

CHECKPOINT_EVERY_S = 30.0  # default; a run's config may set checkpoint_every_s
SAVE_FAILED = ("Could not write the checkpoint: the disk is full or not writable. "
               "The previous checkpoint is kept.")
HEARTBEAT_EVERY_S = 1.0
STOP_REASONS = {1: ("stopped", "Stopped on request. The best checkpoint is kept."),
                2: ("completed", "Finished: the time budget ran out after {steps:,} steps."),
                3: ("completed", "Finished all epochs.")}
METRICS_EVERY_S = 0.5
# The progress a resume checkpoint keeps, besides the weights and the optimizer state.
CHECKPOINT_KEEPS = ("step", "total_steps", "best_val_loss", "best_step", "evals_since_best", "elapsed")


class RandomWindows(keras.utils.PyDataset):
    """Endless batches of (x, y) windows at random offsets of the training ids.

    Batch ``i`` depends only on the seed and the global step, so a resumed run
    sees exactly the data it would have seen without the interruption. Windows
    are gathered on the fly: overlapping windows are never materialised.
    ``shard``: this process's number when several processes (machines) train
    together, each feeding its own share of the global batch.
    """

    def __init__(self, ids, seq_len, batch_size, seed, first_step=0, shard=None):
        super().__init__()
        self.ids, self.seq_len, self.batch_size = ids, seq_len, batch_size
        self.seed, self.first_step, self.shard = seed, first_step, shard
        self.span = np.arange(seq_len + 1)

    @property
    def num_batches(self):
        return None  # endless; the training loop decides when to stop

    def __getitem__(self, i):
        key = (self.seed, self.first_step + i) + (() if self.shard is None else (self.shard,))
        rng = np.random.default_rng(key)
        starts = rng.integers(0, len(self.ids) - self.seq_len - 1, self.batch_size, endpoint=True)
        windows = self.ids[starts[:, None] + self.span]
        return windows[:, :-1], windows[:, 1:]


def total_steps_for(config, train_tokens):
    """Training steps for the set number of epochs: each step reads batch_size x seq_len
    tokens, so the epoch shown never passes the setting (at least one step)."""
    return max(1, int(config["epochs"] * train_tokens // (config["batch_size"] * config["seq_len"])))


def warmup_length(config, total_steps):
    return min(config["warmup_steps"], max(total_steps // 10, 1))


def learning_rate_at(config, step, total_steps, time_progress=0.0, warmup_from=0):
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` by the end of the steps.

    ``time_progress``: the share of a time budget spent since the decay began (0 without
    one). It speeds the decay up only when it runs ahead of the steps, that is, when the run
    would not finish its epochs in time; a run that keeps pace follows its steps alone, so
    a seed repeats it exactly. ``warmup_from``: the step a fresh optimizer started at.
    """
    peak = config["learning_rate"]
    warmup = warmup_length(config, total_steps)
    progress = min(max((step - warmup) / max(total_steps - warmup, 1), time_progress, 0.0), 1.0)
    floor = peak * config["min_lr_ratio"]
    rate = floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return rate * min(1.0, (step - warmup_from + 1) / warmup)


def divergence_window(tokens_per_step):
    """Batches the divergence watch averages over: enough tokens that small batches'
    noise cannot trip it (10 to 100 batches)."""
    return max(10, min(100, math.ceil(2048 / max(tokens_per_step, 1))))


class RunMonitor(keras.callbacks.Callback):
    """Streams a run's progress to its folder and decides when training stops."""

    def __init__(self, run_dir, config, state, scorer, held_out, tokenizer,
                 started, time_offset, chars_per_token, processes=1, train_spelling=0.0):
        super().__init__()
        self.processes = processes  # several: they must score, sample and stop at the same steps
        self.run_dir, self.config, self.state = Path(run_dir), config, state
        self.scorer, self.held_out = scorer, held_out  # held_out: evaluation.HeldOutText
        self.train_spelling = train_spelling
        self.tokenizer, self.started, self.time_offset = tokenizer, started, time_offset
        self.chars_per_token = chars_per_token
        self.tokens_per_step = config["batch_size"] * config["seq_len"]
        self.stop_reason = None
        self.sampler = None
        self.first_step = state["step"]  # where this process began: steps it trained are counted
        # The divergence watch, in nats per token: the first batch's loss, a running average.
        self.trend = dict(start=None, smooth=None, batches=0,
                          window=divergence_window(self.tokens_per_step))
        self.uniform = math.log(tokenizer.vocab_size) if tokenizer is not None else math.inf
        self.last = dict(metrics=0.0, heartbeat=0.0, eval=time.time(), sample=time.time(),
                         checkpoint=time.time())
        self.window = dict(step=state["step"], time=time.time(), loss_sum=0.0, batches=0)
        self.eval_seconds = 0.0
        self.prev_running = (0, 0.0)  # (batches, running mean) within fit's single epoch

    # --- timing -------------------------------------------------------------

    def elapsed(self):
        """Seconds since this process started: what the time budget counts."""
        return time.time() - self.started

    def clock(self):
        """Seconds of training in this run, across resumes: what the charts show."""
        return self.time_offset + self.elapsed()

    def reserve(self):
        """Seconds kept back from a time budget for the final held-out score and checkpoint."""
        return self.eval_seconds + 2.0

    def out_of_time(self):
        budget = self.config.get("time_budget")
        return bool(budget) and self.elapsed() + self.reserve() >= budget

    def budget_progress(self):
        """The share of the time budget spent since the learning-rate decay began (0 without
        a budget): counted against the time then left, start-up and warm-up excluded, so it
        leads the steps only for a run that would not finish its epochs in time."""
        budget, began = self.config.get("time_budget"), self.state.get("decay_began")
        if not budget or began is None:
            return 0.0
        left = budget - began - self.reserve()
        return 1.0 if left <= 0 else (self.elapsed() - began) / left

    # --- callback hooks -----------------------------------------------------

    def on_train_batch_begin(self, batch, logs=None):
        s = self.state
        warmup_from = s.get("warmup_from", 0)
        if s.get("decay_began") is None and \
                s["step"] >= warmup_from + warmup_length(self.config, s["total_steps"]):
            s["decay_began"] = self.elapsed()
        lr = learning_rate_at(self.config, s["step"], s["total_steps"], self.budget_progress(),
                              warmup_from)
        self.model.optimizer.learning_rate.assign(lr)

    def on_train_batch_end(self, batch, logs=None):
        self.state["step"] += 1
        loss = self.batch_loss(batch, logs)
        diverged = self.diverging(loss)
        if math.isfinite(loss):
            self.window["loss_sum"] += loss
            self.window["batches"] += 1
        now = time.time()
        # Score at least every eval_every_s, but keep scoring under ~8 % of the time.
        # A scoring step writes one record (training and held-out loss), so steps never repeat.
        score = now - self.last["eval"] >= max(self.config["eval_every_s"], 12 * self.eval_seconds)
        sample = bool(self.config["sample_every_s"]) and \
            now - self.last["sample"] >= self.config["sample_every_s"]
        request = self.stop_request()
        if self.processes > 1:
            request, score, sample, diverged = self.agree(request, score, sample, diverged)
        if diverged:
            self.log_metrics()  # the record that shows the rise
            self.stop("failed", self.diverged_message())
            return
        if request:
            self.stop(*self.stop_reason_for(request))
            return  # the end of training writes the last record, score and checkpoint
        if score:
            self.evaluate()
        elif now - self.last["metrics"] >= METRICS_EVERY_S:
            self.log_metrics()
        if self.stop_reason:
            return
        if sample:
            self.write_sample()
        every = self.config.get("checkpoint_every_s") or CHECKPOINT_EVERY_S
        if now - self.last["checkpoint"] >= every:
            self.save_checkpoint()
            self.last["checkpoint"] = time.time()
        if now - self.last["heartbeat"] >= HEARTBEAT_EVERY_S:
            self.heartbeat()

    def diverging(self, loss) -> bool:
        """Whether the training loss has run away (``loss``: this batch's, nats per token).

        Gradient clipping keeps a blown-up loss finite, so NaN alone would miss it. The
        smoothed loss must rise well above the higher of where this run started and the
        uniform guess, ln(vocabulary size): a fine-tune starts low and a small batch is noisy,
        and neither may trip it.
        """
        t = self.trend
        if not math.isfinite(loss):
            t["smooth"] = math.inf
            return True
        if t["start"] is None:
            t.update(start=loss, smooth=loss)
        t["batches"] += 1
        t["smooth"] += (loss - t["smooth"]) / min(t["batches"], t["window"])
        reference = max(t["start"], self.uniform)
        return t["batches"] >= t["window"] and t["smooth"] > reference + max(1.0, 0.25 * reference)

    def diverged_message(self, what=None):
        """The sentence a diverged run ends with: what rose, the learning rate, what to try."""
        t, lr = self.trend, self.config["learning_rate"]
        if what is None and t["start"] is not None and math.isfinite(t["smooth"]):
            per_char = [n / self.chars_per_token + self.train_spelling for n in (t["start"], t["smooth"])]
            what = f"the loss rose from {per_char[0]:.1f} to {per_char[1]:.1f} nats per character"
        what = what or "the loss became infinite or NaN"
        preset_lr = PRESETS.get(self.config.get("preset"), PRESETS["balanced"])["learning_rate"]
        kept = ("The best checkpoint from before is kept." if (self.run_dir / "model.keras").exists()
                else "No checkpoint was saved before that, so there is none to keep.")
        return (f"Training diverged: {what}, so the learning rate {lr:g} is too high. "
                f"Try {float(f'{min(lr / 10, preset_lr):.1g}'):g} or lower. {kept}")

    def batch_loss(self, batch, logs):
        # Keras reports the running mean since the epoch began; recover this batch's loss.
        mean = float((logs or {}).get("loss", math.nan))
        n = batch + 1
        prev_n, prev_mean = self.prev_running
        self.prev_running = (n, mean)
        return mean * n - prev_mean * prev_n if n == prev_n + 1 else mean

    # --- what a step writes -------------------------------------------------

    def window_record(self):
        """The training progress since the last record (None if there was none), and a new window."""
        w, now = self.window, time.time()
        if w["batches"] == 0:
            return None
        record = {"step": self.state["step"], "epoch": round(self.epoch(), 4),
                  "time": round(self.clock(), 3)}
        seconds = max(now - w["time"], 1e-9)
        # Keras reports nats per token; per character (by the training text's mean token
        # length) the training curve sits on the same scale as the held-out one.
        record["train_loss"] = w["loss_sum"] / w["batches"] / self.chars_per_token
        # The held-out loss also charges each <unk> for spelling out what it stands for;
        # adding the training split's mean spelling charge per character keeps both curves
        # code lengths of their text (nats per character).
        record["train_loss"] += self.train_spelling
        record["chars_per_sec"] = round(w["batches"] * self.tokens_per_step
                                        * self.chars_per_token / seconds, 1)
        self.state["chars_per_sec"] = record["chars_per_sec"]
        self.window = dict(step=self.state["step"], time=now, loss_sum=0.0, batches=0)
        return record

    def log_metrics(self, record=None, **extra):
        record = record or self.window_record()
        if record is None and not extra:
            return
        if record is None:
            record = {"step": self.state["step"], "epoch": round(self.epoch(), 4),
                      "time": round(self.clock(), 3)}
        if record["step"] <= self.state.get("logged_step", -1):
            return  # one record per step: steps in metrics.jsonl strictly increase
        record["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        record.update(extra)
        if "train_loss" not in record:
            record["train_loss"] = self.state.get("last_train_loss")
        self.state["last_train_loss"] = record["train_loss"]
        runs.append_jsonl(self.run_dir / "metrics.jsonl", record)
        self.state["logged_step"] = record["step"]
        self.window["time"] = time.time()
        self.last["metrics"] = time.time()

    def epoch(self):
        return self.state["step"] * self.tokens_per_step / max(self.state["train_tokens"], 1)

    def sync_weights(self):
        """Make the model's variables hold the latest weights before reading them directly.

        On JAX, ``fit`` keeps the weights outside the variables between steps;
        reading ``self.model`` attaches them (on other backends it does nothing)."""
        return self.model

    def evaluate(self):
        # Take the training progress first, so scoring time never counts as training.
        record = self.window_record()
        self.sync_weights()
        began = time.time()
        val_loss = self.held_out.nats_per_char(self.scorer)
        self.eval_seconds = time.time() - began
        self.state["last_eval_step"] = self.state["step"]
        if not math.isfinite(val_loss):
            self.log_metrics(record)
            self.stop("failed", self.diverged_message("the held-out loss became NaN"))
            return
        best = self.state.get("best_val_loss")
        if best is None or val_loss < best - 1e-4:
            if not self.save(save_best_model, self.run_dir, self.model):
                self.log_metrics(record)
                return
            self.state.update(best_val_loss=val_loss, best_step=self.state["step"], evals_since_best=0)
        else:
            self.state["evals_since_best"] = self.state.get("evals_since_best", 0) + 1
            if self.state["evals_since_best"] >= self.config["patience"]:
                self.stop("completed", "Stopped early: the held-out loss stopped improving. "
                          "The best checkpoint is kept.")
        self.log_metrics(record, val_loss=val_loss)
        # Time spent scoring does not count towards throughput.
        self.window["time"] = time.time()
        self.last["eval"] = time.time()

    def save(self, write, *args):
        """Run a checkpoint writer; a full or read-only disk stops the run, keeping the old files."""
        try:
            write(*args)
        except OSError:
            self.stop("failed", SAVE_FAILED)
            return False
        return True

    def save_checkpoint(self):
        self.state["elapsed"] = self.clock()  # a resumed run's clock continues from here
        return self.save(save_checkpoint, self.run_dir, self.model, self.state)

    def write_sample(self):
        self.sync_weights()
        if self.sampler is None:
            self.sampler = Sampler(self.model, self.config, banned_ids=never_sampled(self.tokenizer))
        pieces = self.sampler.generate([start_token(self.tokenizer)], self.config["sample_length"],
                                       temperature=0.8, seed=self.state["step"])
        text = self.tokenizer.decode(np.concatenate(list(pieces), axis=1)[0])
        runs.append_jsonl(self.run_dir / "samples.jsonl",
                          {"step": self.state["step"], "time": round(self.clock(), 3), "text": text})
        self.last["sample"] = time.time()

    def heartbeat(self, **fields):
        s = self.state
        eta = None
        if s.get("chars_per_sec"):
            steps_left = s["total_steps"] - s["step"]
            eta = steps_left * self.tokens_per_step * self.chars_per_token / s["chars_per_sec"]
        if self.config.get("time_budget"):
            left = self.config["time_budget"] - self.elapsed()
            eta = left if eta is None else min(eta, left)
        runs.write_status(self.run_dir, step=s["step"], total_steps=s["total_steps"],
                          epoch=round(self.epoch(), 4), best_val_loss=s.get("best_val_loss"),
                          best_step=s.get("best_step"), chars_per_sec=s.get("chars_per_sec"),
                          eta_s=None if eta is None else max(eta, 0.0), **fields)
        self.last["heartbeat"] = time.time()

    # --- stopping -----------------------------------------------------------

    def stop_request(self) -> int:
        """Why training should stop now, as an index into STOP_REASONS (0: it should not)."""
        if (self.run_dir / "STOP").exists() or self.state.get("sigterm"):
            return 1
        if self.out_of_time():
            return 2
        if self.state["step"] >= self.state["total_steps"]:
            return 3
        return 0

    def check_stop(self):
        request = self.stop_request()
        if request and not self.stop_reason:
            self.stop(*self.stop_reason_for(request))

    def stop_reason_for(self, request):
        """(state, message) for a STOP_REASONS index; a budget spent says how far it got."""
        state, message = STOP_REASONS[request]
        if request != 2:
            return state, message
        step, budget = self.state["step"], self.config["time_budget"]
        if step > self.first_step:
            return state, message.format(steps=step)
        if self.first_step:
            return "stopped", (f"The time budget of {budget:g} s ran out before training could "
                               f"continue, so the run stays at step {step:,}. Give it more time.")
        return "stopped", (f"The time budget of {budget:g} s ran out before training began "
                           f"(start-up took {self.elapsed():.1f} s), so nothing was trained. "
                           "Give it a longer time budget.")

    def agree(self, *decisions):
        """Process 0's decisions, in every process: each process must run the same steps."""
        from jax.experimental import multihost_utils
        agreed = multihost_utils.broadcast_one_to_all(np.array(decisions, dtype=np.int32))
        return [int(d) for d in np.asarray(agreed)]

    def stop(self, state, message):
        if not self.stop_reason or (state == "failed" and self.stop_reason[0] != "failed"):
            self.stop_reason = (state, message)
        self.model.stop_training = True


# --- checkpoints --------------------------------------------------------------


def inference_model(model):
    """The same layers without the optimizer, so model.keras holds weights only."""
    return keras.Model(model.inputs, model.outputs, name=model.name)


def save_best_model(run_dir, model):
    path = Path(run_dir) / "model.keras"
    tmp = path.with_name(f".model.{os.getpid()}.tmp.keras")
    try:
        inference_model(model).save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(run_dir, model, state):
    """Latest weights, optimizer state and progress for ``--resume``: one file, written atomically.

    The progress (``CHECKPOINT_KEEPS``: step, clock, best score) is the archive's comment, so
    a kill at any moment leaves either the old checkpoint or the new one whole, never weights
    of one step beside the progress of another. Raises OSError when the disk refuses it.
    """
    folder = Path(run_dir) / "checkpoint"
    folder.mkdir(exist_ok=True)
    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v)
                   for i, v in enumerate(model.optimizer.variables)})
    tmp = folder / f".state.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **arrays)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.comment = json.dumps({k: state.get(k) for k in CHECKPOINT_KEEPS}).encode()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, folder / "state.npz")
    finally:
        tmp.unlink(missing_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)  # an older layout's progress file: stale now


def checkpoint_meta(run_dir):
    """The progress a run's resume checkpoint holds (a dict with at least ``step``), or None
    when it has no whole one. Reads the file only."""
    folder = Path(run_dir) / "checkpoint"
    try:
        with zipfile.ZipFile(folder / "state.npz") as archive:
            comment = archive.comment
        # A checkpoint of an older layout kept its progress beside it, in meta.json.
        meta = json.loads(comment) if comment else runs.read_json(folder / "meta.json")
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
    scored = [r for r in runs.read_jsonl(path)[0]
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
    """Remove what a killed writer left half done: temporary model and checkpoint files."""
    run_dir = Path(run_dir)
    for tmp in [*run_dir.glob(".model.*.tmp.keras"), *run_dir.glob("checkpoint/.state.*.tmp.npz")]:
        tmp.unlink(missing_ok=True)


def truncate_log(path, last_step):
    """Drop records written after the checkpoint we resume from, so steps never repeat.

    Returns the last step the log keeps (-1 for none)."""
    records, _ = runs.read_jsonl(path)
    kept = [r for r in records if isinstance(r.get("step", 0), int) and r.get("step", 0) <= last_step]
    runs.atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                          for r in kept).encode("utf-8"))
    return max((r.get("step", 0) for r in kept), default=-1)


# --- fine-tuning ----------------------------------------------------------------


def transfer_weights(base, model):
    """Copy a base model's weights; rows for tokens the base never saw start from the average token."""
    for layer in model.layers:
        try:
            source = base.get_layer(layer.name)
        except ValueError:
            continue
        weights = source.get_weights()
        targets = layer.get_weights()
        grown = []
        for w, t in zip(weights, targets):
            if w.shape == t.shape:
                grown.append(w)
                continue
            axis = next(i for i, (a, b) in enumerate(zip(w.shape, t.shape)) if a != b)
            mean = w.mean(axis=axis, keepdims=True)
            if w.ndim == 1:  # output bias: new tokens start as unlikely as the rarest known one
                mean = np.full_like(mean, w.min())
            extra = np.repeat(mean, t.shape[axis] - w.shape[axis], axis=axis)
            grown.append(np.concatenate([w, extra], axis=axis))
        layer.set_weights(grown)


def freeze_lower_layers(model, count):
    if count <= 0:
        return
    model.get_layer("embedding").trainable = False
    for layer in body_layers(model)[:count]:
        layer.trainable = False


def make_repeatable():
    """Ask the backend for deterministic kernels, so a seed fixes every weight."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()


# --- the whole path -------------------------------------------------------------


def corpus_record(corpus):
    return {"name": corpus.name, "sha256": corpus.sha256, "sources": corpus.sources,
            "encoding": corpus.encoding, "chars": len(corpus.text)}


def train(corpus_specs, out_dir, config, explicit=None, resume=False, started=None,
          log=print):
    """Train a model into ``out_dir``; returns the final status dict.

    ``config`` comes from ``resolve_config``; ``explicit`` names the settings
    the user gave, which win over a base run's when fine-tuning. ``resume``
    continues the run in ``out_dir`` (see ``restore_run``); a resume that cannot
    go ahead raises TextgenError and leaves every file of the run as it was.
    """
    started = started or time.time()
    explicit = explicit or {}
    run_dir = Path(out_dir)
    if resume:
        saved = runs.read_json(run_dir / "config.json")
        if not saved:
            raise TextgenError(f"There is no run to resume in {run_dir}.")
        config = {**saved, **{k: v for k, v in explicit.items() if k in ("epochs", "time_budget")}}
        corpus_specs = corpus_specs or saved["corpus"]["sources"]
        status = runs.read_status(run_dir)
        if status.get("state") in runs.ACTIVE_STATES and status.get("pid") != os.getpid():
            raise TextgenError("This run is still training (process {pid}). Stop it first, or "
                               "wait until it ends.", pid=status.get("pid"))
    elif (run_dir / "config.json").exists() or (run_dir / "model.keras").exists():
        # (a status.json alone is the queue entry jobs.start_training wrote for this run)
        raise TextgenError(f"{run_dir} already holds a run. Use --resume to continue it, "
                           "or choose a new folder.")

    corpus = load_corpus(corpus_specs)
    for note in corpus.warnings:  # bytes of a file that were not text, left out
        log(f"warning: {note}")
    if resume and corpus.sha256 != saved["corpus"]["sha256"]:
        raise TextgenError("The corpus has changed since this run started, so it cannot be "
                           "resumed. Start a new run instead.")
    base_dir = config.get("init_from")
    base_config = None
    if base_dir and not resume:
        base_config = runs.read_json(Path(base_dir) / "config.json")
        if not base_config or not (Path(base_dir) / "model.keras").exists():
            raise TextgenError(f"{base_dir} is not a finished run with a model to fine-tune from.")
        base_config, _ = check_saved_model(base_dir)  # it may be an imported run: untrusted
        config = fine_tune_config(config, explicit, base_config)
    require_min_length(corpus.text, config["seq_len"], config["val_fraction"])
    # Before anything is written: a model too big for this machine is refused with a sentence.
    # The exact vocabulary is known once the tokenizer is built (checked again in _fit).
    vocab_floor = ((saved if resume else base_config or {}).get("vocab_size")
                   or (len(set(corpus.text)) if config["tokenizer"] == "char" else 2))
    capacity.check_fits(config, vocab_floor, "train")

    run_dir.mkdir(parents=True, exist_ok=True)
    return _train_in_slot(corpus, run_dir, config, base_config, resume, started, log)


def _train_in_slot(corpus, run_dir, config, base_config, resume, started, log):
    from textgen.jobs import training_slot

    state = {"sigterm": False, "begun": False}
    signal.signal(signal.SIGTERM, lambda *_: state.update(sigterm=True))
    if not resume:  # a resume writes nothing until it knows it can go ahead
        runs.write_status(run_dir, pid=os.getpid())
    with training_slot(should_stop=lambda: state["sigterm"] or (run_dir / "STOP").exists(),
                       on_wait=lambda: runs.write_status(
                           run_dir, state="queued", message="Waiting for a free training slot.",
                           waiting_since=time.time())
                       ) as acquired:
        if not acquired:
            return runs.write_status(run_dir, state="stopped",
                                     message="Removed from the queue before it started.")
        started = time.time() if os.environ.get("TEXTGEN_QUEUE_DIR") else started

        def begin(message="Preparing the model."):
            state["begun"] = True
            # A resumed run's status still holds the end of its last session: no ETA yet.
            runs.write_status(run_dir, state="running", started_at=started, pid=os.getpid(),
                              message=message, time_budget=config.get("time_budget"),
                              eta_s=None, finished_at=None)

        if not resume:
            begin()
        try:
            configure_devices()
            parallel = choose_parallel(config.get("distribute"), config["batch_size"])
            with parallel.scope():
                return _fit(corpus, run_dir, config, base_config, resume, started, state, log,
                            parallel, begin=begin)
        except TextgenError as e:
            if state["begun"]:
                runs.write_status(run_dir, state="failed", message=str(e))
            raise
        except BaseException as e:
            if state["begun"]:
                runs.write_status(run_dir, state="failed",
                                  message=f"Training failed unexpectedly ({type(e).__name__}: {e}).")
            raise


def _fit(corpus, run_dir, config, base_config, resume, started, state, log, parallel=None,
         begin=None):
    """Train in ``parallel``'s scope (one device where it is None).

    ``begin(message)`` marks the run as running; a resume calls it only once the run's
    files have been read and found usable, before it changes any of them."""
    parallel = parallel or Parallel()
    if parallel.process_count > 1 and config.get("time_budget"):
        raise TextgenError("Training in several processes needs a number of epochs, not a time "
                           "budget: every process must run the same steps. Drop --time-budget.")
    device = configure_devices()
    if config.get("seed") is not None:
        make_repeatable()
    seed = config["seed"] if config.get("seed") is not None else int(time.time()) % 2**31
    config["seed"] = seed
    keras.utils.set_random_seed(seed)

    train_text, val_text = split_text(corpus.text, config["val_fraction"])
    # Kept in config.json: the held-out part's fingerprint, and how unlike training it is.
    config.setdefault("held_out", held_out_record(train_text, val_text))
    held_out_note = run_held_out_warning(config)
    if held_out_note:
        log(str(held_out_note))
    if resume:
        tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    else:
        tokenizer = run_tokenizer(corpus.text, config["tokenizer"], config["max_vocab"],
                                  config["init_from"] if base_config else None)
    if not resume:
        attach_spelling_counts(tokenizer, train_text)  # what an <unk> costs: textgen.unknowns
    unknown_warning = unknown_text_warning(unknown_shares(tokenizer, train_text, val_text),
                                           Path(config["init_from"]).name if base_config else None)
    if unknown_warning:
        log(unknown_warning)
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    if len(train_ids) <= config["seq_len"] + 1 or len(val_ids) < 2:
        raise TextgenError(
            f"The corpus is too short for a sequence length of {config['seq_len']} tokens. "
            "Add more text or lower the sequence length.")
    chars_per_token = len(train_text) / len(train_ids)
    # Periodic scoring uses the start of the held-out split when it is very long.
    eval_text = val_text[: config["eval_max_chars"]]
    eval_ids = val_ids if len(eval_text) == len(val_text) else tokenizer.encode(eval_text)
    held_out = HeldOutText(tokenizer, eval_text, eval_ids)

    capacity.check_fits(config, tokenizer.vocab_size, "train", gpu=device.startswith("GPU"))
    model = build_model(config, tokenizer.vocab_size)
    if base_config:
        base = build_model(base_config, base_config["vocab_size"])
        load_weights(base, Path(config["init_from"]) / "model.keras")
        transfer_weights(base, model)
        freeze_lower_layers(model, config["freeze_layers"])
    model.compile(
        optimizer=keras.optimizers.AdamW(config["learning_rate"], weight_decay=config["weight_decay"],
                                         clipnorm=config["clipnorm"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    time_offset = 0.0  # a resumed run's clock continues where it stopped
    state.update(step=0, total_steps=total_steps_for(config, len(train_ids)),
                 train_tokens=len(train_ids))
    scorer = Scorer(model, config)
    resume_note = None
    if resume:
        point = restore_run(run_dir, model, lambda: held_out.nats_per_char(scorer))
        resume_note = point["note"]
        if begin:
            begin(resume_note or "Preparing the model.")
        if resume_note:
            log(resume_note)
        state.update(point["state"])
        state["logged_step"] = truncate_log(run_dir / "metrics.jsonl", state["step"])
        truncate_log(run_dir / "samples.jsonl", state["step"])
        clear_torn_writes(run_dir)
        time_offset = point["elapsed"]
    else:
        save_tokenizer(tokenizer, run_dir / "tokenizer.json")
        config.update(vocab_size=tokenizer.vocab_size, parameters=model.count_params(),
                      corpus=corpus_record(corpus), textgen_version=__version__,
                      keras_version=keras.__version__, backend=keras.backend.backend(),
                      device=device, created_at=time.time(),
                      init_from=str(Path(config["init_from"]).resolve()) if config.get("init_from") else None)
        runs.atomic_write_json(run_dir / "config.json", config)

    monitor = RunMonitor(run_dir, config, state, scorer, held_out, tokenizer,
                         started, time_offset, chars_per_token, parallel.process_count,
                         train_spelling=spelling_nats_per_char(tokenizer, train_text))
    monitor.set_model(model)  # before fit: a budget spent during start-up stops it there
    runs.write_status(run_dir, message=resume_note or "Training.", device=device, step=state["step"],
                      total_steps=state["total_steps"])
    log(f"Training {config['arch']} ({model.count_params():,} parameters) on {corpus.name}: "
        f"{len(train_ids):,} training and {len(val_ids):,} held-out tokens, on {device}"
        f"{parallel.describe()}.")
    remaining = state["total_steps"] - state["step"]
    if remaining > 0 and not monitor.out_of_time():
        shards = parallel.process_count
        data = RandomWindows(train_ids, config["seq_len"], config["batch_size"] // shards, seed,
                             state["step"], shard=parallel.process_index if shards > 1 else None)
        model.fit(data, epochs=1, steps_per_epoch=remaining, callbacks=[monitor], verbose=0,
                  shuffle=False)
    monitor.check_stop()
    final_state = (monitor.stop_reason or ("completed",))[0]
    trained = state["step"] > monitor.first_step
    if trained and final_state != "failed" and state.get("last_eval_step") != state["step"]:
        monitor.evaluate()  # the last steps may beat the last periodic score
    else:
        monitor.log_metrics()
    final_state, message = monitor.stop_reason or ("completed", "Finished.")
    if trained and final_state != "failed":
        monitor.save_checkpoint()  # never the weights of a diverged run
        final_state, message = monitor.stop_reason or ("completed", "Finished.")
    val_loss = None
    if (run_dir / "model.keras").exists():
        load_weights(model, run_dir / "model.keras")
        # The same held-out text as the periodic scores (all of it unless it is very long;
        # `evaluate` always scores all of it).
        val_loss = held_out.nats_per_char(scorer)
        if trained and final_state != "failed" and monitor.sampler is None:
            monitor.write_sample()  # a run shorter than sample_every_s still shows what it learned
    status = runs.write_status(
        run_dir, state=final_state, message=message, step=state["step"], epoch=round(monitor.epoch(), 4),
        best_val_loss=val_loss if val_loss is not None else state.get("best_val_loss"),
        best_step=state.get("best_step"), finished_at=time.time(), eta_s=0.0)
    log(message + (f" Held-out loss {val_loss:.4f} nats per character." if val_loss else ""))
    return status
