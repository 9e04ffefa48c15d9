"""The learning-rate finder (textgen.lr_finder, the range test) on tinyshakespeare for the Quick
and Balanced presets, against the learning rates measured best for them at a fixed wall clock
(benchmarks/README.md): prints the suggestion, the steps it took and its seconds.

    .venv/bin/python benchmarks/lr_finder_check.py [--seconds 20] [--seed 1]
"""

import argparse

from common import machine, require_shakespeare

from textgen.config import resolve_config
from textgen.lr_finder import find_learning_rate

# The rates that learnt most in each preset's time on tinyshakespeare (benchmarks/README.md).
MEASURED_BEST = {"quick": 1.2e-2, "balanced": 5e-3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = str(require_shakespeare())
    print(machine())
    for preset, best in MEASURED_BEST.items():
        config = resolve_config(preset, seed=args.seed)
        result = find_learning_rate(config, [corpus], seconds=args.seconds)
        print(f"{preset}: suggested {result['suggested']:.3g} (measured best {best:g}, "
              f"ratio {result['suggested'] / best:.2f}); {result['steps']} steps, stopped by "
              f"{result['stopped']}, {result['seconds']:.1f} s")


if __name__ == "__main__":
    main()
