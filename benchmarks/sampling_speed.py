"""(b) Sampling speed: the compiled sampler against model.predict once per character.

    python benchmarks/sampling_speed.py [RUN_DIR]

Uses a trained run when given (else the balanced preset's network with fresh
weights: speed does not depend on the weights). Both loops run in this one
process on the same model.
"""

import sys
import time

import numpy as np

from common import machine


def main():
    import textgen
    from textgen.config import resolve_config
    from textgen.models import build_model
    from textgen.sampling import Sampler

    if len(sys.argv) > 1:
        run = textgen.load_run(sys.argv[1])
        model, config = run.model, run.config
    else:
        config = resolve_config("balanced")
        model = build_model(config, 65)
    sampler = Sampler(model, config)
    list(sampler.generate([0], 200, temperature=0.8, seed=0))  # compile
    length = 2000
    began = time.perf_counter()
    ids = np.concatenate(list(sampler.generate([0], length, temperature=0.8, seed=1)), axis=1)
    compiled_s = time.perf_counter() - began
    assert ids.shape[1] == length

    # The naive loop: the whole sequence so far through model.predict, one character at a time.
    naive_steps = 30
    seq = [0]
    model.predict(np.array([seq]), verbose=0)
    began = time.perf_counter()
    rng = np.random.default_rng(1)
    for _ in range(naive_steps):
        logits = model.predict(np.array([seq[-config["seq_len"]:]]), verbose=0)[0, -1] / 0.8
        p = np.exp(logits - logits.max())
        seq.append(int(rng.choice(len(p), p=p / p.sum())))
    naive_s = time.perf_counter() - began
    compiled_rate, naive_rate = length / compiled_s, naive_steps / naive_s
    print(f"machine: {machine()}")
    print(f"model: {config['arch']} {config['layers']}x{config['units']}")
    print(f"compiled sampler: {compiled_rate:,.0f} chars/s ({length} chars in {compiled_s:.3f} s)")
    print(f"model.predict per char: {naive_rate:,.1f} chars/s ({naive_steps} chars in {naive_s:.2f} s)")
    print(f"speed-up: {compiled_rate / naive_rate:,.0f}x")


if __name__ == "__main__":
    main()
