"""(c) Our training loop against a bare model.fit of the same network and data.

    python benchmarks/training_overhead.py [--steps 300]

Both run in this process, alternating, on the balanced preset's network with
tinyshakespeare windows. Time per step excludes the held-out scoring (which
a bare fit does not do); that cost is reported separately.
"""

import argparse
import shutil
import time

import numpy as np

from common import OUT, machine, require_shakespeare


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import keras
    from textgen import files
    from textgen.config import resolve_config
    from textgen.corpus import load_corpus, split_text
    from textgen.models import build_model
    from textgen.tokenizers import make_tokenizer
    from textgen.training import RandomWindows, train

    corpus_path = require_shakespeare()
    text = load_corpus(str(corpus_path)).text
    # Windows of one length throughout (no sequence-length warm-up): the loop is measured,
    # not the longer windows' own speed.
    config = resolve_config("balanced", seed=1, time_budget=0, seq_len=64)
    tokenizer = make_tokenizer("char", text)
    ids = tokenizer.encode(split_text(text, 0.1)[0])
    steps_per_epoch = len(ids) // (config["batch_size"] * config["seq_len"])
    epochs = max(1, round(args.steps / steps_per_epoch))
    steps = epochs * steps_per_epoch

    def bare_fit():
        model = build_model(config, tokenizer.vocab_size)
        model.compile(optimizer=keras.optimizers.AdamW(config["learning_rate"], weight_decay=0.0,
                                                       clipnorm=config["clipnorm"]),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        data = RandomWindows(ids, config, seed=1)
        model.fit(data, epochs=1, steps_per_epoch=20, verbose=0, shuffle=False)  # warm-up
        began = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return (time.perf_counter() - began) / steps

    def ours():
        run = OUT / "overhead-run"
        shutil.rmtree(run, ignore_errors=True)
        train([str(corpus_path)], run, dict(config, epochs=epochs), log=lambda m: None)
        records = files.read_jsonl(run / "metrics.jsonl")[0]
        train_records = [r for r in records if "chars_per_sec" in r]
        # Skip the first records: they include compilation, like the bare fit's warm-up.
        rates = [r["chars_per_sec"] for r in train_records[3:]]
        tokens_per_step = config["batch_size"] * config["seq_len"]
        return tokens_per_step / float(np.median(rates))

    bare, our = [], []
    for _ in range(args.rounds):
        bare.append(bare_fit())
        our.append(ours())
    b, o = min(bare), min(our)
    print(f"machine: {machine()}")
    print(f"network: {config['arch']} {config['layers']}x{config['units']}, {steps} steps per round")
    print(f"bare model.fit: {b * 1000:.1f} ms/step   ours: {o * 1000:.1f} ms/step   "
          f"overhead: {100 * (o / b - 1):+.1f}%  (best of {args.rounds} rounds each)")


if __name__ == "__main__":
    main()
