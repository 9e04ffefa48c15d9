"""(a) Held-out loss of a preset trained for a fixed wall clock on tinyshakespeare.

    python benchmarks/quality_at_fixed_time.py [--preset balanced] [--budget 285] [--flags "..."] [--reference]

``--flags`` adds train flags, e.g. "--embedding-dim 64 --seq-len 64" for Balanced's
settings before its sequence-length warm-up. ``--budget 0 --flags "--epochs 5"`` trains a
fixed number of steps instead (Balanced: 1,225), so a figure does not depend on how busy a
shared machine is; the steps a quiet machine's 285 s hold are in benchmarks/README.md.
``--reference`` measures this machine against the project's calibration (design.md: the
2x256 GRU with 64-token windows, 32 a step, at 15,000-18,000 training characters a second on
two cores) before and after the run, with the product's own speed probe
(textgen.training.measure_speed), and gives the run the seconds the calibrated machine's
285 s hold here: budget x 15,000 / the speed measured before, never less than the budget.
A machine that ran the calibration network at half that speed gets twice the seconds; the
figure after the run shows whether the machine kept its speed, and the run's steps against
those of a quiet machine's 285 s (benchmarks/README.md) whether it got more compute than that.

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
from textgen import child

# The design's calibration network and the low end of its measured speed on the project's
# machine (2 CPU cores): the low end, so a machine is never credited with more time than it needs.
CALIBRATION = dict(arch="gru", layers=2, units=256, embedding_dim=64, seq_len=64, batch_size=32,
                   dropout=0.0, learning_rate=2e-3)
CALIBRATED_CHARS_PER_S = 15_000


def calibration_speed() -> float:
    """Training characters a second of the calibration network here (a character vocabulary
    of 65, tinyshakespeare's): 20 steps timed in a child process, as the Train page's probe."""
    return float(child.call("textgen.training:measure_speed", CALIBRATION, 65, 20, timeout_s=600))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--budget", type=float, default=285)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flags", default="", help="more train flags, as one string")
    parser.add_argument("--reference", action="store_true",
                        help="scale the budget by this machine's speed against the calibration")
    args = parser.parse_args()
    budget, before = args.budget, None
    if args.reference and args.budget:
        before = calibration_speed()
        budget = args.budget * max(1.0, CALIBRATED_CHARS_PER_S / before)
        print(f"calibration network here: {before:,.0f} characters a second against "
              f"{CALIBRATED_CHARS_PER_S:,} calibrated, so {args.budget:.0f} s there is {budget:.0f} s here",
              flush=True)
    corpus = require_shakespeare()
    run = OUT / f"quality-{args.preset}-{int(args.budget)}"
    shutil.rmtree(run, ignore_errors=True)
    began = time.time()
    subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(run),
                    "--preset", args.preset, "--time-budget", str(budget), "--seed", str(args.seed),
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
          f"{f'budget {budget:.0f} s' if args.budget else 'no time budget'}, "
          f"{args.flags or 'no more flags'}, {steps:,} steps, train command wall clock {wall:.1f} s")
    print(f"held-out loss: {result['nats_per_char']:.4f} nats/char "
          f"({result['bits_per_char']:.4f} bits/char) over {result['chars']:,} characters")
    if before:
        after = calibration_speed()
        print(f"calibration network after the run: {after:,.0f} characters a second "
              f"({after / before - 1:+.0%} against before; far from 0, the machine changed speed)")


if __name__ == "__main__":
    main()
