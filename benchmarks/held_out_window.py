"""Held-out loss of one finished run scored with windows of several lengths.

    python benchmarks/held_out_window.py RUN_DIR [--windows 64 128 256]

The evaluation protocol scores a run on windows of its own training sequence length, each
from a fresh state; this shows what a longer window gives the same weights (a GRU or LSTM
carries its state through a window, so later tokens in it see more context).
"""

import argparse

from common import machine


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--windows", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    from textgen import inference
    from textgen.evaluation import Scorer, score_text
    from textgen.heldout import rebuild_held_out

    run = inference.load_run(args.run_dir)
    print(f"machine: {machine()}")
    print(f"run {args.run_dir}: {run.config['arch']} {run.config['layers']}x{run.config['units']}, "
          f"trained with windows of {run.config['seq_len']}")
    text = rebuild_held_out(run.config)
    for window in args.windows:
        score = score_text(Scorer(run.model, {**run.config, "seq_len": window}), run.tokenizer, text)
        print(f"held-out windows of {window}: {score['nats_per_char']:.4f} nats/char")


if __name__ == "__main__":
    main()
