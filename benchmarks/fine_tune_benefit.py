"""Fine-tuning the shipped base model against training from scratch, at equal wall clock.

    python benchmarks/fine_tune_benefit.py [--chars 50000] [--budget 60]

Takes the first ``--chars`` characters of tinyshakespeare (a copy is written
to benchmarks/out/, never committed), trains with the same settings and the
same time budget twice through the CLI: once from scratch and once with
``--init-from assets/base-model``. Both are scored with ``evaluate`` on the
same held-out split (the last 10 %).
"""

import argparse
import json
import shutil
import subprocess
import sys

from common import OUT, ROOT, held_out_nats, machine, shakespeare_slice

BASE = ROOT / "assets" / "base-model"


def train_and_score(corpus, name, budget, extra):
    run = OUT / name
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(run),
                    "--preset", "balanced", "--time-budget", str(budget), "--seed", "1", *extra],
                   cwd=ROOT, check=True, capture_output=True)
    return held_out_nats(run), json.loads((run / "config.json").read_text())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=50_000)
    parser.add_argument("--budget", type=float, default=60)
    args = parser.parse_args()
    corpus = shakespeare_slice(args.chars)
    scratch, config = train_and_score(corpus, "scratch", args.budget, [])
    tuned, tuned_config = train_and_score(corpus, "fine-tuned", args.budget, ["--init-from", str(BASE)])
    print(f"machine: {machine()}")
    print(f"corpus: first {args.chars:,} characters of tinyshakespeare; budget {args.budget:.0f} s each; "
          f"{config['arch']} {config['layers']}x{config['units']}")
    print(f"from scratch: held-out {scratch:.4f} nats/char (learning rate {config['learning_rate']:g})")
    print(f"fine-tuned from assets/base-model: held-out {tuned:.4f} nats/char "
          f"(learning rate {tuned_config['learning_rate']:g}, vocabulary {tuned_config['vocab_size']})")
    print(f"fine-tuning gain: {scratch - tuned:+.4f} nats/char")


if __name__ == "__main__":
    main()
