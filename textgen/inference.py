"""A finished run, loaded for sampling and scoring: ``load_run`` and ``Run``.

The model is rebuilt from the run's own validated config.json and only its
weights are read from model.keras, so loading a run never executes code that
came with the file.
"""

from __future__ import annotations

from pathlib import Path

from textgen import capacity, models, runs
from textgen.backend import configure_devices
from textgen.config import model_config
from textgen.errors import TextgenError
from textgen.evaluation import Scorer, score_text
from textgen.files import read_json
from textgen.heldout import rebuild_held_out
from textgen.sampling import Sampler
from textgen.sampling_settings import DEFAULT_LENGTH, DEFAULT_TEMPERATURE, SamplingSettings
from textgen.tokenizers import load_tokenizer, never_sampled, start_token
from textgen.unknowns import unknown_pieces


class Run:
    """A trained model with its tokenizer, ready to generate and score text."""

    def __init__(self, path, config, tokenizer, model):
        self.path, self.config, self.tokenizer, self.model = Path(path), config, tokenizer, model
        self._sampler = None
        self._scorer = None

    @property
    def name(self):
        return self.path.name

    @property
    def sampler(self):
        if self._sampler is None:
            self._sampler = Sampler(self.model, self.config, banned_ids=never_sampled(self.tokenizer))
        return self._sampler

    def prompt_ids(self, prompt) -> list[int]:
        """The token ids generation starts from: the prompt's, or the start token for an
        empty prompt. A character model raises TextgenError for characters it never saw."""
        if not isinstance(prompt, str):
            raise TextgenError("The prompt must be text.")
        return list(self.tokenizer.encode(prompt)) if prompt else [start_token(self.tokenizer)]

    def stream_samples(self, prompt="", length=DEFAULT_LENGTH, temperature=DEFAULT_TEMPERATURE, top_k=None,
                       top_p=None, seed=None, num_samples=1):
        """Yield lists of text pieces, one per sample, as the chunks are produced.

        The settings are those of ``SamplingSettings``; a bad one raises its TextgenError.
        """
        settings = SamplingSettings(temperature, top_k, top_p, length, seed, num_samples)
        ids = self.prompt_ids(prompt)
        for chunk in self.sampler.generate(ids, settings.length, settings.temperature, settings.top_k,
                                           settings.top_p, settings.seed, batch=settings.num_samples):
            yield [self.tokenizer.decode(row) for row in chunk]

    def stream(self, prompt="", length=DEFAULT_LENGTH, temperature=DEFAULT_TEMPERATURE, top_k=None,
               top_p=None, seed=None):
        """Yield the continuation of ``prompt`` in pieces, as it is produced."""
        for pieces in self.stream_samples(prompt, length, temperature, top_k, top_p, seed):
            yield pieces[0]

    def generate(self, prompt="", length=DEFAULT_LENGTH, temperature=DEFAULT_TEMPERATURE, top_k=None,
                 top_p=None, seed=None):
        """The continuation of ``prompt`` (the prompt itself is not repeated)."""
        return "".join(self.stream(prompt, length, temperature, top_k, top_p, seed))

    def samples(self, prompt="", length=DEFAULT_LENGTH, temperature=DEFAULT_TEMPERATURE, top_k=None,
                top_p=None, seed=None, num_samples=1):
        """Several continuations of the same prompt, sampled together."""
        settings = SamplingSettings(temperature, top_k, top_p, length, seed, num_samples)
        texts = [""] * settings.num_samples
        for pieces in self.stream_samples(prompt, length, temperature, top_k, top_p, seed,
                                          num_samples):
            texts = [t + p for t, p in zip(texts, pieces)]
        return texts

    def unknown_in(self, prompt: str) -> list[str]:
        """The parts of ``prompt`` this model reads as ``<unk>``, in order and each once:
        words (word tokens) or characters (subword tokens) outside its vocabulary. Empty
        for a character model, which refuses unknown characters instead."""
        if not isinstance(prompt, str):
            raise TextgenError("The prompt must be text.")
        return list(dict.fromkeys(unknown_pieces(self.tokenizer, prompt)))

    def evaluate(self, text=None) -> dict:
        """Held-out score of ``text``, or of the run's own held-out split: ``nats_per_char``
        (unknown tokens charged for spelling out what they stand for), ``bits_per_char``,
        ``perplexity``, ``chars``, ``tokens`` and ``unknown_share`` (0-1)."""
        if text is None:
            text = rebuild_held_out(self.config)
        if len(text) < 2:
            raise TextgenError("There is too little text to score. Give at least two characters.")
        if self.tokenizer.kind == "char" and self.tokenizer.unknown(text):
            self.tokenizer.encode(text)  # raises with the list of unknown characters
        if self._scorer is None:
            self._scorer = Scorer(self.model, self.config)
        return score_text(self._scorer, self.tokenizer, text)


def check_saved_model(path, gpu: bool | None = None) -> tuple[dict, object]:
    """(validated settings, tokenizer) of the run folder ``path``, once its model.keras is known
    to hold exactly the weights those settings describe and to fit in memory (on a GPU where
    ``gpu``; None: wherever this machine has one). Nothing is built: config.json decides the
    model's size and may have been edited. Raises TextgenError otherwise."""
    path = Path(path)
    config = model_config(read_json(path / "config.json"))
    tokenizer = load_tokenizer(path / "tokenizer.json")
    if tokenizer.vocab_size != config.get("vocab_size"):
        raise TextgenError("This run's tokenizer does not match its model; the run is damaged.")
    capacity.check_run_model(path / "model.keras", config, tokenizer.vocab_size, gpu=gpu)
    return config, tokenizer


def load_run(path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise TextgenError("There is no run folder at {path}.", path=path)
    if not runs.is_run(path):
        raise TextgenError("{path} is not a run folder: it holds no config.json or status.json "
                           "from training. Choose a folder made by training.", path=path)
    if not (path / "model.keras").exists():
        state = runs.read_status(path).get("state")
        raise TextgenError("The run {name} has no saved model yet (state: {state}). "
                           "Wait for its first held-out score, or train it longer.",
                           name=path.name, state=state)
    device = configure_devices()
    config, tokenizer = check_saved_model(path, gpu=device.startswith("GPU"))
    model = models.build_model(config, tokenizer.vocab_size)
    try:
        models.load_weights(model, path / "model.keras")
    except Exception:
        raise TextgenError("The model file of {name} is damaged or does not match the "
                           "run's settings, so it cannot be loaded.", name=path.name) from None
    return Run(path, config, tokenizer, model)
