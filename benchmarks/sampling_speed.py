"""(b) Sampling speed: the compiled sampler against model.predict once per character.

    python benchmarks/sampling_speed.py [RUN_DIR]

Uses a trained run when given; else the balanced preset's network (a 2x256 GRU) and the
same preset as a Transformer (2x256, window 64, with its key/value cache), with fresh
weights: speed does not depend on the weights. Every loop runs in this one process.
"""

import sys
import time

import numpy as np

from common import machine

LENGTH = 2000
NAIVE_STEPS = 30


def compiled_rate(model, config) -> float:
    """Characters a second of the compiled sampler over LENGTH characters, after a warm-up."""
    from textgen.sampling import Sampler

    sampler = Sampler(model, config)
    list(sampler.generate([0], 200, temperature=0.8, seed=0))  # compile
    began = time.perf_counter()
    ids = np.concatenate(list(sampler.generate([0], LENGTH, temperature=0.8, seed=1)), axis=1)
    assert ids.shape[1] == LENGTH
    return LENGTH / (time.perf_counter() - began)


def naive_rate(model, config) -> float:
    """Characters a second of the naive loop: the window so far through model.predict."""
    seq = [0]
    model.predict(np.array([seq]), verbose=0)
    rng = np.random.default_rng(1)
    began = time.perf_counter()
    for _ in range(NAIVE_STEPS):
        logits = model.predict(np.array([seq[-config["seq_len"]:]]), verbose=0)[0, -1] / 0.8
        p = np.exp(logits - logits.max())
        seq.append(int(rng.choice(len(p), p=p / p.sum())))
    return NAIVE_STEPS / (time.perf_counter() - began)


def main():
    import textgen
    from textgen.config import resolve_config
    from textgen.models import build_model

    if len(sys.argv) > 1:
        run = textgen.load_run(sys.argv[1])
        models = [(run.model, run.config)]
    else:
        models = [(build_model(config, 65), config)
                  for config in (resolve_config("balanced"), resolve_config("balanced", arch="transformer"))]
    print(f"machine: {machine()}")
    for model, config in models:
        fast, slow = compiled_rate(model, config), naive_rate(model, config)
        print(f"{config['arch']} {config['layers']}x{config['units']} (window {config['seq_len']}): "
              f"compiled sampler {fast:,.0f} chars/s; model.predict per char {slow:,.1f} chars/s; "
              f"speed-up {fast / slow:,.0f}x")


if __name__ == "__main__":
    main()
