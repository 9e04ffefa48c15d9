"""(d) Peak memory while training on a 50 MB corpus.

    python benchmarks/memory_50mb.py [--budget 60]

Builds a 50 MB corpus in benchmarks/out/ (tinyshakespeare repeated, never
committed), trains the balanced preset on it for a short budget through the
CLI, and reports the child process's peak resident memory.
"""

import argparse
import resource
import shutil
import subprocess
import sys

from common import OUT, ROOT, machine, require_shakespeare


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    source = require_shakespeare().read_bytes()
    OUT.mkdir(parents=True, exist_ok=True)
    big = OUT / f"corpus-{args.megabytes}mb.txt"
    target = args.megabytes * 1_000_000
    with open(big, "wb") as f:
        written = 0
        while written < target:
            f.write(source[: target - written])
            written += min(len(source), target - written)
    run = OUT / "memory-run"
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "textgen", "train", str(big), "--out", str(run),
                    "--time-budget", str(args.budget), "--seed", "1"], cwd=ROOT, check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"machine: {machine()}")
    print(f"corpus: {big.stat().st_size / 1e6:.1f} MB; peak resident memory of training: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
