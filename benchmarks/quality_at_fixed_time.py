"""(a) Held-out loss of a preset trained for a fixed wall clock on tinyshakespeare.

    python benchmarks/quality_at_fixed_time.py [--preset balanced] [--budget 285] [--flags "..."]

``--flags`` adds train flags, e.g. "--embedding-dim 64 --seq-len 64" for Balanced's
settings before its sequence-length warm-up. ``--budget 0 --flags "--epochs 5"`` trains a
fixed number of steps instead (Balanced: 1,225), so a figure does not depend on how busy a
shared machine is; the steps a quiet machine's 285 s hold are in benchmarks/README.md.

Runs the real CLI (`train ... --time-budget`, then `evaluate`), so start-up,
periodic scoring and checkpointing all count against the budget.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time

from common import OUT, ROOT, machine, require_shakespeare


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--budget", type=float, default=285)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flags", default="", help="more train flags, as one string")
    args = parser.parse_args()
    corpus = require_shakespeare()
    run = OUT / f"quality-{args.preset}-{int(args.budget)}"
    shutil.rmtree(run, ignore_errors=True)
    began = time.time()
    subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(run),
                    "--preset", args.preset, "--time-budget", str(args.budget), "--seed", str(args.seed),
                    *shlex.split(args.flags)],
                   cwd=ROOT, check=True)
    wall = time.time() - began
    scored = subprocess.run([sys.executable, "-m", "textgen", "evaluate", str(run)], cwd=ROOT,
                            check=True, capture_output=True, text=True)
    result = json.loads(scored.stdout)
    config = json.loads((run / "config.json").read_text())
    steps = json.loads((run / "status.json").read_text())["step"]
    print(f"machine: {machine()}")
    print(f"preset {args.preset} ({config['arch']} {config['layers']}x{config['units']}, "
          f"{config['parameters']:,} parameters, windows of {config['seq_len']}), "
          f"{f'budget {args.budget:.0f} s' if args.budget else 'no time budget'}, "
          f"{args.flags or 'no more flags'}, {steps:,} steps, train command wall clock {wall:.1f} s")
    print(f"held-out loss: {result['nats_per_char']:.4f} nats/char "
          f"({result['bits_per_char']:.4f} bits/char) over {result['chars']:,} characters")


if __name__ == "__main__":
    main()
