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
import sys
import time
from pathlib import Path

import numpy as np
import keras

from textgen import runs, __version__
from textgen.config import fine_tune_config
from textgen.corpus import load_corpus, split_text, require_min_length
from textgen.backend import configure_devices, choose_parallel, Parallel
from textgen.errors import TextgenError
from textgen.evaluation import Scorer, target_chars
from textgen.models import build_model, body_layers, load_weights
from textgen.sampling import Sampler, never_sampled, start_token
from textgen.tokenizers import make_tokenizer, save_tokenizer, load_tokenizer

CHECKPOINT_EVERY_S = 30.0  # default; a run's config may set checkpoint_every_s
SAVE_FAILED = ("Could not write the checkpoint: the disk is full or not writable. "
               "The previous checkpoint is kept.")
HEARTBEAT_EVERY_S = 1.0
STOP_REASONS = {1: ("stopped", "Stopped on request. The best checkpoint is kept."),
                2: ("completed", "Finished: the time budget was spent."),
                3: ("completed", "Finished all epochs.")}
METRICS_EVERY_S = 0.5


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


def learning_rate_at(config, step, total_steps, elapsed):
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` by the end of the steps or the budget."""
    peak = config["learning_rate"]
    warmup = min(config["warmup_steps"], max(total_steps // 10, 1))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total_steps - warmup, 1)
    if config.get("time_budget"):
        progress = max(progress, elapsed / config["time_budget"])
    progress = min(progress, 1.0)
    floor = peak * config["min_lr_ratio"]
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class RunMonitor(keras.callbacks.Callback):
    """Streams a run's progress to its folder and decides when training stops."""

    def __init__(self, run_dir, config, state, scorer, val_ids, val_chars, tokenizer,
                 started, time_offset, chars_per_token, processes=1):
        super().__init__()
        self.processes = processes  # several: they must score, sample and stop at the same steps
        self.run_dir, self.config, self.state = Path(run_dir), config, state
        self.scorer, self.val_ids, self.val_chars = scorer, val_ids, val_chars
        self.tokenizer, self.started, self.time_offset = tokenizer, started, time_offset
        self.chars_per_token = chars_per_token
        self.tokens_per_step = config["batch_size"] * config["seq_len"]
        self.stop_reason = None
        self.sampler = None
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

    def out_of_time(self):
        budget = self.config.get("time_budget")
        # Leave room for the final held-out score and the last checkpoint.
        return bool(budget) and self.elapsed() + self.eval_seconds + 2.0 >= budget

    # --- callback hooks -----------------------------------------------------

    def on_train_batch_begin(self, batch, logs=None):
        lr = learning_rate_at(self.config, self.state["step"], self.state["total_steps"],
                              self.elapsed())
        self.model.optimizer.learning_rate.assign(lr)

    def on_train_batch_end(self, batch, logs=None):
        self.state["step"] += 1
        loss = self.batch_loss(batch, logs)
        if not math.isfinite(loss):
            self.stop("failed", "Training diverged: the loss became infinite or NaN. "
                      "The best checkpoint is kept; try a lower learning rate.")
            return
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
            request, score, sample = self.agree(request, score, sample)
        if request:
            self.stop(*STOP_REASONS[request])
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
        val_loss = self.scorer.total_nats(self.val_ids) / self.val_chars
        self.eval_seconds = time.time() - began
        self.state["last_eval_step"] = self.state["step"]
        if not math.isfinite(val_loss):
            self.log_metrics(record)
            self.stop("failed", "Training diverged: the held-out loss became NaN. "
                      "The best checkpoint is kept; try a lower learning rate.")
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
            self.stop(*STOP_REASONS[request])

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
    """Latest weights, optimizer state and step for ``--resume``, written atomically."""
    folder = Path(run_dir) / "checkpoint"
    folder.mkdir(exist_ok=True)
    arrays = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    arrays.update({f"o{i}": keras.ops.convert_to_numpy(v)
                   for i, v in enumerate(model.optimizer.variables)})
    tmp = folder / f".state.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / "state.npz")
    finally:
        tmp.unlink(missing_ok=True)
    keep = ("step", "total_steps", "best_val_loss", "best_step", "evals_since_best", "elapsed")
    runs.atomic_write_json(folder / "meta.json", {k: state.get(k) for k in keep})


def restore_checkpoint(run_dir, model):
    folder = Path(run_dir) / "checkpoint"
    meta = runs.read_json(folder / "meta.json")
    if not meta or not (folder / "state.npz").exists():
        raise TextgenError("This run has no checkpoint to resume from. Start a new run instead.")
    with np.load(folder / "state.npz", allow_pickle=False) as data:
        model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
        model.optimizer.build(model.trainable_variables)
        for i, v in enumerate(model.optimizer.variables):
            v.assign(data[f"o{i}"])
    return meta


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
    the user gave, which win over a base run's when fine-tuning.
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
    elif (run_dir / "config.json").exists() or (run_dir / "model.keras").exists():
        # (a status.json alone is the queue entry jobs.start_training wrote for this run)
        raise TextgenError(f"{run_dir} already holds a run. Use --resume to continue it, "
                           "or choose a new folder.")

    corpus = load_corpus(corpus_specs)
    if resume and corpus.sha256 != saved["corpus"]["sha256"]:
        raise TextgenError("The corpus has changed since this run started, so it cannot be "
                           "resumed. Start a new run instead.")
    base_dir = config.get("init_from")
    base_config = None
    if base_dir and not resume:
        base_config = runs.read_json(Path(base_dir) / "config.json")
        if not base_config or not (Path(base_dir) / "model.keras").exists():
            raise TextgenError(f"{base_dir} is not a finished run with a model to fine-tune from.")
        config = fine_tune_config(config, explicit, base_config)
    require_min_length(corpus.text, config["seq_len"], config["val_fraction"])

    run_dir.mkdir(parents=True, exist_ok=True)
    return _train_in_slot(corpus, run_dir, config, base_config, resume, started, log)


def _train_in_slot(corpus, run_dir, config, base_config, resume, started, log):
    from textgen.jobs import training_slot

    state = {"sigterm": False}
    signal.signal(signal.SIGTERM, lambda *_: state.update(sigterm=True))
    runs.write_status(run_dir, pid=os.getpid())
    with training_slot(should_stop=lambda: state["sigterm"] or (run_dir / "STOP").exists(),
                       on_wait=lambda: runs.write_status(
                           run_dir, state="queued", message="Waiting for a free training slot.")
                       ) as acquired:
        if not acquired:
            return runs.write_status(run_dir, state="stopped",
                                     message="Removed from the queue before it started.")
        started = time.time() if os.environ.get("TEXTGEN_QUEUE_DIR") else started
        runs.write_status(run_dir, state="running", started_at=started, pid=os.getpid(),
                          message="Preparing the model.", time_budget=config.get("time_budget"))
        try:
            configure_devices()
            parallel = choose_parallel(config.get("distribute"), config["batch_size"])
            with parallel.scope():
                return _fit(corpus, run_dir, config, base_config, resume, started, state, log,
                            parallel)
        except TextgenError as e:
            runs.write_status(run_dir, state="failed", message=str(e))
            raise
        except BaseException as e:
            runs.write_status(run_dir, state="failed",
                              message=f"Training failed unexpectedly ({type(e).__name__}: {e}).")
            raise


def _fit(corpus, run_dir, config, base_config, resume, started, state, log, parallel=None):
    """Train in ``parallel``'s scope (one device where it is None)."""
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
    if resume:
        tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    elif base_config:
        base_tok = load_tokenizer(Path(config["init_from"]) / "tokenizer.json")
        tokenizer = base_tok.extend(corpus.text) if base_tok.kind == "char" else base_tok
    else:
        tokenizer = make_tokenizer(config["tokenizer"], corpus.text, config["max_vocab"])
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    if len(train_ids) <= config["seq_len"] + 1 or len(val_ids) < 2:
        raise TextgenError(
            f"The corpus is too short for a sequence length of {config['seq_len']} tokens. "
            "Add more text or lower the sequence length.")
    chars_per_token = len(train_text) / len(train_ids)
    # Periodic scoring uses the start of the held-out split when it is very long.
    eval_text = val_text[: config["eval_max_chars"]]
    eval_ids = val_ids if len(eval_text) == len(val_text) else tokenizer.encode(eval_text)
    eval_chars = max(target_chars(tokenizer, eval_text, eval_ids), 1)

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
    steps_per_epoch = max(len(train_ids) // (config["batch_size"] * config["seq_len"]), 1)
    state.update(step=0, total_steps=config["epochs"] * steps_per_epoch, train_tokens=len(train_ids))
    if resume:
        meta = restore_checkpoint(run_dir, model)
        state.update({k: v for k, v in meta.items() if k != "total_steps" and v is not None})
        state["total_steps"] = config["epochs"] * steps_per_epoch
        state["logged_step"] = truncate_log(run_dir / "metrics.jsonl", state["step"])
        truncate_log(run_dir / "samples.jsonl", state["step"])
        time_offset = meta.get("elapsed") or 0.0
    else:
        save_tokenizer(tokenizer, run_dir / "tokenizer.json")
        config.update(vocab_size=tokenizer.vocab_size, parameters=model.count_params(),
                      corpus=corpus_record(corpus), textgen_version=__version__,
                      keras_version=keras.__version__, backend=keras.backend.backend(),
                      device=device, created_at=time.time(),
                      init_from=str(Path(config["init_from"]).resolve()) if config.get("init_from") else None)
        runs.atomic_write_json(run_dir / "config.json", config)

    scorer = Scorer(model, config)
    monitor = RunMonitor(run_dir, config, state, scorer, eval_ids, eval_chars, tokenizer,
                         started, time_offset, chars_per_token, parallel.process_count)
    runs.write_status(run_dir, message="Training.", device=device, step=state["step"],
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
    if final_state != "failed" and state.get("last_eval_step") != state["step"]:
        monitor.evaluate()  # the last steps may beat the last periodic score
    else:
        monitor.log_metrics()
    monitor.save_checkpoint()
    final_state, message = monitor.stop_reason or ("completed", "Finished.")
    val_loss = None
    if (run_dir / "model.keras").exists():
        load_weights(model, run_dir / "model.keras")
        # The same held-out text as the periodic scores (all of it unless it is very long;
        # `evaluate` always scores all of it).
        val_loss = scorer.total_nats(eval_ids) / eval_chars
        if final_state != "failed" and monitor.sampler is None:
            monitor.write_sample()  # a run shorter than sample_every_s still shows what it learned
    status = runs.write_status(
        run_dir, state=final_state, message=message, step=state["step"], epoch=round(monitor.epoch(), 4),
        best_val_loss=val_loss if val_loss is not None else state.get("best_val_loss"),
        best_step=state.get("best_step"), finished_at=time.time(), eta_s=0.0)
    log(message + (f" Held-out loss {val_loss:.4f} nats per character." if val_loss else ""))
    return status
