"""What the Train page's defaults give on a small text of one's own, against the old defaults.

    python benchmarks/small_text_default.py [--chars 12000] [--offset 500000] [--text FILE]

Takes ``--chars`` characters of tinyshakespeare from ``--offset`` (text the shipped base
model was never trained on; the copy goes to benchmarks/out/, never committed), or the
text in ``--text`` (a small text of one's own), and trains twice through the CLI:

- the old defaults: the Balanced preset from scratch, stopped by its old cap of 30 epochs;
- the page's defaults, untouched: the route and settings the Train page starts with for
  this corpus (textgen.suggestions: fine-tuning the shipped base model on a small text it
  knows; the preset Balanced; textgen.train_options builds the command as the page does).

Both are scored with ``evaluate`` on the same held-out split; it prints each run's wall
clock, the kept model's held-out loss and how the run ended.
"""

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from common import OUT, ROOT, held_out_nats, machine, shakespeare_slice

from textgen import config, jobs, suggestions, train_options

BASE = ROOT / "assets" / "base-model"


def page_defaults(corpus) -> dict:
    """The job options of Train's untouched form for ``corpus``: the preset, and the
    shipped base model where the page preselects it."""
    advice = suggestions.corpus_base_advice([str(corpus)], BASE)
    init_from = str(BASE) if advice["route"] == "fine-tune" else None
    defaults = train_options.form_defaults(config.DEFAULT_PRESET, init_from)
    values = {name: defaults.get(name) for name in (*config.RANGES, "arch", "tokenizer")
              if name not in ("max_vocab", "freeze_layers")}
    _, options = train_options.run_options(config.DEFAULT_PRESET, values, init_from)
    return options


def train_and_score(corpus, name, options):
    run = OUT / name
    shutil.rmtree(run, ignore_errors=True)
    began = time.monotonic()
    subprocess.run(jobs.train_command([str(corpus)], run, options), cwd=ROOT, check=True, capture_output=True)
    seconds = time.monotonic() - began
    status = json.loads((run / "status.json").read_text())
    return held_out_nats(run), seconds, status.get("message")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=12_000)
    parser.add_argument("--offset", type=int, default=500_000)
    parser.add_argument("--text", help="a small text of one's own instead of the tinyshakespeare slice")
    args = parser.parse_args()
    corpus = Path(args.text) if args.text else shakespeare_slice(args.chars, args.offset)
    old = {"preset": "balanced", "epochs": 30, "time_budget": 0, "seed": 1}
    new = dict(page_defaults(corpus), seed=1)
    print(f"machine: {machine()}")
    print(f"corpus: {corpus.name}, {len(corpus.read_text(encoding='utf-8')):,} characters" if args.text else
          f"corpus: {args.chars:,} characters of tinyshakespeare from character {args.offset:,}")
    for name, label, options in (("small-old", "old defaults (from scratch, 30 epochs)", old),
                                 ("small-page", "the page's defaults", new)):
        loss, seconds, message = train_and_score(corpus, name, options)
        shown = {k: v for k, v in options.items() if k != "seed"}
        print(f"{label}: held-out {loss:.4f} nats/char after {seconds:.0f} s ({message}); options {shown}")


if __name__ == "__main__":
    main()
