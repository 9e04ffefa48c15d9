"""Inside page speed: one 500-character text analysed once the model is loaded.

    python benchmarks/inside_speed.py [--chars 500] [--repeats 3]

For the shipped base model (`assets/base-model`, a 2x256 GRU character model): the loss at
each character (``surprise``), the top layer's hidden activations and one saliency. For a
2x256 Transformer with the balanced preset's window (64) and the same vocabulary, built
with fresh weights (speed does not depend on the weights): ``surprise``, ``attention_maps``,
the logit lens and one saliency. "first" is the first analysis after loading, compiling
included; "then" the best of ``--repeats`` analyses of other texts of the same length.
"""

import argparse
import time

from common import ROOT, machine

from textgen import inside  # imported before the clock starts, as the page has it


def analyse(run, text: str) -> float:
    """Seconds for what the Inside page computes for one text and one chosen position."""
    began = time.perf_counter()
    inside.surprise(run, text)
    if run.config["arch"] == "transformer":
        maps = inside.attention_maps(run, text)
        position = len(maps["ids"]) - 1
        inside.logit_lens(run, text, position)
    else:
        inside.hidden_activations(run, text, inside.recurrent_layers(run) - 1)
        position = len(text) - 1
    inside.saliency(run, text, position)
    return time.perf_counter() - began


def transformer_like(base):
    """A 2x256 Transformer with the balanced preset's settings and the base model's tokenizer."""
    from textgen.config import resolve_config
    from textgen.inference import Run
    from textgen.models import build_model

    config = resolve_config("balanced", arch="transformer")
    config["vocab_size"] = base.tokenizer.vocab_size
    return Run(base.path.parent / "untrained-transformer", config, base.tokenizer,
               build_model(config, base.tokenizer.vocab_size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import textgen

    corpus = (ROOT / "assets" / "sample.txt").read_text(encoding="utf-8")
    texts = [corpus[i * args.chars: (i + 1) * args.chars] for i in range(args.repeats + 1)]
    base = textgen.load_run(ROOT / "assets" / "base-model")
    print(f"machine: {machine()}")
    for make in (lambda: base, lambda: transformer_like(base)):  # one model at a time, as on the page
        run = make()
        config = run.config
        first = analyse(run, texts[0])
        then = min(analyse(run, text) for text in texts[1:])
        print(f"{config['arch']} {config['layers']}x{config['units']} (window {config['seq_len']}), "
              f"{args.chars} characters: first {first:.2f} s (compiling included), then {then:.2f} s")


if __name__ == "__main__":
    main()
