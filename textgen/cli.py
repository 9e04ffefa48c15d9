"""``python -m textgen``: train, generate, evaluate, steer, export and list runs.

Exit status 0 on success; 2 on bad input, with one ``error: ...`` line on
stderr; 1 on an unexpected failure. Bad input never touches an existing run.

The commands that train or load a model import those modules inside their own function,
so ``--help``, bad flags and ``runs`` answer at once, without loading Keras and TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

STARTED = time.time()  # the time budget counts from here, start-up included

from textgen import control, runs  # noqa: E402  (light: file IO)
from textgen.backend import configure_devices  # noqa: E402  (light: imports no TensorFlow)
from textgen.config import RANGES, check_setting, resolve_config  # noqa: E402  (light: plain data)
from textgen.errors import TextgenError  # noqa: E402
from textgen.sampling_settings import DEFAULT_LENGTH, DEFAULT_TEMPERATURE, SamplingSettings  # noqa: E402

TRAIN_SETTINGS = ("arch", "tokenizer", "seq_len", "batch_size", "layers", "units", "embedding_dim",
                  "dropout", "learning_rate", "epochs", "val_fraction", "seed", "time_budget",
                  "init_from", "freeze_layers", "max_vocab", "distribute", "title")


SAMPLE_SEPARATOR = "\n\n" + "-" * 40 + "\n\n"
# A tool whose reader went away (`generate ... | head -c 50`) ends quietly. Unix tools are
# ended by SIGPIPE there, which a shell reports as 128 + 13; exiting with the same status
# keeps `set -o pipefail` scripts seeing what they see with `yes | head`.
CLOSED_PIPE_STATUS = 128 + 13


class UsageError(Exception):
    pass


def say(message: str) -> None:
    """One line on stderr. A closed stderr (`2>&1 | head`) silences it instead of failing:
    the command's work (a training run above all) goes on."""
    try:
        print(message, file=sys.stderr, flush=True)
    except BrokenPipeError:
        silence(sys.stderr)


def silence(stream) -> None:
    """Point ``stream``'s file descriptor at the null device, so what is still buffered for a
    closed pipe cannot fail again when the process flushes on its way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no file descriptor (a test's captured stream): nothing will flush to the pipe


def closed_pipe() -> int:
    """The reader of stdout went away: stop at once, with no message."""
    silence(sys.stdout)
    silence(sys.stderr)
    return CLOSED_PIPE_STATUS


def write_samples(chunks, count: int) -> None:
    """Print ``count`` samples from Run.stream_samples' chunks: the first piece by piece, as
    it is produced (so `| head` ends the command at once), the others, sampled alongside it,
    when all are done; separated by a line of dashes, with one newline at the end."""
    rest = None  # set from the first chunk: the stream checks the settings before any
    for pieces in chunks:
        sys.stdout.write(pieces[0])
        sys.stdout.flush()
        rest = pieces[1:] if rest is None else [text + piece for text, piece in zip(rest, pieces[1:])]
    if rest is None:
        rest = [""] * (count - 1)
    sys.stdout.write("".join(SAMPLE_SEPARATOR + text for text in rest) + "\n")
    sys.stdout.flush()


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def setting(name):
    """An argparse type for a training setting: a bad value is refused naming the allowed range."""
    def parse(text):
        try:
            return check_setting(name, text)
        except TextgenError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = name.replace("_", " ")
    return parse


def title(text: str) -> str | None:
    """An argparse type for a run's title (runs.check_title): one line, blanks around it dropped."""
    try:
        return runs.check_title(text)
    except TextgenError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


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
    t.add_argument("--time-budget", type=setting("time_budget"),
                   help=RANGES["time_budget"][3] + "; counted from the command's start")
    t.add_argument("--arch", choices=["gru", "lstm", "transformer"], type=str.lower)
    t.add_argument("--tokenizer", choices=["char", "word", "bpe"], type=str.lower,
                   help="char: one token per character; word: one per word; bpe: subword pieces")
    for name in ("seq_len", "batch_size", "layers", "units", "embedding_dim", "dropout",
                 "learning_rate", "epochs", "val_fraction", "seed", "freeze_layers", "max_vocab"):
        t.add_argument("--" + name.replace("_", "-"), type=setting(name), help=RANGES[name][3])
    t.add_argument("--distribute", choices=["auto", "off", "mirrored", "data_parallel"], type=str.lower,
                   help="several devices: auto (all GPUs when there are several), off, mirrored "
                        "(TensorFlow) or data_parallel (JAX)")
    t.add_argument("--init-from", help="fine-tune from this run's weights")
    t.add_argument("--title", type=title,
                   help="a title people read in lists and reports (the run folder keeps its name)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out: from its latest checkpoint, else from its best "
                        "model with a fresh optimizer, else from the start")

    g = sub.add_parser(
        "generate", help="sample text from a trained run",
        description="Sample text from a trained run and print it. Only the continuation is "
                    "printed, not the prompt: the prompt followed by this output is the whole "
                    "text (the app's Generate page shows the two together). Several samples are "
                    "separated by a line of dashes.")
    g.add_argument("run_dir", help="the run folder of a trained model")
    g.add_argument("--prompt", default="",
                   help="text the model continues; it is not repeated in the output (default: none)")
    # Sampling values are checked by SamplingSettings, whose errors name the allowed range.
    g.add_argument("--length", type=number, default=DEFAULT_LENGTH,
                   help="how many tokens (characters, words or subword pieces, as the run's "
                        f"tokenizer reads text) to write after the prompt (default: {DEFAULT_LENGTH})")
    g.add_argument("--temperature", type=number, default=DEFAULT_TEMPERATURE,
                   help="below 1 safer and more repetitive, above 1 more surprising, 0 always the "
                        f"likeliest (default: {DEFAULT_TEMPERATURE})")
    g.add_argument("--top-k", type=number, help="sample only from the K likeliest next tokens")
    g.add_argument("--top-p", type=number,
                   help="sample only from the likeliest next tokens whose chances add up to P")
    g.add_argument("--seed", type=int, help="the same seed, prompt and settings give the same text")
    g.add_argument("--num-samples", type=number, default=1, help="how many texts to write (default: 1)")

    e = sub.add_parser("evaluate", help="score a run on its held-out split or on a corpus")
    e.add_argument("run_dir")
    e.add_argument("corpus", nargs="?")

    c = sub.add_parser(
        "control", help="steer a running job: learning rate, time budget, pause, continue",
        description="Steer a job that is training: it applies the control at its next step, "
                    "within a second or two, and records it in metrics.jsonl.")
    c.add_argument("run_dir", help="the run folder of a job that is training or paused")
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--learning-rate", type=number, metavar="F",
                      help="a new peak learning rate: the schedule continues from it")
    what.add_argument("--add-time", type=number, metavar="SECONDS",
                      help="seconds added to the time budget; negative to shorten it")
    what.add_argument("--pause", action="store_true",
                      help="pause training; the job keeps its place (and its checkpoint) until continued")
    what.add_argument("--continue", dest="continue_", action="store_true", help="continue a paused job")

    x = sub.add_parser(
        "export", help="write a run as one web page that runs its model in a browser",
        description="Write one self-contained HTML file: the model, its vocabulary and the runtime "
                    "inside, so that it opens from disk and writes text with no server and no network.")
    x.add_argument("run_dir", help="the run folder of a trained model")
    x.add_argument("--format", choices=["html"], type=str.lower, default="html",
                   help="html: one web page (the only format)")
    x.add_argument("--out", required=True, help="the file to write, such as model.html")
    x.add_argument("--language", choices=["en", "zh"], type=str.lower, default="en",
                   help="the language of the page's interface (default: en)")

    r = sub.add_parser("runs", help="list runs with their state and best held-out loss")
    r.add_argument("--root")
    return parser


def cmd_train(args):
    explicit = {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k) is not None}
    if not args.corpus and not args.resume:
        raise UsageError("train needs a corpus: a file, a folder, or builtin:NAME")
    resolve_config(args.preset, **explicit)  # a bad setting is refused before the backend loads
    device = configure_devices()
    config = resolve_config(args.preset, "gpu" if device.startswith("GPU") else "cpu", **explicit)
    from textgen.training import train

    status = train(args.corpus, args.out, config, explicit=explicit, resume=args.resume,
                   started=STARTED, log=say)
    return 0 if status.get("state") in ("completed", "stopped") else 1


def cmd_generate(args):
    import textgen
    # Checked before the model loads, so a bad setting is refused at once.
    settings = SamplingSettings(args.temperature, args.top_k, args.top_p, args.length, args.seed,
                                args.num_samples)
    configure_devices()
    run = textgen.load_run(args.run_dir)
    from textgen.unknowns import unknown_prompt_warning
    warning = unknown_prompt_warning(run.unknown_in(args.prompt))
    if warning:  # said, not refused: the model still continues the prompt as it reads it
        say(warning)
    chunks = run.stream_samples(args.prompt, num_samples=settings.num_samples, **settings.run_arguments())
    write_samples(chunks, settings.num_samples)
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


CONTROL_WAIT_S = 10.0  # how long `control` waits to say at which step the job applied it


def cmd_control(args):
    if args.learning_rate is not None:
        kind, value = "learning_rate", args.learning_rate
    elif args.add_time is not None:
        kind, value = "add_time", args.add_time
    else:
        kind, value = ("pause" if args.pause else "continue"), None
    request = control.send(args.run_dir, kind, value)
    what = control.describe(kind, request["value"])
    step = control.wait_applied(args.run_dir, request["id"], CONTROL_WAIT_S)
    if step is None:
        print(f"{what[0].upper()}{what[1:]}: sent; the job applies it at its next step.")
    else:
        print(f"{what[0].upper()}{what[1:]}: applied at step {step:,}.")
    return 0


def cmd_export(args):
    import textgen
    from textgen.export import check_destination, check_runtime, export_html
    check_destination(args.out)  # refused before the model loads
    check_runtime()
    configure_devices()
    size = export_html(textgen.load_run(args.run_dir), args.out, args.language)
    print(f"Wrote {args.out} ({size / 1e6:.1f} MB): open it in a browser, no server needed.")
    return 0


def cmd_runs(args):
    rows = runs.list_runs(args.root)
    if not rows:
        print("No runs yet.")
        return 0
    print(f"{'run':<40} {'state':<12} {'best val loss':>13}")
    for r in rows:
        best = f"{r['best_val_loss']:.4f}" if isinstance(r["best_val_loss"], (int, float)) else "-"
        print(f"{r['name']:<40} {r['state'] or '-':<12} {best:>13}")
    return 0


COMMANDS = {"train": cmd_train, "generate": cmd_generate, "evaluate": cmd_evaluate,
            "control": cmd_control, "export": cmd_export, "runs": cmd_runs}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # output still buffered meets a closed pipe here, inside the try
        return status
    except (UsageError, TextgenError) as e:
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        say("error: interrupted")
        return 1
    except BrokenPipeError:
        return closed_pipe()
    except Exception as e:  # unexpected: say so briefly, keep the details for a bug report
        say(f"error: unexpected failure ({type(e).__name__}: {e})")
        return 1
