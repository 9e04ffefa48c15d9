"""Compiled sampling: whole chunks of the generation loop run as one compiled call.

Calling ``model.predict`` once per character costs tens of milliseconds a
step; here a chunk of ``CHUNK`` steps is one compiled loop (XLA on the
TensorFlow backend, ``jax.jit`` on JAX, with the weights passed in at every
call), so a step costs a fraction of a millisecond. Randomness comes from uniform numbers drawn in numpy from the
seed, which makes sampling repeatable on every backend.
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops

from textgen.backend import compile_function
from textgen.models import make_stepper
from textgen.sampling_settings import DEFAULT_TEMPERATURE, SamplingSettings

CHUNK = 128


def filter_probabilities(logits, temperature, top_k, top_p):
    """Next-token probabilities after temperature, top-k and top-p, sorted high to low.

    Returns (probabilities, token ids) in descending order of probability. The settings
    come as ``SamplingSettings.filter_values`` gives them (greedy is temperature 1 with top-k 1).
    """
    vocab = ops.shape(logits)[-1]
    scaled = ops.cast(logits, "float32") / ops.maximum(temperature, 1e-6)
    sorted_logits, sorted_ids = ops.top_k(scaled, k=vocab)
    probs = ops.softmax(sorted_logits, axis=-1)
    rank = ops.arange(vocab)[None, :]
    before = ops.cumsum(probs, axis=-1) - probs  # mass of the more likely tokens
    keep = (rank < top_k) & (before < top_p) | (rank == 0)
    probs = ops.where(keep, probs, 0.0)
    return probs / ops.sum(probs, axis=-1, keepdims=True), sorted_ids


def pick(probs, sorted_ids, uniform):
    """Inverse-CDF draw: the token whose cumulative probability first passes ``uniform``."""
    cdf = ops.cumsum(probs, axis=-1)
    index = ops.sum(ops.cast(cdf < uniform[:, None], "int32"), axis=-1)
    index = ops.minimum(index, ops.shape(probs)[-1] - 1)
    return ops.squeeze(ops.take_along_axis(sorted_ids, index[:, None], axis=-1), -1)


class Sampler:
    """Generates token ids from a model, a chunk of steps per compiled call."""

    def __init__(self, model: keras.Model, config: dict, banned_ids=()):
        """``banned_ids``: tokens never sampled, such as a vocabulary's "<unk>"."""
        self.stepper = make_stepper(model, config)
        self._logit_bias = np.zeros(model.output_shape[-1], dtype=np.float32)
        self._logit_bias[list(banned_ids)] = -1e9
        self._chunk = compile_function(self._run_chunk, model=model)

    def _run_chunk(self, token, state, forced, uniforms, temperature, top_k, top_p):
        steps = forced.shape[1]
        out = ops.zeros_like(forced)
        columns = ops.arange(steps)[None, :]
        weights = self.stepper.prepare()  # read once, outside the loop

        def body(i, carry):
            token, state, out = carry
            logits, state = self.stepper.step(token, state, weights)
            logits = ops.cast(logits, "float32") + self._logit_bias
            probs, ids = filter_probabilities(logits, temperature, top_k, top_p)
            sampled = ops.cast(pick(probs, ids, uniforms[:, i]), "int32")
            forced_i = forced[:, i]
            token = ops.where(forced_i >= 0, forced_i, sampled)
            out = ops.where(columns == i, token[:, None], out)
            return token, state, out

        return ops.fori_loop(0, steps, body, (token, state, out))

    def generate(self, prompt_ids, length, temperature=DEFAULT_TEMPERATURE, top_k=None, top_p=None,
                 seed=None, batch=1, start_id=0):
        """Yield arrays (batch, n) of new token ids, a chunk at a time, ``length`` in all.

        Temperature, top-k, top-p and seed mean what they mean in ``SamplingSettings``
        (a bad one raises its TextgenError). The prompt is fed through the same loop as
        forced tokens, so the model's state after the prompt comes for free.
        """
        prompt_ids = [int(i) for i in prompt_ids] or [int(start_id)]
        temperature, top_k, top_p = SamplingSettings(temperature, top_k, top_p, seed=seed).filter_values()
        rng = np.random.default_rng(seed)
        forced = np.full(len(prompt_ids) - 1 + length, -1, dtype=np.int32)
        forced[: len(prompt_ids) - 1] = prompt_ids[1:]
        total = len(forced)
        forced = np.pad(forced, (0, -total % CHUNK), constant_values=-1)
        forced = np.broadcast_to(forced, (batch, len(forced)))
        token = np.full((batch,), prompt_ids[0], dtype=np.int32)
        state = self.stepper.initial_state(batch)
        skip = len(prompt_ids) - 1  # outputs that only echo the prompt
        for start in range(0, total, CHUNK):
            uniforms = rng.random((batch, CHUNK), dtype=np.float32)
            token, state, out = self._chunk(
                token, state, np.ascontiguousarray(forced[:, start:start + CHUNK]),
                uniforms, temperature, top_k, top_p)
            out = np.asarray(ops.convert_to_numpy(out))
            begin = max(skip - start, 0)
            end = min(CHUNK, total - start)
            if end > begin:
                yield out[:, begin:end]
