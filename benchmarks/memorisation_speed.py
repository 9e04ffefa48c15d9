"""Speed of the memorisation meter on a 100 MB training text.

    python benchmarks/memorisation_speed.py [--megabytes 100]

Builds tinyshakespeare repeated in memory to the given size (nothing is
written to disk), indexes its character 12-grams and its word 4-grams, and
times the check of a 2,000-character sample: one copied verbatim from the
text, and one of new text made of the corpus's words in a shuffled order (the
slow case: many passages to confirm with str.find over the whole text).
"""

import argparse
import random
import resource
import time

from common import machine, require_shakespeare

from textgen.memorisation import NgramIndex


def timed(fn, repeat=1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    return result, (time.perf_counter() - start) / repeat


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=100)
    args = parser.parse_args()
    source = require_shakespeare().read_text(encoding="utf-8")
    target = int(args.megabytes * 1_000_000)
    text = (source * (target // len(source) + 1))[:target]
    copied = text[len(text) // 2:len(text) // 2 + 2000]
    words = source.split()
    rng = random.Random(0)
    shuffled = " ".join(rng.choice(words) for _ in range(600))[:2000]
    print(f"Machine: {machine()}")
    print(f"Text: {len(text):,} characters (tinyshakespeare repeated in memory)")
    for unit in ("char", "word"):
        index, build = timed(lambda: NgramIndex(text, unit=unit))
        print(f"\n{unit} index: {index.hashes.size:,} {index.n}-grams, {index.hashes.nbytes / 1e6:,.0f} MB, "
              f"built in {build:.2f} s")
        for name, sample in (("copied 2,000 chars", copied), ("new 2,000 chars", shuffled)):
            result, seconds = timed(lambda: index.check(sample), repeat=5)
            print(f"  check {name}: {seconds * 1000:.1f} ms  (share {result['share']:.0%}, "
                  f"longest passage {len(result['passage']):,} chars)")
        del index
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
