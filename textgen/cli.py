"""``python -m textgen``: train, generate, evaluate and list runs.

Exit status 0 on success; 2 on bad input, with one ``error: ...`` line on
stderr; 1 on an unexpected failure. Bad input never touches an existing run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

STARTED = time.time()  # the time budget counts from here, start-up included

from textgen.backend import configure_devices  # noqa: E402  (light: imports no TensorFlow)

TRAIN_SETTINGS = ("arch", "tokenizer", "seq_len", "batch_size", "layers", "units", "embedding_dim",
                  "dropout", "learning_rate", "epochs", "val_fraction", "seed", "time_budget",
                  "init_from", "freeze_layers", "max_vocab", "distribute")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def setting(name):
    """An argparse type for a training setting: a bad value is refused naming the allowed range."""
    def parse(text):
        from textgen.config import check_setting
        from textgen.errors import TextgenError
        try:
            return check_setting(name, text)
        except TextgenError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = name.replace("_", " ")
    return parse


def number(text: str):
    """A whole number, else a decimal one, else the text unchanged for the range check to refuse."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m textgen", description="Train and sample small text-generation models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a model on a corpus")
    t.add_argument("corpus", nargs="*", help="a file, a folder of text files, or builtin:NAME")
    t.add_argument("--out", required=True, help="the run folder to create (or resume)")
    t.add_argument("--preset", choices=["quick", "balanced", "quality"], type=str.lower)
    t.add_argument("--time-budget", type=setting("time_budget"))
    t.add_argument("--arch", choices=["gru", "lstm", "transformer"], type=str.lower)
    t.add_argument("--tokenizer", choices=["char", "word", "bpe"], type=str.lower,
                   help="char: one token per character; word: one per word; bpe: subword pieces")
    for name in ("seq_len", "batch_size", "layers", "units", "embedding_dim", "dropout",
                 "learning_rate", "epochs", "val_fraction", "seed", "freeze_layers", "max_vocab"):
        t.add_argument("--" + name.replace("_", "-"), type=setting(name))
    t.add_argument("--distribute", choices=["auto", "off", "mirrored", "data_parallel"], type=str.lower,
                   help="several devices: auto (all GPUs when there are several), off, mirrored "
                        "(TensorFlow) or data_parallel (JAX)")
    t.add_argument("--init-from", help="fine-tune from this run's weights")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")

    g = sub.add_parser("generate", help="sample text from a trained run")
    g.add_argument("run_dir")
    g.add_argument("--prompt", default="")
    # Sampling values are checked by Run itself, whose errors name the allowed range.
    g.add_argument("--length", type=number, default=200)
    g.add_argument("--temperature", type=number, default=1.0)
    g.add_argument("--top-k", type=number)
    g.add_argument("--top-p", type=number)
    g.add_argument("--seed", type=int)
    g.add_argument("--num-samples", type=number, default=1)

    e = sub.add_parser("evaluate", help="score a run on its held-out split or on a corpus")
    e.add_argument("run_dir")
    e.add_argument("corpus", nargs="?")

    r = sub.add_parser("runs", help="list runs with their state and best held-out loss")
    r.add_argument("--root")
    return parser


def cmd_train(args):
    from textgen.config import resolve_config

    explicit = {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k) is not None}
    if not args.corpus and not args.resume:
        raise UsageError("train needs a corpus: a file, a folder, or builtin:NAME")
    config = resolve_config(args.preset, **explicit)
    configure_devices()
    from textgen.training import train

    status = train(args.corpus, args.out, config, explicit=explicit, resume=args.resume,
                   started=STARTED, log=lambda m: print(m, file=sys.stderr))
    return 0 if status.get("state") in ("completed", "stopped") else 1


def cmd_generate(args):
    import textgen
    configure_devices()
    run = textgen.load_run(args.run_dir)
    texts = run.samples(args.prompt, args.length, args.temperature, args.top_k, args.top_p,
                        args.seed, args.num_samples)
    print(("\n\n" + "-" * 40 + "\n\n").join(texts))
    return 0


def cmd_evaluate(args):
    import textgen
    configure_devices()
    run = textgen.load_run(args.run_dir)
    text = None
    if args.corpus:
        from textgen.corpus import load_corpus
        text = load_corpus(args.corpus).text
    print(json.dumps(run.evaluate(text)))
    return 0


def cmd_runs(args):
    from textgen import runs
    rows = runs.list_runs(args.root)
    if not rows:
        print("No runs yet.")
        return 0
    print(f"{'run':<40} {'state':<12} {'best val loss':>13}")
    for r in rows:
        best = f"{r['best_val_loss']:.4f}" if isinstance(r["best_val_loss"], (int, float)) else "-"
        print(f"{r['name']:<40} {r['state'] or '-':<12} {best:>13}")
    return 0


COMMANDS = {"train": cmd_train, "generate": cmd_generate, "evaluate": cmd_evaluate, "runs": cmd_runs}


def main(argv=None) -> int:
    from textgen.errors import TextgenError
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, TextgenError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: say so briefly, keep the details for a bug report
        print(f"error: unexpected failure ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
