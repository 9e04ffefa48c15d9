"""The sampling settings: how each next token is chosen, how much is written and how often.

``SamplingSettings`` is the one place for these rules, used by ``Run`` (and so the CLI and
the Generate page), the compiled sampler and the sampling explorer:

- every value is checked when the settings are made (a TextgenError naming the allowed range);
- "off" is said one way: Top-k 0 and Top-p 1 are stored as None;
- temperature 0 means greedy (always the likeliest token), and ``filter_values`` turns the
  settings into the numbers ``textgen.sampling.filter_probabilities`` reads.

Plain numpy: importing this loads no deep-learning backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from textgen.errors import TextgenError

DEFAULT_TEMPERATURE = 1.0  # the model's chances as it learnt them (Run, the CLI, the explorer)
# Where the Generate page's slider starts and what training samples use: a little safer
# than as learnt, so that a first text reads well.
STARTING_TEMPERATURE = 0.8
MAX_TEMPERATURE = 10
DEFAULT_LENGTH = 200
MAX_LENGTH = 100_000
MAX_SAMPLES = 16
# What the compiled filter reads for "off": more tokens than any vocabulary holds, and
# more than all the chance there is.
TOP_K_OFF = 2**30
TOP_P_OFF = 2.0


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


@dataclass(frozen=True)
class SamplingSettings:
    """How a run writes text.

    ``temperature``: 0 (greedy: always the likeliest) to 10; 1 keeps the chances as learnt.
    ``top_k``: choose among the k likeliest next tokens; None or 0 is off.
    ``top_p``: choose among the likeliest next tokens whose chances add up to p (0-1);
    None or 1 is off, 0 keeps only the likeliest. ``length``: tokens to write (1-100,000).
    ``seed``: a whole number of 0 or more repeats the same text; None draws a new one.
    ``num_samples``: texts written side by side (1-16). Raises TextgenError on a bad value.
    """

    temperature: float = DEFAULT_TEMPERATURE
    top_k: int | None = None
    top_p: float | None = None
    length: int = DEFAULT_LENGTH
    seed: int | None = None
    num_samples: int = 1

    def __post_init__(self):
        if not _whole(self.length) or not 1 <= self.length <= MAX_LENGTH:
            raise TextgenError("The length must be a whole number from 1 to {limit:,}.", limit=MAX_LENGTH)
        if not _number(self.temperature) or not 0 <= self.temperature <= MAX_TEMPERATURE:
            raise TextgenError("The temperature must be a number from 0 (always the likeliest) to {limit}.",
                               limit=MAX_TEMPERATURE)
        if self.top_k is not None and (not _whole(self.top_k) or self.top_k < 0):
            raise TextgenError("The top-k must be a whole number of 0 (off) or more.")
        if self.top_p is not None and (not _number(self.top_p) or not 0 <= self.top_p <= 1):
            raise TextgenError("The top-p must be a number from 0 to 1 (1 is off).")
        if not _whole(self.num_samples) or not 1 <= self.num_samples <= MAX_SAMPLES:
            raise TextgenError("The number of samples must be a whole number from 1 to {limit}.",
                               limit=MAX_SAMPLES)
        if self.seed is not None and (not _whole(self.seed) or self.seed < 0):
            raise TextgenError("The seed must be a whole number of 0 or more.")
        # A frozen dataclass sets its own fields through object.__setattr__.
        off_p = self.top_p is None or self.top_p >= 1
        object.__setattr__(self, "top_k", int(self.top_k) if self.top_k else None)
        object.__setattr__(self, "top_p", None if off_p else float(self.top_p))

    @property
    def greedy(self) -> bool:
        """Temperature 0: always the likeliest token, whatever the seed."""
        return self.temperature <= 0

    def filter_values(self) -> tuple[np.float32, np.int32, np.float32]:
        """(temperature, top-k, top-p) as ``filter_probabilities`` reads them.

        Greedy is temperature 1 with top-k 1; off is ``TOP_K_OFF`` / ``TOP_P_OFF``; a top-p
        of 0 keeps the likeliest token alone (the filter always keeps it).
        """
        if self.greedy:
            return np.float32(1.0), np.int32(1), np.float32(TOP_P_OFF)
        top_k = TOP_K_OFF if self.top_k is None else self.top_k
        top_p = TOP_P_OFF if self.top_p is None else max(self.top_p, 1e-9)
        return np.float32(self.temperature), np.int32(top_k), np.float32(top_p)

    def run_arguments(self) -> dict:
        """The keyword arguments of ``Run.generate`` and ``Run.stream``: length, temperature,
        top_k, top_p and seed (``Run.samples`` takes ``num_samples`` besides)."""
        return {"length": self.length, "temperature": self.temperature, "top_k": self.top_k,
                "top_p": self.top_p, "seed": self.seed}
