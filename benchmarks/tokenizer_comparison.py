"""Held-out loss per character of the same preset and wall clock with each tokenizer.

    python benchmarks/tokenizer_comparison.py [--preset balanced] [--budget 150] [--tokenizers char bpe]

Runs the real CLI one tokenizer after the other on tinyshakespeare, so every run gets the
same machine, preset, seed and time budget; `evaluate` scores each on the same held-out
characters, per character, whatever its tokens.
"""

import argparse
import json
import shutil
import subprocess
import sys

from common import OUT, ROOT, machine, require_shakespeare


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--budget", type=float, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tokenizers", nargs="+", default=["char", "bpe"])
    args = parser.parse_args()
    corpus = require_shakespeare()
    print(f"machine: {machine()}")
    print(f"preset {args.preset}, budget {args.budget:.0f} s each, seed {args.seed}")
    for kind in args.tokenizers:
        run = OUT / f"tokenizer-{kind}-{args.preset}-{int(args.budget)}"
        shutil.rmtree(run, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(run),
                        "--preset", args.preset, "--time-budget", str(args.budget),
                        "--seed", str(args.seed), "--tokenizer", kind],
                       cwd=ROOT, check=True, capture_output=True)
        scored = json.loads(subprocess.run([sys.executable, "-m", "textgen", "evaluate", str(run)],
                                           cwd=ROOT, check=True, capture_output=True, text=True).stdout)
        config = json.loads((run / "config.json").read_text())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        speeds = [m["chars_per_sec"] for m in metrics if "chars_per_sec" in m][1:]
        speed = sorted(speeds)[len(speeds) // 2] if speeds else float("nan")
        print(f"{kind:5s} vocabulary {config['vocab_size']:>5,}  held-out {scored['nats_per_char']:.4f} "
              f"nats/char ({scored['bits_per_char']:.4f} bits/char) over {scored['chars']:,} characters "
              f"in {scored['tokens']:,} tokens; median training speed {speed:,.0f} chars/s")


if __name__ == "__main__":
    main()
