"""What happens between training steps, one job per callback.

``RunMonitor`` is the one callback ``model.fit`` sees. After every step it asks its parts
what is due, lets several processes agree on it, and runs the parts in a fixed order:
the divergence watch, stop requests, the held-out score (with the best checkpoint and
early stopping) or else a metrics record, a sample, the resume checkpoint, the status
heartbeat. Before every step the learning-rate schedule sets the rate. The doctor reads
every metrics record as it is written. The parts are Keras callbacks that share one
``TrainingState`` and one ``RunClock``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from textgen import control, doctor, files, runs
from textgen.checkpoints import CHECKPOINT_KEEPS, save_best_model, save_checkpoint
from textgen.config import (LONG_WINDOW_SHARE, PRESETS, check_setting, mean_step_seconds, preset_values,
                            tokens_per_step)
from textgen.errors import TextgenError
from textgen.i18n import Message
from textgen.sampling import Sampler
from textgen.sampling_settings import STARTING_TEMPERATURE
from textgen.tokenizers import never_sampled, start_token

CHECKPOINT_EVERY_S = 30.0  # default; a run's config may set checkpoint_every_s
HEARTBEAT_EVERY_S = 1.0
METRICS_EVERY_S = 0.5
CONTROL_READ_EVERY_S = 0.2  # how often a job looks for live controls (control.jsonl)
PAUSE_POLL_S = 0.2
SAVE_FAILED = ("Could not write the checkpoint: the disk is full or not writable. "
               "The previous checkpoint is kept.")
EARLY_STOP = "Stopped early: the held-out loss stopped improving. The best checkpoint is kept."
STOP_REASONS = {1: ("stopped", "Stopped on request. The best checkpoint is kept."),
                2: ("completed", "Finished: the time budget ran out after {steps:,} steps."),
                3: ("completed", "Finished all epochs.")}


@dataclass(slots=True)
class TrainingState:
    """Where a run's training stands: shared by the training path and every callback.

    The fields named in ``checkpoints.CHECKPOINT_KEEPS`` go into the resume checkpoint.
    """

    step: int = 0
    """Optimizer steps this run has taken, those of earlier sessions included."""
    total_steps: int = 1
    """Steps for the set number of epochs (``training.total_steps_for``)."""
    train_tokens: int = 0
    """Tokens in the training split: one epoch reads this many."""
    best_val_loss: float | None = None
    """The lowest held-out loss so far, nats per character: the one model.keras holds."""
    best_step: int | None = None
    """The step ``best_val_loss`` was scored at."""
    evals_since_best: int = 0
    """Held-out scores since the best one: early stopping ends the run at ``patience``."""
    last_eval_step: int | None = None
    """The step of the latest held-out score in this session (None before the first)."""
    eval_seconds: float = 0.0
    """Seconds the latest held-out score took (0 after the first of a session, which compiles):
    it paces scoring and is kept back from a budget."""
    logged_step: int = -1
    """The step of the last record in metrics.jsonl (-1: none); records' steps strictly increase."""
    last_train_loss: float | None = None
    """The training loss of the last record: a record with no new training repeats it."""
    chars_per_sec: float | None = None
    """Training throughput in the last record, characters per second."""
    elapsed: float = 0.0
    """The run's clock (seconds of training across sessions) when the resume checkpoint was saved."""
    warmup_from: int = 0
    """The step a fresh optimizer started at: the learning-rate warm-up counts from there."""
    decay_began: float | None = None
    """Seconds into this session when the warm-up ended and the decay began (None: not yet)."""
    sigterm: bool = False
    """Whether the process was asked to end (SIGTERM): it stops like a STOP file."""
    begun: bool = False
    """Whether status.json says the run is running: a failure from then on is recorded there."""
    stop_reason: tuple[str, str] | None = None
    """How training ends, once decided: (the status state, the message)."""

    def update(self, **fields):
        """Set several fields at once; a name that is not a field raises AttributeError."""
        for name, value in fields.items():
            setattr(self, name, value)

    def epoch(self, tokens_per_step):
        """Epochs trained: the tokens read (``tokens_per_step`` a step) over the training tokens."""
        return self.step * tokens_per_step / max(self.train_tokens, 1)

    def progress(self):
        """What the resume checkpoint keeps (``CHECKPOINT_KEEPS``), as a dict."""
        return {name: getattr(self, name) for name in CHECKPOINT_KEEPS}


def eta_seconds(state, tokens_per_step, chars_per_token, budget_left):
    """Seconds until training ends, or None when nothing tells yet; never negative.

    The steps left at the latest throughput (``state.chars_per_sec``), or the time budget
    left (``budget_left`` seconds, None without a budget) when that comes sooner.
    """
    eta = None
    if state.chars_per_sec:
        eta = (state.total_steps - state.step) * tokens_per_step * chars_per_token / state.chars_per_sec
    if budget_left is not None:
        eta = budget_left if eta is None else min(eta, budget_left)
    return None if eta is None else max(eta, 0.0)


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
    progress = decay_progress(config, step, total_steps, time_progress)
    floor = peak * config["min_lr_ratio"]
    rate = floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return rate * min(1.0, (step - warmup_from + 1) / warmup_length(config, total_steps))


def decay_progress(config, step, total_steps, time_progress=0.0):
    """How far a run is, 0 to 1: the share of its steps after the warm-up, or of its time
    budget (``time_progress``, as learning_rate_at takes it) where that is further."""
    warmup = warmup_length(config, total_steps)
    return min(max((step - warmup) / max(total_steps - warmup, 1), time_progress, 0.0), 1.0)


def long_windows(config, step, total_steps, time_progress=0.0):
    """Whether step ``step`` trains on seq_len windows (config.windows_a_step): the run's
    last LONG_WINDOW_SHARE by decay_progress."""
    return decay_progress(config, step, total_steps, time_progress) >= 1.0 - LONG_WINDOW_SHARE


def divergence_window(tokens_per_step):
    """Batches the divergence watch averages over: enough tokens that small batches'
    noise cannot trip it (10 to 100 batches)."""
    return max(10, min(100, math.ceil(2048 / max(tokens_per_step, 1))))


def diverged_message(config, run_dir, what):
    """The sentence a diverged run ends with: ``what`` rose, the learning rate, what to try,
    and whether ``run_dir`` keeps a best checkpoint from before."""
    lr = config["learning_rate"]
    kept = ("The best checkpoint from before is kept." if (Path(run_dir) / "model.keras").exists()
            else "No checkpoint was saved before that, so there is none to keep.")
    return (f"Training diverged: {what}, so the learning rate {lr:g} is too high. "
            f"Try {safer_learning_rate(config):g} or lower. {kept}")


def safer_learning_rate(config):
    """The learning rate a diverged run is told to try: a tenth of its own, or its preset's
    where that is lower, to one significant figure."""
    preset = config.get("preset") if config.get("preset") in PRESETS else "balanced"
    preset_lr = preset_values(preset, config.get("preset_device", "cpu"))["learning_rate"]
    return float(f"{min(config['learning_rate'] / 10, preset_lr):.1g}")


def is_diverged(message):
    """Whether a run's end message (``diverged_message``) says it diverged."""
    return str(message).startswith("Training diverged")


def agree(*decisions):
    """Process 0's decisions (integers), in every process: each process must run the same steps."""
    from jax.experimental import multihost_utils  # several processes train on JAX only
    agreed = multihost_utils.broadcast_one_to_all(np.array(decisions, dtype=np.int32))
    return [int(d) for d in np.asarray(agreed)]


class RunClock:
    """A run's time: what the time budget counts, what the charts show, what is kept back.

    ``started``: when this session began (``time.time()``); ``offset``: seconds the run
    trained in earlier sessions; the budget is ``config["time_budget"]`` (0 or None: none).
    Seconds spent paused (``paused``) count neither against the budget nor on the clock:
    the clock stands still from ``pause()`` to ``resume()``.
    """

    def __init__(self, state, config, started, offset=0.0):
        self.state, self.config, self.started, self.offset = state, config, started, offset
        self.paused = 0.0
        self.paused_at = None  # when the current pause began (time.time()); None while training
        # Where the decay stood when the budget last changed: (its progress, elapsed seconds
        # then); None until a change. The decay continues from there over the new time left.
        self.decay_base = None

    def elapsed(self):
        """Seconds of training since this session started (paused time left out, the current
        pause included): what the time budget counts."""
        now = time.time() if self.paused_at is None else self.paused_at
        return now - self.started - self.paused

    def pause(self):
        """Stop the clock now (a clock already stopped stays stopped from when it stopped)."""
        if self.paused_at is None:
            self.paused_at = time.time()

    def resume(self):
        """Start the clock again; returns the seconds paused in this session, this pause included."""
        if self.paused_at is not None:
            self.paused += time.time() - self.paused_at
            self.paused_at = None
        return self.paused

    def run_seconds(self):
        """Seconds of training in this run, across resumes: what the charts show."""
        return self.offset + self.elapsed()

    def reserve(self):
        """Seconds kept back from a time budget for the final held-out score and checkpoint."""
        return self.state.eval_seconds + 2.0

    def out_of_time(self):
        budget = self.config.get("time_budget")
        return bool(budget) and self.elapsed() + self.reserve() >= budget

    def budget_left(self):
        """Seconds of the time budget left (negative once spent), None without a budget."""
        budget = self.config.get("time_budget")
        return budget - self.elapsed() if budget else None

    def budget_progress(self):
        """The share of the time budget spent since the learning-rate decay began (0 without
        a budget): counted against the time then left, start-up and warm-up excluded, so it
        leads the steps only for a run that would not finish its epochs in time."""
        budget, began = self.config.get("time_budget"), self.state.decay_began
        if not budget or began is None:
            return 0.0
        base, since = self.decay_base or (0.0, began)
        left = budget - since - self.reserve()
        return 1.0 if left <= 0 else base + (1.0 - base) * (self.elapsed() - since) / left

    def change_budget(self, seconds):
        """Add ``seconds`` (negative: take away) to the time budget; returns the new budget.

        The decay keeps the progress it has and spreads the rest over the new time left, so
        the learning rate never jumps back up. A budget taken below the time already trained
        ends the run at its next step, as a spent budget does; it stays above 0 (no limit).
        """
        if self.state.decay_began is not None:
            self.decay_base = (min(self.budget_progress(), 1.0), self.elapsed())
        self.config["time_budget"] = max(self.config["time_budget"] + seconds, 1.0)
        return self.config["time_budget"]


class RunCallback(keras.callbacks.Callback):
    """A callback with one job in a run; ``state`` is the run's shared TrainingState."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def stop(self, outcome, message):
        """End training after this step as ``outcome`` (a status state) saying ``message``.
        A failure replaces an earlier, gentler reason; nothing else replaces one."""
        reason = self.state.stop_reason
        if not reason or (outcome == "failed" and reason[0] != "failed"):
            self.state.stop_reason = (outcome, message)
        self.model.stop_training = True

    def write_or_stop(self, write, *args):
        """Run a checkpoint writer; a full or read-only disk fails the run, keeping the old files."""
        try:
            write(*args)
        except OSError:
            self.stop("failed", SAVE_FAILED)
            return False
        return True

    def synced_model(self):
        """The model, its variables holding the latest weights before they are read directly.

        On JAX, ``fit`` keeps the weights outside the variables between steps;
        reading ``self.model`` attaches them (on other backends it does nothing)."""
        return self.model


class LearningRateSchedule(RunCallback):
    """Sets the learning rate before each step (``learning_rate_at``) and tells the data feed
    when the windows grow (``long_windows_at``)."""

    def __init__(self, state, config, clock):
        super().__init__(state)
        self.config, self.clock = config, clock

    def on_train_batch_begin(self, batch, logs=None):
        s = self.state
        if s.decay_began is None and s.step >= s.warmup_from + warmup_length(self.config, s.total_steps):
            s.decay_began = self.clock.elapsed()
        lr = learning_rate_at(self.config, s.step, s.total_steps, self.clock.budget_progress(),
                              s.warmup_from)
        self.model.optimizer.learning_rate.assign(lr)

    def long_windows_at(self, step):
        """Whether ``step`` trains on seq_len windows (``long_windows``); asked by the data
        feed, which may run a few steps ahead of training."""
        return long_windows(self.config, step, self.state.total_steps, self.clock.budget_progress())


class MetricsLog(RunCallback):
    """Appends records to metrics.jsonl: the training loss and throughput since the last one.

    ``long_at(step)``: whether a step trained on a warm-up's long windows (long_windows),
    whose throughput is kept apart for ``run_chars_per_sec``."""

    def __init__(self, state, run_dir, clock, tokens_per_step, chars_per_token, train_spelling,
                 long_at=lambda step: False):
        super().__init__(state)
        self.path, self.clock = Path(run_dir) / "metrics.jsonl", clock
        self.tokens_per_step, self.chars_per_token = tokens_per_step, chars_per_token
        self.train_spelling, self.long_at = train_spelling, long_at
        self.window_began, self.loss_sum, self.batches = time.time(), 0.0, 0
        self.phase_seconds, self.phase_batches = {False: 0.0, True: 0.0}, {False: 0, True: 0}
        self.last_written = 0.0
        self.listeners = []  # called with each record written (the Doctor reads them)
        self.carry = {}  # fields the next record takes along: the live controls applied since the last

    def add(self, loss):
        """Count one batch's training loss (nats per token) into the next record."""
        self.loss_sum += loss
        self.batches += 1

    def due(self, now):
        return now - self.last_written >= METRICS_EVERY_S

    @contextlib.contextmanager
    def not_training(self):
        """Time spent inside (writing a sample, which may compile the sampler, or a checkpoint)
        does not count towards throughput, as scoring does not (restart_window)."""
        began = time.time()
        try:
            yield
        finally:
            self.window_began += time.time() - began

    def restart_window(self):
        """Start the throughput window now: the time since (spent scoring) is not training."""
        self.window_began = time.time()

    def stamp(self):
        s = self.state
        return {"step": s.step, "epoch": round(s.epoch(self.tokens_per_step), 4),
                "time": round(self.clock.run_seconds(), 3)}

    def take_window(self):
        """The training progress since the last record (None if there was none), and a new window."""
        now = time.time()
        if self.batches == 0:
            return None
        record = self.stamp()
        seconds = max(now - self.window_began, 1e-9)
        # Keras reports nats per token; per character (by the training text's mean token
        # length) the training curve sits on the same scale as the held-out one.
        record["train_loss"] = self.loss_sum / self.batches / self.chars_per_token
        # The held-out loss also charges each <unk> for spelling out what it stands for;
        # adding the training split's mean spelling charge per character keeps both curves
        # code lengths of their text (nats per character).
        record["train_loss"] += self.train_spelling
        record["chars_per_sec"] = round(self.batches * self.tokens_per_step
                                        * self.chars_per_token / seconds, 1)
        self.state.chars_per_sec = record["chars_per_sec"]
        long = bool(self.long_at(self.state.step - 1))  # the phase of the step just trained
        self.phase_seconds[long] += seconds
        self.phase_batches[long] += self.batches
        self.window_began, self.loss_sum, self.batches = now, 0.0, 0
        return record

    def run_chars_per_sec(self):
        """Training characters a second of a whole run of these settings, from this session's
        records: a warm-up's short and long windows (long_windows) weighed by their shares of
        the steps (config.mean_step_seconds), so that an estimate by steps holds for both; the
        short windows' alone before the long ones began; None before any record, or when only
        long windows were trained here (a run resumed near its end)."""
        step_seconds = {long: self.phase_seconds[long] / self.phase_batches[long]
                        for long in (False, True) if self.phase_batches[long]}
        if False not in step_seconds:
            return None
        seconds = mean_step_seconds(step_seconds[False], step_seconds.get(True))
        return self.tokens_per_step * self.chars_per_token / max(seconds, 1e-9)

    def write(self, record=None, **extra):
        """Append ``record`` (default: the window since the last one) with ``extra`` fields;
        nothing when there is nothing new, or when this step already has a record."""
        record = record or self.take_window()
        if record is None and not extra:
            return
        if record is None:
            record = self.stamp()
        if record["step"] <= self.state.logged_step:
            return  # one record per step: steps in metrics.jsonl strictly increase
        record["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        record.update(self.carry, **extra)
        self.carry = {}
        if "train_loss" not in record:
            record["train_loss"] = self.state.last_train_loss
        self.state.last_train_loss = record["train_loss"]
        files.append_jsonl(self.path, record)
        self.state.logged_step = record["step"]
        for listen in self.listeners:
            listen(record)
        self.window_began = time.time()
        self.last_written = time.time()


class DivergenceWatch(RunCallback):
    """Tells when the training loss has run away, and says so in a sentence."""

    def __init__(self, state, run_dir, config, vocab_size, chars_per_token, train_spelling=0.0):
        super().__init__(state)
        self.run_dir, self.config = Path(run_dir), config
        self.chars_per_token, self.train_spelling = chars_per_token, train_spelling
        self.uniform = math.log(vocab_size) if vocab_size is not None else math.inf
        self.window = divergence_window(tokens_per_step(config))
        # In nats per token: the first batch's loss, and a running average.
        self.start, self.smooth, self.batches = None, None, 0

    def diverging(self, loss) -> bool:
        """Whether the training loss has run away (``loss``: this batch's, nats per token).

        Gradient clipping keeps a blown-up loss finite, so NaN alone would miss it. The
        smoothed loss must rise well above the higher of where this run started and the
        uniform guess, ln(vocabulary size): a fine-tune starts low and a small batch is noisy,
        and neither may trip it.
        """
        if not math.isfinite(loss):
            self.smooth = math.inf
            return True
        if self.start is None:
            self.start = self.smooth = loss
        self.batches += 1
        self.smooth += (loss - self.smooth) / min(self.batches, self.window)
        reference = max(self.start, self.uniform)
        return self.batches >= self.window and self.smooth > reference + max(1.0, 0.25 * reference)

    def message(self):
        """The sentence the run ends with: how far the loss rose, and what to try."""
        what = None
        if self.start is not None and math.isfinite(self.smooth):
            per_char = [n / self.chars_per_token + self.train_spelling for n in (self.start, self.smooth)]
            what = f"the loss rose from {per_char[0]:.1f} to {per_char[1]:.1f} nats per character"
        return diverged_message(self.config, self.run_dir, what or "the loss became infinite or NaN")


class Doctor(RunCallback):
    """Reads the curves as they are written (``see``: MetricsLog hands it every record) and
    appends what ``textgen.doctor`` finds to notes.jsonl; a run that ends diverged gets a
    note too. On a resume it starts from the records and notes the run kept."""

    def __init__(self, state, run_dir, config):
        super().__init__(state)
        self.path, self.config = Path(run_dir) / doctor.NOTES_FILE, config
        self.records = files.read_jsonl(Path(run_dir) / "metrics.jsonl")[0]
        self.notes = files.read_jsonl(self.path)[0]

    def see(self, record):
        """Diagnose after every record, not only held-out scores: a loss can run away between two."""
        self.records.append(record)
        self.add(doctor.diagnose(self.records, self.config, self.notes))

    def diverged(self):
        """The note of a run that ends because it diverged: the rate and advice of its end
        message (diverged_message)."""
        self.add([doctor.diverged_note(self.state.step, self.config["learning_rate"],
                                       safer_learning_rate(self.config))])

    def add(self, notes):
        for note in notes:
            files.append_jsonl(self.path, note)
            self.notes.append(note)


class EarlyStop(RunCallback):
    """Ends the run once ``patience`` held-out scores in a row have not improved on the best."""

    def __init__(self, state, config):
        super().__init__(state)
        self.config = config

    def after_score(self, improved):
        if improved:
            self.state.evals_since_best = 0
            return
        self.state.evals_since_best += 1
        if self.state.evals_since_best >= self.config["patience"]:
            self.stop("completed", EARLY_STOP)


class HeldOutScore(RunCallback):
    """Scores the held-out text now and then, and keeps the best model (model.keras)."""

    def __init__(self, state, run_dir, config, scorer, held_out, metrics, early_stop):
        super().__init__(state)
        self.run_dir, self.config = Path(run_dir), config
        self.scorer, self.held_out = scorer, held_out  # held_out: evaluation.HeldOutText
        self.metrics, self.early_stop = metrics, early_stop
        self.last_scored = time.time()

    def due(self, now):
        # Score at least every eval_every_s, but keep scoring under ~8 % of the time.
        # A scoring step writes one record (training and held-out loss), so steps never repeat.
        return now - self.last_scored >= max(self.config["eval_every_s"], 12 * self.state.eval_seconds)

    def score(self):
        s = self.state
        # Take the training progress first, so scoring time never counts as training.
        record = self.metrics.take_window()
        self.synced_model()
        began = time.time()
        val_loss = self.held_out.nats_per_char(self.scorer)
        # The first score of a session also compiles the scoring function, which can take
        # many times what scoring does: paced by it, the next score would come far too late.
        s.eval_seconds = time.time() - began if s.last_eval_step is not None else 0.0
        s.last_eval_step = s.step
        if not math.isfinite(val_loss):
            self.metrics.write(record)
            self.stop("failed", diverged_message(self.config, self.run_dir, "the held-out loss became NaN"))
            return
        improved = s.best_val_loss is None or val_loss < s.best_val_loss - 1e-4
        if improved:
            if not self.write_or_stop(save_best_model, self.run_dir, self.model):
                self.metrics.write(record)
                return
            s.best_val_loss, s.best_step = val_loss, s.step
        self.early_stop.after_score(improved)
        self.metrics.write(record, val_loss=val_loss)
        self.metrics.restart_window()  # time spent scoring does not count towards throughput
        self.last_scored = time.time()


class ResumeCheckpoint(RunCallback):
    """Saves the resume checkpoint (checkpoint/) every ``checkpoint_every_s`` seconds."""

    def __init__(self, state, run_dir, config, clock):
        super().__init__(state)
        self.run_dir, self.config, self.clock = Path(run_dir), config, clock
        self.last_saved = time.time()

    def due(self, now):
        return now - self.last_saved >= (self.config.get("checkpoint_every_s") or CHECKPOINT_EVERY_S)

    def save(self):
        """Save it now; False (and the run stopped as failed) when the disk refuses it."""
        self.state.elapsed = self.clock.run_seconds()  # a resumed run's clock continues from here
        return self.write_or_stop(save_checkpoint, self.run_dir, self.model, self.state.progress())

    def save_on_schedule(self):
        self.save()
        self.last_saved = time.time()


class SampleWriter(RunCallback):
    """Appends a text sampled from the model to samples.jsonl every ``sample_every_s`` seconds,
    and at the end one from the kept model.

    Each record holds ``step``, ``time``, ``text``, ``temperature`` and ``seed`` (the step the
    live sample was written at); the kept model's record also has ``"kept": true``, its
    ``step`` being the step model.keras was saved at.
    """

    def __init__(self, state, run_dir, config, tokenizer, clock):
        super().__init__(state)
        self.path, self.config = Path(run_dir) / "samples.jsonl", config
        self.tokenizer, self.clock = tokenizer, clock
        self.sampler = None  # built at the first sample of this session
        self.last_seed = None  # the seed of this session's latest live sample
        self.last_written = time.time()

    def due(self, now):
        every = self.config["sample_every_s"]
        return bool(every) and now - self.last_written >= every

    def sample(self, seed):
        """A text the model's current weights write from the start token."""
        self.synced_model()
        if self.sampler is None:
            self.sampler = Sampler(self.model, self.config, banned_ids=never_sampled(self.tokenizer))
        pieces = self.sampler.generate([start_token(self.tokenizer)], self.config["sample_length"],
                                       temperature=STARTING_TEMPERATURE, seed=seed)
        return self.tokenizer.decode(np.concatenate(list(pieces), axis=1)[0])

    def append(self, step, seed, **extra):
        files.append_jsonl(self.path, {"step": step, "time": round(self.clock.run_seconds(), 3),
                                       "text": self.sample(seed), "temperature": STARTING_TEMPERATURE,
                                       "seed": seed, **extra})

    def write(self):
        """A live sample: what the weights of this step write."""
        self.append(self.state.step, self.state.step)
        self.last_seed = self.state.step
        self.last_written = time.time()

    def write_kept(self):
        """What Generate will write: a sample from the kept weights, which the model must hold
        by now (model.keras loaded into it), with the seed of the latest live sample so the
        two differ by the weights alone."""
        seed = self.last_seed if self.last_seed is not None else self.state.step
        self.append(self.state.best_step if self.state.best_step is not None else self.state.step,
                    seed, kept=True)


class StatusHeartbeat(RunCallback):
    """Refreshes status.json every second: progress, best score, throughput and time left."""

    def __init__(self, state, run_dir, clock, tokens_per_step, chars_per_token):
        super().__init__(state)
        self.run_dir, self.clock = Path(run_dir), clock
        self.tokens_per_step, self.chars_per_token = tokens_per_step, chars_per_token
        self.last_beat = 0.0

    def due(self, now):
        return now - self.last_beat >= HEARTBEAT_EVERY_S

    def beat(self):
        s = self.state
        eta = eta_seconds(s, self.tokens_per_step, self.chars_per_token, self.clock.budget_left())
        runs.write_status(self.run_dir, step=s.step, total_steps=s.total_steps,
                          epoch=round(s.epoch(self.tokens_per_step), 4), best_val_loss=s.best_val_loss,
                          best_step=s.best_step, chars_per_sec=s.chars_per_sec, eta_s=eta)
        self.last_beat = time.time()


class StopRequests(RunCallback):
    """Whether training should stop now, and the reason to give: a STOP file or SIGTERM,
    the time budget, or the last step. ``first_step``: where this session began."""

    def __init__(self, state, run_dir, config, clock, first_step):
        super().__init__(state)
        self.run_dir, self.config, self.clock, self.first_step = Path(run_dir), config, clock, first_step

    def pending(self) -> int:
        """Why training should stop now, as an index into STOP_REASONS (0: it should not)."""
        if (self.run_dir / "STOP").exists() or self.state.sigterm:
            return 1
        if self.clock.out_of_time():
            return 2
        if self.state.step >= self.state.total_steps:
            return 3
        return 0

    def reason(self, request):
        """(state, message) for a STOP_REASONS index; a budget spent says how far it got."""
        outcome, message = STOP_REASONS[request]
        if request != 2:
            return outcome, message
        step, budget = self.state.step, self.config["time_budget"]
        if step > self.first_step:
            return outcome, Message(message, steps=step)
        if self.first_step:
            return "stopped", Message("The time budget of {budget:g} s ran out before training could "
                                      "continue, so the run stays at step {step:,}. Give it more time.",
                                      budget=budget, step=step)
        return "stopped", Message("The time budget of {budget:g} s ran out before training began "
                                  "(start-up took {seconds:.1f} s), so nothing was trained. "
                                  "Give it a longer time budget.", budget=budget, seconds=self.clock.elapsed())


class Controls(RunCallback):
    """Applies the live controls sent to the run (``textgen.control``): a new learning rate,
    time added or taken away, pause and continue.

    Each one applied goes into the next metrics record (``control``: a list of ``kind`` and
    ``value``) and is acknowledged in status.json. Only requests sent since ``since`` (when
    this session's command began) count: a resumed run never replays an earlier session's.
    """

    def __init__(self, state, run_dir, config, clock, metrics, checkpoint, heartbeat, requests, since):
        super().__init__(state)
        self.run_dir, self.config, self.clock, self.since = Path(run_dir), config, clock, since
        self.metrics, self.checkpoint, self.heartbeat = metrics, checkpoint, heartbeat
        self.requests = requests  # StopRequests: whether this step ends the run
        self.offset, self.last_read = 0, 0.0
        self.queue = []  # requests read but not applied yet, oldest first
        self.applied = []  # ids applied but not acknowledged yet

    def read_new(self, force=False):
        """Queue the requests appended since the last read (a stat each step, a read at most
        every CONTROL_READ_EVERY_S unless ``force``)."""
        now = time.time()
        if not force and now - self.last_read < CONTROL_READ_EVERY_S:
            return
        self.last_read = now
        try:
            size = os.stat(control.control_path(self.run_dir)).st_size
        except OSError:
            return
        if size == self.offset:
            return
        found, self.offset = control.read_requests(self.run_dir, self.offset)
        self.queue += [r for r in found
                       if isinstance(r.get("sent_at"), (int, float)) and r["sent_at"] >= self.since]

    def on_step(self):
        """Apply the requests that came in, pausing here on a pause. Returns whether this
        step's metrics record was written, so that nothing else tries to write one."""
        self.read_new()
        wrote = False
        while self.queue:
            request = self.queue.pop(0)
            if request["kind"] == "pause":
                wrote = self.pause(request)
                break  # what came after the continue waits for the next step
            self.apply(request)
        self.acknowledge()
        if self.metrics.carry and not wrote and not self.requests.pending():
            # (a run that ends at this step takes the marks into its last record instead)
            self.metrics.write()
            wrote = True
        return wrote

    def mark(self, kind, value=None):
        self.metrics.carry.setdefault("control", []).append({"kind": kind, "value": value})

    def apply(self, request):
        """Apply a new learning rate or a change of the time budget; anything else (a
        continue while running, a pause while paused, a damaged value) is passed over."""
        kind, value = request["kind"], request.get("value")
        self.applied.append(request["id"])
        try:
            if kind == "learning_rate":
                value = check_setting("learning_rate", value)
            elif kind == "add_time":
                value = float(value)
        except (TextgenError, TypeError, ValueError):
            return
        if kind == "learning_rate":
            # The schedule reads its peak from the config each step: it continues from the new one.
            self.config["learning_rate"] = value
            self.save_setting(learning_rate=value)
        elif kind == "add_time" and self.config.get("time_budget") and math.isfinite(value):
            budget = self.clock.change_budget(value)
            self.save_setting(time_budget=budget)
            runs.write_status(self.run_dir, time_budget=budget)
        else:
            return
        self.mark(kind, value)

    def save_setting(self, **fields):
        """Keep a changed setting in config.json, so that --resume continues with it."""
        path = self.run_dir / "config.json"
        saved = files.read_json(path)
        if isinstance(saved, dict):
            files.atomic_write_json(path, {**saved, **fields})

    def acknowledge(self, **fields):
        """Say in status.json which requests have been applied, at this step (with ``fields``)."""
        if not self.applied and not fields:
            return
        status = files.read_json(self.run_dir / "status.json", {}) or {}
        if self.applied:
            fields.update(control.acknowledgement(status, self.applied, self.state.step))
        runs.write_status(self.run_dir, **fields)
        self.applied = []

    def stop_asked(self):
        return (self.run_dir / "STOP").exists() or self.state.sigterm

    def pause(self, request):
        """Mark the pause, save the resume checkpoint (a kill then loses nothing), and wait,
        keeping the heartbeat, until a continue, a STOP file or SIGTERM. Paused seconds count
        neither against the budget nor on the run's clock: the clock stands still, and
        status.json keeps them (``paused_s``: this session's; ``paused_at`` while paused).
        Returns whether this step's record was written."""
        self.mark("pause")
        self.metrics.write()
        self.applied.append(request["id"])
        if not self.checkpoint.save():
            self.acknowledge()
            return True  # the disk refused it: the run ends as failed
        self.clock.pause()
        self.heartbeat.beat()  # status.json shows the step it paused at
        self.acknowledge(state="paused", paused_at=self.clock.paused_at, message=Message(
            "Paused at step {step:,}. It keeps its place and waits until it is continued.",
            step=self.state.step))
        while not self.stop_asked():
            time.sleep(PAUSE_POLL_S)
            self.read_new(force=True)
            if self.take_continue():
                break
            if self.heartbeat.due(time.time()):
                self.heartbeat.beat()
        paused = self.clock.resume()
        self.metrics.restart_window()  # paused time is no training time
        self.acknowledge(state="running", message="Training.", paused_s=round(paused, 3), paused_at=None)
        return True

    def take_continue(self):
        """Whether a continue came in; it is marked for the next step's record.

        Everything else sent while paused stays queued, in order, and is applied at the first
        step after the continue, in that step's record: applied while paused, it would belong
        to the paused step, whose record is written already, and a run that ended at the
        continue would never record it. A pause sent before the continue is passed over."""
        at = next((i for i, r in enumerate(self.queue) if r["kind"] == "continue"), None)
        if at is None:
            return False
        before, after = self.queue[:at], self.queue[at + 1:]
        self.applied += [self.queue[at]["id"]] + [r["id"] for r in before if r["kind"] == "pause"]
        self.queue = [r for r in before if r["kind"] != "pause"] + after
        self.mark("continue")  # recorded with the next step
        return True


class RunMonitor(RunCallback):
    """Streams a run's progress to its folder and decides when training stops, through its parts.

    ``state``: the run's TrainingState; ``held_out``: an evaluation.HeldOutText scored with
    ``scorer``; ``started``: when this session began; ``time_offset``: seconds trained in
    earlier sessions; ``processes``: several must score, sample and stop at the same steps
    (live controls steer a single process only); ``controls_since``: live controls sent
    before then (default ``started``) belong to earlier sessions.
    """

    def __init__(self, run_dir, config, state, scorer, held_out, tokenizer,
                 started, time_offset, chars_per_token, processes=1, train_spelling=0.0,
                 controls_since=None):
        super().__init__(state)
        run_dir, step_tokens = Path(run_dir), tokens_per_step(config)
        self.processes, self.tokens_per_step = processes, step_tokens
        self.first_step = state.step  # where this session began: steps after it were trained here
        self.clock = RunClock(state, config, started, time_offset)
        self.schedule = LearningRateSchedule(state, config, self.clock)
        self.metrics = MetricsLog(state, run_dir, self.clock, step_tokens, chars_per_token,
                                  train_spelling, self.schedule.long_windows_at)
        self.divergence = DivergenceWatch(state, run_dir, config, getattr(tokenizer, "vocab_size", None),
                                          chars_per_token, train_spelling)
        self.early_stop = EarlyStop(state, config)
        self.scoring = HeldOutScore(state, run_dir, config, scorer, held_out, self.metrics, self.early_stop)
        self.samples = SampleWriter(state, run_dir, config, tokenizer, self.clock)
        self.checkpoint = ResumeCheckpoint(state, run_dir, config, self.clock)
        self.heartbeat = StatusHeartbeat(state, run_dir, self.clock, step_tokens, chars_per_token)
        self.requests = StopRequests(state, run_dir, config, self.clock, self.first_step)
        self.controls = Controls(state, run_dir, config, self.clock, self.metrics, self.checkpoint,
                                 self.heartbeat, self.requests,
                                 started if controls_since is None else controls_since)
        self.parts = [self.schedule, self.metrics, self.divergence, self.early_stop, self.scoring,
                      self.samples, self.checkpoint, self.heartbeat, self.requests, self.controls]
        self.prev_running = (0, 0.0)  # (batches, running mean) within fit's single epoch
        self.doctor = Doctor(state, run_dir, config)
        self.metrics.listeners.append(self.doctor.see)
        self.parts.append(self.doctor)

    @property
    def stop_reason(self):
        return self.state.stop_reason

    def set_model(self, model):
        super().set_model(model)
        for part in self.parts:
            part.set_model(model)

    def on_train_batch_begin(self, batch, logs=None):
        self.schedule.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.state.step += 1
        loss = self.batch_loss(batch, logs)
        diverged = self.divergence.diverging(loss)
        if math.isfinite(loss):
            self.metrics.add(loss)
        # Before anything else writes this step's record; a step that wrote it for a control
        # leaves the held-out score to the next step (records' steps strictly increase).
        steered = self.processes == 1 and self.controls.on_step()
        now = time.time()
        score, sample, request = (self.scoring.due(now) and not steered, self.samples.due(now),
                                  self.requests.pending())
        if self.processes > 1:
            request, score, sample, diverged = agree(request, score, sample, diverged)
        if diverged:
            self.metrics.write()  # the record that shows the rise
            self.stop("failed", self.divergence.message())
            return
        if request:
            self.stop(*self.requests.reason(request))
            return  # the end of training writes the last record, score and checkpoint
        if score:
            self.scoring.score()
        elif self.metrics.due(now):
            self.metrics.write()
        if self.stop_reason:
            return
        if sample:
            with self.metrics.not_training():
                self.samples.write()
        if self.checkpoint.due(now):
            with self.metrics.not_training():
                self.checkpoint.save_on_schedule()
        if self.heartbeat.due(now):
            self.heartbeat.beat()

    def batch_loss(self, batch, logs):
        # Keras reports the running mean since the epoch began; recover this batch's loss.
        mean = float((logs or {}).get("loss", math.nan))
        n = batch + 1
        prev_n, prev_mean = self.prev_running
        self.prev_running = (n, mean)
        return mean * n - prev_mean * prev_n if n == prev_n + 1 else mean

    def trained(self):
        """Whether this session trained any step."""
        return self.state.step > self.first_step

    def wrap_up(self):
        """After the last step: the last record or held-out score, and the resume checkpoint
        (never of a diverged run). Returns how the run ends: (status state, message)."""
        self.check_stop()
        outcome = (self.stop_reason or ("completed",))[0]
        if self.trained() and outcome != "failed" and self.state.last_eval_step != self.state.step:
            self.scoring.score()  # the last steps may beat the last periodic score
        else:
            self.metrics.write()
        outcome, message = self.stop_reason or ("completed", "Finished.")
        if outcome == "failed" and is_diverged(message):
            self.doctor.diverged()
        if self.trained() and outcome != "failed":
            self.checkpoint.save()  # never the weights of a diverged run
            outcome, message = self.stop_reason or ("completed", "Finished.")
        return outcome, message

    def check_stop(self):
        request = self.requests.pending()
        if request and not self.stop_reason:
            self.stop(*self.requests.reason(request))
