"""The training path, start to finish.

``train`` checks the request, ``_fit`` reads the corpus, builds the tokenizer and model,
starts or resumes the run, and runs ``model.fit`` on random windows of the training
split. What happens between steps (metrics, held-out scores, the best checkpoint,
samples, the status heartbeat, and stopping cleanly on a STOP file, SIGTERM, the time
budget, early stopping or a diverging loss) is ``callbacks.RunMonitor``'s; the files a
checkpoint is made of are ``checkpoints``'.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import keras

from textgen import capacity, files, references, runs, speeds, __version__
from textgen.callbacks import RunMonitor, TrainingState
from textgen.checkpoints import clear_torn_writes, restore_run, truncate_log
from textgen.doctor import NOTES_FILE
from textgen.config import (COMMON_DEFAULTS, fine_tune_config, fitted_seq_len, mean_step_seconds,
                            short_window, tokens_per_step, windows_a_step)
from textgen.corpus import load_corpus, split_text, require_min_length, require_min_tokens
from textgen.heldout import held_out_record, run_held_out_warning, scored_part_sentence
from textgen.backend import configure_devices, choose_parallel, gpu_report, windows_of_any_shape, Parallel
from textgen.device import detect_device, unused_gpu_message
from textgen.errors import TextgenError
from textgen.i18n import english
from textgen.evaluation import HeldOutText, Scorer
from textgen.inference import check_saved_model
from textgen.jobs import training_slot
from textgen.models import build_model, body_layers, load_weights
from textgen.tokenizers import run_tokenizer, save_tokenizer, load_tokenizer
from textgen.unknowns import (attach_spelling_counts, spelling_nats_per_char, unknown_shares,
                              unknown_text_warning)


class RandomWindows(keras.utils.PyDataset):
    """Endless batches of (x, y) windows at random offsets of the training ids.

    Each step takes ``config.windows_a_step(settings, long)`` windows: short ones, or
    seq_len ones where ``long_at(step)`` says so (None: never; the sequence-length warm-up,
    textgen.config). Batch ``i`` depends only on the seed, the global step and its window
    length, so a resumed run sees exactly the data it would have seen without the
    interruption. Windows are gathered on the fly: overlapping windows are never
    materialised. ``shard``: this process's number when ``shards`` processes (machines)
    train together, each feeding its own share of the global batch.
    """

    def __init__(self, ids, settings, seed, first_step=0, shard=None, shards=1, long_at=None):
        super().__init__()
        self.ids, self.settings, self.seed, self.first_step = ids, settings, seed, first_step
        self.shard, self.shards, self.long_at = shard, shards, long_at

    @property
    def num_batches(self):
        return None  # endless; the training loop decides when to stop

    def __getitem__(self, i):
        step = self.first_step + i
        count, length = windows_a_step(self.settings, bool(self.long_at and self.long_at(step)))
        key = (self.seed, step) + (() if self.shard is None else (self.shard,))
        rng = np.random.default_rng(key)
        starts = rng.integers(0, len(self.ids) - length - 1, count // self.shards, endpoint=True)
        windows = self.ids[starts[:, None] + np.arange(length + 1)]
        return windows[:, :-1], windows[:, 1:]


def total_steps_for(config, train_tokens):
    """Training steps for the set number of epochs: each step reads config.tokens_per_step
    tokens, so the epoch shown never passes the setting (at least one step)."""
    return max(1, int(config["epochs"] * train_tokens // tokens_per_step(config)))



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
    continues the run in ``out_dir`` (see ``checkpoints.restore_run``); a resume that
    cannot go ahead raises TextgenError and leaves every file of the run as it was.
    """
    started = started or time.time()
    explicit = explicit or {}
    run_dir = Path(out_dir)
    if resume:
        saved = files.read_json(run_dir / "config.json")
        if not saved:
            raise TextgenError("There is no run to resume in {run_dir}.", run_dir=run_dir)
        config = {**saved, **{k: v for k, v in explicit.items() if k in ("epochs", "time_budget")}}
        corpus_specs = corpus_specs or saved["corpus"]["sources"]
        status = runs.read_status(run_dir)
        if status.get("state") in runs.ACTIVE_STATES and status.get("pid") != os.getpid():
            raise TextgenError("This run is still training (process {pid}). Stop it first, or "
                               "wait until it ends.", pid=status.get("pid"))
    elif (run_dir / "config.json").exists() or (run_dir / "model.keras").exists():
        # (a status.json alone is the queue entry jobs.start_training wrote for this run)
        raise TextgenError("{run_dir} already holds a run. Use --resume to continue it, "
                           "or choose a new folder.", run_dir=run_dir)

    corpus = load_corpus(corpus_specs)
    for note in corpus.warnings:  # bytes of a file that were not text, left out
        log(f"warning: {note}")
    if resume and corpus.sha256 != saved["corpus"]["sha256"]:
        raise TextgenError("The corpus has changed since this run started, so it cannot be "
                           "resumed. Start a new run instead.")
    base_dir = config.get("init_from")
    base_config = None
    if base_dir and not resume:
        base_config = files.read_json(Path(base_dir) / "config.json")
        if not base_config or not (Path(base_dir) / "model.keras").exists():
            raise TextgenError("{base_dir} is not a finished run with a model to fine-tune from.",
                               base_dir=base_dir)
        base_config, _ = check_saved_model(base_dir)  # it may be an imported run: untrusted
        config = fine_tune_config(config, explicit, base_config)
    # A warm-up run's long windows shrink to what a small text holds (_fit): its short ones must fit.
    require_min_length(corpus.text, config)
    # Before anything is written: a model too big for this machine is refused with a sentence.
    # The exact vocabulary is known once the tokenizer is built (checked again in _fit).
    vocab_floor = ((saved if resume else base_config or {}).get("vocab_size")
                   or (len(set(corpus.text)) if config["tokenizer"] == "char" else 2))
    capacity.check_fits(config, vocab_floor, "train")

    run_dir.mkdir(parents=True, exist_ok=True)
    return _train_in_slot(corpus, run_dir, config, base_config, resume, started, log)


def _train_in_slot(corpus, run_dir, config, base_config, resume, started, log):
    state = TrainingState()
    signal.signal(signal.SIGTERM, lambda *_: state.update(sigterm=True))
    if not resume:  # a resume writes nothing until it knows it can go ahead
        runs.write_status(run_dir, pid=os.getpid())
    with training_slot(should_stop=lambda: state.sigterm or (run_dir / "STOP").exists(),
                       on_wait=lambda: runs.write_status(
                           run_dir, state="queued", message="Waiting for a free training slot.",
                           waiting_since=time.time())
                       ) as acquired:
        if not acquired:
            return runs.write_status(run_dir, state="stopped",
                                     message="Removed from the queue before it started.")
        asked = started  # live controls sent since the command began are this session's
        started = time.time() if os.environ.get("TEXTGEN_QUEUE_DIR") else started

        def begin(message="Preparing the model."):
            state.begun = True
            # A resumed run's status still holds the end of its last session: no ETA yet,
            # and none of that session's paused seconds.
            runs.write_status(run_dir, state="running", started_at=started, pid=os.getpid(),
                              message=message, time_budget=config.get("time_budget"),
                              eta_s=None, finished_at=None, paused_s=0.0, paused_at=None)

        if not resume:
            begin()
        try:
            configure_devices()
            parallel = choose_parallel(config.get("distribute"), config["batch_size"])
            with parallel.scope():
                return _fit(corpus, run_dir, config, base_config, resume, started, state, log,
                            parallel, begin=begin, controls_since=asked)
        except TextgenError as e:
            if state.begun:
                runs.write_status(run_dir, state="failed", message=str(e))
            raise
        except BaseException as e:
            if state.begun:
                runs.write_status(run_dir, state="failed",
                                  message=f"Training failed unexpectedly ({type(e).__name__}: {e}).")
            raise


def _fit(corpus, run_dir, config, base_config, resume, started, state, log, parallel=None,
         begin=None, controls_since=None):
    """Train in ``parallel``'s scope (one device where it is None); ``state``: the run's
    TrainingState. Returns the final status dict. ``controls_since``: live controls sent
    before this time (``time.time()``; default ``started``) belong to earlier sessions.

    ``begin(message)`` marks the run as running; a resume calls it only once the run's
    files have been read and found usable, before it changes any of them."""
    parallel = parallel or Parallel()
    if parallel.process_count > 1 and config.get("time_budget"):
        raise TextgenError("Training in several processes needs a number of epochs, not a time "
                           "budget: every process must run the same steps. Drop --time-budget.")
    device = configure_devices()
    gpu_note = unused_gpu_message(detect_device()[0], gpu_report()) if device == "CPU" else None
    if gpu_note:  # a GPU listed but out of the backend's reach: say so before anything else
        log(str(gpu_note))
    if config.get("seed") is not None:
        make_repeatable()
    seed = config["seed"] if config.get("seed") is not None else int(time.time()) % 2**31
    config["seed"] = seed
    keras.utils.set_random_seed(seed)

    # Data: the split, the tokenizer, token ids and the held-out text periodic scores use.
    train_text, val_text = split_text(corpus.text, config["val_fraction"])
    # Kept in config.json: the held-out part's fingerprint, and how unlike training it is.
    config.setdefault("held_out", held_out_record(train_text, val_text))
    held_out_note = run_held_out_warning(config)
    if held_out_note:
        log(str(held_out_note))
    tokenizer = _run_tokenizer(run_dir, corpus, config, base_config, resume, train_text, val_text, log)
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    longest = fitted_seq_len(config, len(train_ids), len(val_ids))
    if longest != config["seq_len"]:
        log(f"The text holds windows of at most {longest} tokens in each part, so this run's "
            f"windows grow from {short_window(config)} to {longest} tokens, not {config['seq_len']}.")
        config["seq_len"] = longest
    require_min_tokens(len(train_ids), config["seq_len"], len(val_ids))
    chars_per_token = len(train_text) / len(train_ids)
    # Periodic scoring uses the start of the held-out split when it is very long.
    eval_text = val_text[: config["eval_max_chars"]]
    eval_ids = val_ids if len(eval_text) == len(val_text) else tokenizer.encode(eval_text)
    held_out = HeldOutText(tokenizer, eval_text, eval_ids)

    # The model, then where the run starts: step 0, or where it left off.
    capacity.check_fits(config, tokenizer.vocab_size, "train", gpu=device.startswith("GPU"))
    model = compiled_model(config, base_config, tokenizer.vocab_size)
    state.update(step=0, total_steps=total_steps_for(config, len(train_ids)),
                 train_tokens=len(train_ids))
    scorer = Scorer(model, config)
    resume_note, time_offset = None, 0.0  # a resumed run's clock continues where it stopped
    if resume:
        resume_note, time_offset = _continue_run(run_dir, model, state,
                                                 lambda: held_out.nats_per_char(scorer), begin, log)
    else:
        save_tokenizer(tokenizer, run_dir / "tokenizer.json")
        config.update(vocab_size=tokenizer.vocab_size, parameters=model.count_params(),
                      corpus=corpus_record(corpus), textgen_version=__version__,
                      keras_version=keras.__version__, backend=keras.backend.backend(),
                      device=device, created_at=time.time(),
                      init_from=str(Path(config["init_from"]).resolve()) if config.get("init_from") else None)
        files.atomic_write_json(run_dir / "config.json", config)
    references.compute_in_background(run_dir, log)  # the chart's reference lines, beside training

    # The training loop: model.fit, with RunMonitor acting between steps.
    monitor = RunMonitor(run_dir, config, state, scorer, held_out, tokenizer,
                         started, time_offset, chars_per_token, parallel.process_count,
                         train_spelling=spelling_nats_per_char(tokenizer, train_text),
                         controls_since=controls_since)
    monitor.set_model(model)  # before fit: a budget spent during start-up stops it there
    runs.write_status(run_dir, message=resume_note or "Training.", device=device, step=state.step,
                      total_steps=state.total_steps)
    log(f"Training {config['arch']} ({model.count_params():,} parameters) on {corpus.name}: "
        f"{len(train_ids):,} training and {len(val_ids):,} held-out tokens, on {device}"
        f"{parallel.describe()}.")
    remaining = state.total_steps - state.step
    if remaining > 0 and not monitor.clock.out_of_time():
        shards = parallel.process_count
        data = RandomWindows(train_ids, config, seed, state.step, shards=shards,
                             shard=parallel.process_index if shards > 1 else None,
                             long_at=monitor.schedule.long_windows_at)
        if short_window(config) < config["seq_len"]:
            data = windows_of_any_shape(data)
        model.fit(data, epochs=1, steps_per_epoch=remaining, callbacks=[monitor], verbose=0,
                  shuffle=False)
    final_state, message = monitor.wrap_up()
    run_speed = monitor.metrics.run_chars_per_sec()
    if run_speed and parallel.process_count == 1:  # the next estimate for these settings
        speeds.remember_speed(config, tokenizer.vocab_size,
                              speeds.where(keras.backend.backend(), device.startswith("GPU")),
                              run_speed / chars_per_token)

    # The end: the kept model's held-out score, what it writes, the final status.
    # (wrap_up saved the resume checkpoint: loading the kept weights changes nothing it needs.)
    val_loss = None
    if (run_dir / "model.keras").exists():
        load_weights(model, run_dir / "model.keras")
        # The same held-out text as the periodic scores (all of it unless it is very long;
        # `evaluate` always scores all of it).
        val_loss = held_out.nats_per_char(scorer)
        if monitor.trained() and final_state != "failed":
            # What Generate will write, beside the live samples, which may come from later,
            # more memorised weights than the kept ones.
            monitor.samples.write_kept()
    status = runs.write_status(
        run_dir, state=final_state, message=message, step=state.step,
        epoch=round(state.epoch(monitor.tokens_per_step), 4),
        best_val_loss=val_loss if val_loss is not None else state.best_val_loss,
        best_step=state.best_step, finished_at=time.time(), eta_s=0.0)
    scored = scored_part_sentence(config, english)
    log(message + (f" Held-out loss {val_loss:.4f} nats per character." if val_loss else "")
        + (f" {scored}" if val_loss and scored else ""))
    return status


def measure_speed(settings: dict, vocab_size: int, steps: int = speeds.PROBE_STEPS) -> float:
    """Training tokens a second of a model with ``settings`` (its shape, batch size and
    optimizer settings) and ``vocab_size`` tokens on this machine's device: ``steps`` real
    training steps on random token ids, timed after one step that compiles them. The
    probe textgen.speeds.measure_in_child runs; about 5-40 s on a CPU. A warm-up's short and
    long windows (config.windows_a_step) are timed apart and weighed by their shares of a
    run's steps (config.mean_step_seconds)."""
    configure_devices()
    settings = {**COMMON_DEFAULTS, **settings}
    model = compiled_model(settings, None, vocab_size)
    step_seconds = {}
    for long in (False, True) if short_window(settings) < settings["seq_len"] else (False,):
        windows, length = windows_a_step(settings, long)
        ids = np.random.default_rng(0).integers(0, vocab_size, (windows, length + 1)).astype("int32")
        model.train_on_batch(ids[:, :-1], ids[:, 1:])  # compiles the step for this shape
        began = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(ids[:, :-1], ids[:, 1:])
        step_seconds[long] = (time.perf_counter() - began) / steps
    return tokens_per_step(settings) / mean_step_seconds(step_seconds[False], step_seconds.get(True))


def _run_tokenizer(run_dir, corpus, config, base_config, resume, train_text, val_text, log):
    """The run's tokenizer: the saved one on resume, else built on the corpus (a fine-tune
    extends its base run's). Logs a warning when much of the text is unknown to it."""
    if resume:
        tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    else:
        tokenizer = run_tokenizer(corpus.text, config["tokenizer"], config["max_vocab"],
                                  config["init_from"] if base_config else None)
        attach_spelling_counts(tokenizer, train_text)  # what an <unk> costs: textgen.unknowns
    unknown_warning = unknown_text_warning(unknown_shares(tokenizer, train_text, val_text),
                                           Path(config["init_from"]).name if base_config else None)
    if unknown_warning:
        log(unknown_warning)
    return tokenizer


def compiled_model(config, base_config, vocab_size):
    """A new model for ``config``, compiled; a fine-tune starts from its base run's weights."""
    model = build_model(config, vocab_size)
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
    return model


def _continue_run(run_dir, model, state, score, begin, log):
    """Put ``model`` and ``state`` where the run left off (``checkpoints.restore_run``), then
    drop log records after that step and half-written files. Returns (the note saying where
    it continues, or None; the run's clock in seconds)."""
    point = restore_run(run_dir, model, score)
    resume_note = point["note"]
    if begin:
        begin(resume_note or "Preparing the model.")
    if resume_note:
        log(resume_note)
    state.update(**point["state"])
    state.logged_step = truncate_log(run_dir / "metrics.jsonl", state.step)
    truncate_log(run_dir / "samples.jsonl", state.step)
    truncate_log(run_dir / NOTES_FILE, state.step)  # the doctor's notes up to here stay
    clear_torn_writes(run_dir)
    return resume_note, point["elapsed"]
