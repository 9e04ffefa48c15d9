"""Training settings: presets, validation and the plain-data config of a run.

A config is a plain dict. Presets fill in every setting; flags the user gives
explicitly override the preset. Every setting is checked against a range that
the error message names, so a bad value never reaches Keras.
"""

from __future__ import annotations

import math

from textgen.errors import TextgenError

# Presets stop by the clock and when the held-out loss stops improving, never by a count of
# epochs: a small text would reach any fixed count within seconds, still improving. The epoch
# cap is only a backstop; the learning rate decays by the clock (callbacks.learning_rate_at).
PRESETS = {
    # Small and fast: something readable within a minute on a laptop CPU. A minute holds only
    # some 600 steps, so each reads more (64 windows: about 1.4x the characters a second of 32
    # on two cores) and moves further (the learning rate that learnt most in a minute on
    # tinyshakespeare, benchmarks/README.md).
    "quick": dict(arch="gru", layers=1, units=256, embedding_dim=64, seq_len=64,
                  batch_size=64, dropout=0.0, learning_rate=1.2e-2, epochs=1000, time_budget=60),
    # The default: a 2x256 GRU, the best quality per CPU-second we have measured. It trains
    # until the held-out loss stops improving, for at most ten minutes. 64 windows a step at
    # 5e-3 learn more in the same time than 32 at 3e-3, and a 128-wide embedding more than a
    # 64-wide one; windows of 64 tokens that grow to 256 for the last tenth of the run
    # (short_seq_len, LONG_WINDOW_SHARE) score better than 64 throughout (benchmarks/README.md).
    "balanced": dict(arch="gru", layers=2, units=256, embedding_dim=128, seq_len=256,
                     batch_size=64, dropout=0.0, learning_rate=5e-3, epochs=1000, time_budget=600),
    # Bigger and slower; worth it on a GPU or with patience. At most half an hour. Like every
    # GRU or LSTM whose windows are longer than 64 tokens, it warms them up from 64 (to 128).
    "quality": dict(arch="gru", layers=3, units=512, embedding_dim=128, seq_len=128,
                    batch_size=64, dropout=0.2, learning_rate=1.5e-3, epochs=1000, time_budget=1800),
}
DEFAULT_PRESET = "balanced"

# On a GPU, Balanced and Quality become what that hardware does best: a GPT-style Transformer
# as in nanoGPT's character-level Shakespeare model (6 layers, 384 wide, 6 heads of 64, a
# 256-token context, batches of 64, dropout 0.2, learning rate 1e-3), trained in mixed
# precision (textgen.backend). Quick stays the small GRU: a minute is mostly start-up there.
DEVICES = ("cpu", "gpu")
DEVICE_PRESETS = {
    "gpu": {
        "balanced": dict(arch="transformer", layers=6, units=384, embedding_dim=384, seq_len=256,
                         batch_size=64, dropout=0.2, learning_rate=1e-3),
        "quality": dict(arch="transformer", layers=8, units=512, embedding_dim=512, seq_len=256,
                        batch_size=64, dropout=0.2, learning_rate=6e-4),
    },
}

COMMON_DEFAULTS = dict(
    tokenizer="char", val_fraction=0.1, seed=None, max_vocab=None,  # None: VOCAB_DEFAULTS
    weight_decay=0.0, clipnorm=1.0,
    short_seq_len=64,                       # a GRU's or LSTM's first windows (short_window)
    warmup_steps=50, min_lr_ratio=0.1,     # linear warm-up, then cosine decay to 10 %
    eval_every_s=5.0, eval_max_chars=50_000,  # periodic held-out scores: the split's start
    patience=6,                             # held-out scores without improvement before stopping
    sample_every_s=20.0, sample_length=240,
    checkpoint_every_s=30.0,                # latest state for --resume, at most this often
    init_from=None, freeze_layers=0,
    distribute="auto",                      # several devices: auto (several GPUs), off, mirrored, data_parallel
)

ARCHS = ("gru", "lstm", "transformer")
TOKENIZERS = ("char", "word", "bpe")
# Most tokens a vocabulary keeps. Subword merges pay off long before a word list would:
# about a thousand pieces already halve the sequence length of English text.
VOCAB_DEFAULTS = {"char": 20000, "word": 20000, "bpe": 1024}
DISTRIBUTE = ("auto", "off", "mirrored", "data_parallel")

# name: (type, low, high, plain-language help)
RANGES = {
    "seq_len": (int, 4, 4096, "how many tokens the model reads at once while learning"),
    "batch_size": (int, 1, 4096, "how many text windows each training step looks at"),
    "layers": (int, 1, 24, "how many layers are stacked; more is slower but can learn more"),
    "units": (int, 4, 8192, "the width of each layer"),
    "embedding_dim": (int, 2, 8192, "the size of the vector that stands for each token"),
    "dropout": (float, 0.0, 0.9, "the share of signals dropped while training, against memorising"),
    "learning_rate": (float, 1e-6, 1.0, "how big each learning step is"),
    "epochs": (int, 1, 100_000, "how many passes over the training text at most"),
    "val_fraction": (float, 0.01, 0.5, "the share of the text at its end kept aside to measure progress"),
    "seed": (int, 0, 2**31 - 1, "a number that makes a run repeatable when it finishes "
                                    "its epochs well within its time budget (or has none)"),
    "time_budget": (float, 0.0, 7 * 24 * 3600.0, "stop training after this many seconds (0: no limit)"),
    "max_vocab": (int, 2, 1_000_000, "the most distinct words or subword pieces the model knows"),
    "freeze_layers": (int, 0, 24, "how many lower layers stay fixed when fine-tuning"),
}


# The label and help are catalog entries too, so a translated sentence is translated whole.
OUT_OF_RANGE_WHOLE = "The {label} must be a whole number from {low:g} to {high:g} ({help}); got {value!r}."
OUT_OF_RANGE = "The {label} must be a number from {low:g} to {high:g} ({help}); got {value!r}."


def _check_number(name: str, value):
    kind, low, high, help_text = RANGES[name]
    label = name.replace("_", " ")
    if isinstance(value, bool):
        value = repr(value)  # True is not a number a person means
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if kind is int and math.isfinite(number) and number != int(number):
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        raise TextgenError(OUT_OF_RANGE_WHOLE if kind is int else OUT_OF_RANGE,
                           label=label, low=low, high=high, help=help_text, value=value)
    return kind(number)


# Sequence-length warm-up (after Li, Zhang and He 2022, "The Stability-Efficiency Dilemma:
# Investigating Sequence Length Warmup for Training GPT Models"): a GRU or LSTM whose
# short_seq_len is below its seq_len trains on windows of short_seq_len tokens, batch_size of
# them a step, until the last LONG_WINDOW_SHARE of its run, then on windows of seq_len, as
# many as keep the tokens a step the same. Short windows give a CPU more steps a second, and
# a recurrent network learns as much from them; the long ones at the end teach it to use the
# longer context it is scored with (held-out windows are seq_len long). A Transformer's
# positions beyond the short window would stay untrained, so it always reads seq_len.
LONG_WINDOW_SHARE = 0.1


def short_window(config: dict) -> int:
    """Tokens in a training window before the last LONG_WINDOW_SHARE of a run: the
    short_seq_len of a GRU or LSTM that sets one below its seq_len, else seq_len."""
    short = config.get("short_seq_len")
    if config["arch"] == "transformer" or not short:
        return config["seq_len"]
    return min(int(short), config["seq_len"])


def windows_a_step(config: dict, long: bool) -> tuple[int, int]:
    """(windows, tokens in each) of one training step: ``batch_size`` short windows, or in
    the run's last part (``long``) as many seq_len windows as hold about the same tokens."""
    if not long:
        return config["batch_size"], short_window(config)
    return max(1, tokens_per_step(config) // config["seq_len"]), config["seq_len"]


def fitted_seq_len(config: dict, train_tokens: int, held_out_tokens: int) -> int:
    """The seq_len a warm-up run (short_window below seq_len) takes on a text whose splits
    hold ``train_tokens`` and ``held_out_tokens`` tokens: halved until each split holds a
    window and its next token, but not below short_window, so a text that holds the short
    windows trains; any other run's seq_len as set."""
    return halved_to_fit(config["seq_len"], short_window(config),
                         lambda tokens: min(train_tokens, held_out_tokens) >= tokens + 1)


def halved_to_fit(seq_len: int, least: int, fits) -> int:
    """``seq_len`` (tokens) halved until ``fits(seq_len)`` is true, but never below ``least``
    (returned even where that does not fit: the caller's length check then says why)."""
    while seq_len > least and not fits(seq_len):
        seq_len = max(least, seq_len // 2)
    return seq_len


def mean_step_seconds(short_s: float, long_s: float | None) -> float:
    """Seconds a step takes over a whole run by steps, from a step's seconds on the short
    windows (``short_s``) and on a warm-up's long ones (``long_s``; None: no warm-up, or not
    measured), each weighed by its share of the steps (LONG_WINDOW_SHARE for the long)."""
    if long_s is None:
        return short_s
    return (1 - LONG_WINDOW_SHARE) * short_s + LONG_WINDOW_SHARE * long_s


def tokens_per_step(config: dict) -> int:
    """Tokens one training step reads: ``batch_size`` windows of ``short_window`` tokens."""
    return config["batch_size"] * short_window(config)


def check_setting(name: str, value):
    """One setting checked against its range; the TextgenError names the allowed range."""
    return _check_number(name, value)


def preset_values(preset: str, device: str = "cpu") -> dict:
    """The settings ``preset`` gives on ``device`` ("cpu" or "gpu"; see DEVICE_PRESETS)."""
    return {**PRESETS[preset], **DEVICE_PRESETS.get(device, {}).get(preset, {})}


def resolve_config(preset: str | None = None, device: str = "cpu", **overrides) -> dict:
    """The full settings for a run: the preset's values for ``device`` ("cpu" or "gpu", the
    device it will train on), then explicit overrides, all validated. ``preset_device`` in
    the result records which device the preset's values were chosen for."""
    preset = str(preset or DEFAULT_PRESET).lower()
    if preset not in PRESETS:
        raise TextgenError("Unknown preset {preset!r}. Choose quick, balanced or quality.", preset=preset)
    config = {"preset": preset, **COMMON_DEFAULTS, **preset_values(preset, device),
              "preset_device": device if device in DEVICES else "cpu"}
    config.update({k: v for k, v in overrides.items() if v is not None})
    if config["arch"] not in ARCHS:
        raise TextgenError("Unknown architecture {arch!r}. Choose gru, lstm or transformer.",
                           arch=config["arch"])
    if config["tokenizer"] not in TOKENIZERS:
        raise TextgenError("Unknown tokenizer {tokenizer!r}. Choose char, word or bpe.",
                           tokenizer=config["tokenizer"])
    if config["max_vocab"] is None:
        config["max_vocab"] = VOCAB_DEFAULTS[config["tokenizer"]]
    if config["distribute"] not in DISTRIBUTE:
        raise TextgenError("Unknown distribute setting {distribute!r}. Choose auto "
                           "(several GPUs when there are), off, mirrored (TensorFlow) or "
                           "data_parallel (JAX).", distribute=config["distribute"])
    for name in RANGES:
        if config.get(name) is not None:
            config[name] = _check_number(name, config[name])
    if not config.get("time_budget"):
        config["time_budget"] = None  # 0 means no limit
    if config["arch"] == "transformer":
        config["heads"] = attention_heads(config["units"])
    if config["freeze_layers"] > config["layers"]:
        raise TextgenError("Cannot freeze {freeze} layers of a {layers}-layer model.",
                           freeze=config["freeze_layers"], layers=config["layers"])
    return config


def model_config(raw: dict) -> dict:
    """The saved settings, validated again before any layer is built from them."""
    if not isinstance(raw, dict) or raw.get("arch") not in ARCHS or raw.get("tokenizer") not in TOKENIZERS:
        raise TextgenError("This run's config.json is missing or damaged, so its model cannot be loaded.")
    shape = {k: raw.get(k) for k in ("arch", "tokenizer", "layers", "units", "embedding_dim",
                                      "seq_len", "dropout")}
    try:
        checked = resolve_config(raw.get("preset", "balanced"), **shape)
    except TextgenError as e:
        raise TextgenError("This run's settings are invalid: {problem}", problem=e) from None
    # Only the validated shape replaces the saved values: the rest (val_fraction above all,
    # which picks the held-out split) must stay as trained, not fall back to preset defaults.
    return {**raw, **{k: checked[k] for k in shape}, "preset": raw.get("preset"),
            "heads": checked.get("heads")}


def attention_heads(width: int) -> int:
    """Heads of 64 dimensions where the width allows it, else the largest divisor up to 8."""
    if width % 64 == 0:
        return max(1, width // 64)
    return max(h for h in range(1, 9) if width % h == 0)


# Characters a subword token covers on average: 2.4 on English prose with 1,024 pieces
# (tinyshakespeare); close to 1 on Chinese, whose characters already carry meaning.
BPE_CHARS_PER_TOKEN = 2.4


def expected_vocabulary(config: dict, stats: dict, distinct_words: int) -> tuple[int, int]:
    """(vocabulary size, tokens in the whole text) the tokenizer will roughly make of a
    corpus with these statistics (textgen.corpus), for estimates before anything is built.
    textgen.estimates counts both exactly where the text is at hand."""
    kind, cap = config["tokenizer"], config["max_vocab"]
    if kind == "word":
        return min(cap, distinct_words) + 2, stats["words"] * 2  # words and the spaces between
    if kind == "bpe":
        return max(min(cap, stats["chars"]), stats["distinct_chars"] + 1), int(stats["chars"] / BPE_CHARS_PER_TOKEN)
    return stats["distinct_chars"], stats["chars"]  # a character vocabulary has no unknown token


def weight_shapes(config: dict, vocab_size: int) -> list[tuple[int, ...]]:
    """The shape of every weight array the model these settings build holds, in no set order:
    exactly what ``build_model(config, vocab_size).weights`` holds and model.keras stores."""
    e, u, n, v = config["embedding_dim"], config["units"], config["layers"], vocab_size
    head = [(u, v), (v,)]  # the logits layer
    if config["arch"] == "transformer":
        h = config.get("heads") or attention_heads(u)
        block = [(u, h, u // h), (h, u // h)] * 3 + [(h, u // h, u), (u,)]  # query, key, value; output
        block += [(u, 4 * u), (4 * u,), (4 * u, u), (u,)]  # the MLP: expand, project
        block += [(u,), (u,)] * 2  # two layer norms: scale and offset
        return [(v, u), (config["seq_len"], u)] + block * n + [(u,), (u,)] + head
    gates = 3 if config["arch"] == "gru" else 4
    # Keras's GRU keeps separate input and recurrent biases (reset_after=True): shape (2, 3u).
    bias = (2, gates * u) if config["arch"] == "gru" else (gates * u,)
    shapes, width_in = [(v, e)], e
    for _ in range(n):
        shapes += [(width_in, gates * u), (u, gates * u), bias]
        width_in = u
    return shapes + head


def count_parameters(config: dict, vocab_size: int) -> int:
    """Parameters of the model these settings build, without building it (exact)."""
    return sum(math.prod(shape) for shape in weight_shapes(config, vocab_size))


def estimate_seconds(config: dict, train_tokens: int, tokens_per_s: float | None = None) -> float:
    """Seconds a run of ``config`` takes at most: its time budget, or its epochs over
    ``train_tokens`` at ``tokens_per_s`` (training tokens a second measured on this machine,
    textgen.speeds) where that is sooner. Infinite when neither bounds it (no budget and no
    measured speed). It stops earlier when the held-out loss stops improving."""
    budget = float(config["time_budget"]) if config.get("time_budget") else math.inf
    if not tokens_per_s:
        return budget
    return min(budget, config["epochs"] * train_tokens / tokens_per_s)


# A fine-tune keeps the base model's shape; smaller steps keep what it learnt: 0.3 times the
# preset's rate, and never more than the rate fine-tuning the shipped base model was measured
# at (benchmarks/README.md, small texts), since Quick's large steps would wash the base away.
FINE_TUNE_SHAPE = ("arch", "tokenizer", "layers", "units", "embedding_dim", "max_vocab")
FINE_TUNE_LR_FACTOR = 0.3
FINE_TUNE_MAX_LR = 9e-4


def fine_tune_config(config, explicit, base_config):
    """Settings for fine-tuning: the base model's shape, a gentler default learning rate."""
    for key in FINE_TUNE_SHAPE:
        if key in explicit and explicit[key] != base_config[key]:
            raise TextgenError("The base run has {setting} {base!r}; a fine-tune keeps the base "
                               "model's shape, so {chosen!r} cannot be used.",
                               setting=key.replace("_", " "), base=base_config[key], chosen=explicit[key])
        config[key] = base_config[key]
    if config["arch"] == "transformer":
        config["heads"] = base_config["heads"]
        if config["seq_len"] > base_config["seq_len"]:
            config["seq_len"] = base_config["seq_len"]
    if "learning_rate" not in explicit:
        config["learning_rate"] = min(config["learning_rate"] * FINE_TUNE_LR_FACTOR, FINE_TUNE_MAX_LR)
    return config

