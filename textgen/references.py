"""What a loss means: reference scores for a run's own held-out text, and the loss in words.

Two references, both in nats per character of the run's held-out text: the evaluation
protocol's split (the last ``val_fraction`` of the corpus text), and of it the same
characters the run's held-out curve is scored on (its first ``eval_max_chars``, all of it
unless it is very long), so a line and the curve compare the same text. (On tinyshakespeare
the split's first 50,000 characters are easier than the whole: the 5-gram scores 1.571 nats
there against 1.669 on all of it, and the networks gain similarly.)

- ``uniform``: a blind guess among the run's vocabulary, ln(vocabulary size) per token.
  A character model spends that on each character. A word or subword model spends it on
  each token, so it is converted to per character by the held-out text's tokens per
  character (its token count over its character count), and its ``<unk>`` tokens are
  charged the same spelling cost the held-out score charges them
  (textgen.unknowns.spelling_nats_per_char): the line sits on the chart's scale.
- ``ngram``: a character 5-gram model of the training split (textgen.ngram, interpolated
  Witten-Bell) scored on that held-out text: what counting letter sequences achieves. Of a
  very long training split only its last NGRAM_MAX_TRAIN_CHARS characters (those next to the
  held-out text) are counted, which bounds the time (about 3 s) and memory (about 300 MB);
  with less text the 5-gram scores a little worse, so the line stays a fair reference.

Both are worked out once and kept in RUN_DIR/references.json (with the corpus fingerprint
and held-out share they belong to, so a stale or damaged file is worked out again); a
training job starts that in a background thread (``compute_in_background``) so its live
chart has the lines within seconds. A read-only run folder is scored without writing.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from textgen import files, ngram
from textgen.corpus import load_corpus, split_text
from textgen.errors import TextgenError
from textgen.i18n import english
from textgen.tokenizers import load_tokenizer
from textgen.unknowns import spelling_nats_per_char
from textgen.units import LN2

REFERENCES_FILE = "references.json"
FORMAT = 2  # bump when the way the references are worked out changes
NGRAM_MAX_TRAIN_CHARS = 5_000_000
KEYS = ("uniform", "ngram", "ngram_order", "vocab_size")
MAX_EXAMPLES = 3

# Results for run folders that could not be written to, so a page does not redo them.
_unwritable: dict[tuple, dict] = {}


def _fingerprint(config: dict) -> tuple[str | None, float]:
    corpus = config.get("corpus") or {}
    return corpus.get("sha256"), float(config.get("val_fraction", 0.1))


def _valid(data, config: dict) -> bool:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    sha256, val_fraction = _fingerprint(config)
    if data.get("corpus_sha256") != sha256 or data.get("val_fraction") != val_fraction:
        return False
    numbers = [data.get(key) for key in KEYS]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers)


def _public(data: dict) -> dict:
    return {key: data[key] for key in KEYS}


def cached_references(run_dir) -> dict | None:
    """The references kept in RUN_DIR/references.json when they are there and belong to the
    run's corpus and split (as ``reference_losses`` returns them), else None. Only reads."""
    run_dir = Path(run_dir)
    config = files.read_json(run_dir / "config.json", {}) or {}
    data = files.read_json(run_dir / REFERENCES_FILE)
    if _valid(data, config):
        return _public(data)
    return _unwritable.get((str(run_dir.resolve()), *_fingerprint(config)))


def compute_references(run_dir) -> dict:
    """Work the references out from the run's corpus, split and tokenizer (see the module's
    note); nothing is written. About 0.6 s for tinyshakespeare (1.1M characters) on 2 CPU cores.

    Returns ``{"uniform": nats/char, "ngram": nats/char, "ngram_order": int,
    "vocab_size": int}``. Raises TextgenError when the run has no settings, or when its
    corpus is no longer where it was read from or has changed since.
    """
    run_dir = Path(run_dir)
    config = files.read_json(run_dir / "config.json")
    if not isinstance(config, dict) or not (config.get("corpus") or {}).get("sources"):
        raise TextgenError("This run has no record of the text it learnt from, so its loss cannot be "
                           "set beside reference scores.")
    try:
        corpus = load_corpus(config["corpus"]["sources"])
    except TextgenError:
        raise TextgenError("The text this run learnt from is no longer where it was read from, so its "
                           "loss cannot be set beside reference scores. Put the text back to see them.") from None
    sha256, val_fraction = _fingerprint(config)
    if sha256 and corpus.sha256 != sha256:
        raise TextgenError("The text this run learnt from has changed since it trained, so its loss "
                           "cannot be set beside reference scores.")
    tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    train_text, val_text = split_text(corpus.text, val_fraction)
    scored = val_text[:config.get("eval_max_chars") or len(val_text)]  # what the curve scores
    uniform = math.log(max(tokenizer.vocab_size, 1))
    if tokenizer.kind != "char":
        uniform = (uniform * len(tokenizer.encode(scored)) / max(len(scored), 1)
                   + spelling_nats_per_char(tokenizer, scored))
    model = ngram.fit(train_text[-NGRAM_MAX_TRAIN_CHARS:], ngram.ORDER)
    return {"uniform": uniform, "ngram": model.nats_per_char(scored), "ngram_order": model.order,
            "vocab_size": tokenizer.vocab_size}


def reference_losses(run_dir) -> dict:
    """The run's references (``compute_references``), read from RUN_DIR/references.json or
    worked out and kept there (atomically; a read-only folder is left as it is). Raises
    TextgenError as ``compute_references`` does."""
    run_dir = Path(run_dir)
    cached = cached_references(run_dir)
    if cached is not None:
        return cached
    found = compute_references(run_dir)
    config = files.read_json(run_dir / "config.json", {}) or {}
    sha256, val_fraction = _fingerprint(config)
    try:
        files.atomic_write_json(run_dir / REFERENCES_FILE, {**found, "format": FORMAT,
                                                            "corpus_sha256": sha256, "val_fraction": val_fraction})
    except OSError:
        _unwritable[(str(run_dir.resolve()), sha256, val_fraction)] = found
    return found


def compute_in_background(run_dir, log=print) -> threading.Thread:
    """Start ``reference_losses(run_dir)`` in a daemon thread (a training job calls it once
    its config.json is written, so training is not held up) and return the thread. A
    TextgenError is logged as its sentence; the job goes on either way."""
    def work():
        try:
            reference_losses(run_dir)
        except TextgenError as e:
            log(f"note: {e}")
        except Exception as e:  # a reference line must never stop a training job
            log(f"warning: the reference scores could not be worked out ({type(e).__name__}: {e}).")

    thread = threading.Thread(target=work, name="references", daemon=True)
    thread.start()
    return thread


# --- the loss in words ------------------------------------------------------------------------


def regime(loss: float, references: dict) -> str:
    """Where ``loss`` (nats per character) stands: "uniform" (no better than a blind guess),
    "ngram" (better than that, not better than the n-gram model) or "beyond" (below both)."""
    if loss >= references["uniform"]:
        return "uniform"
    return "ngram" if loss >= references["ngram"] else "beyond"


# Within this many nats per character of the uniform guess a loss is "about the same" as it
# (a difference the held-out sample's own noise can make).
SAME_AS_UNIFORM = 0.05


def _sentence(loss: float, references: dict, translate, kept: bool = False, ended: bool = False,
              bits: bool = False) -> str:
    where = regime(loss, references)
    near = abs(loss - references["uniform"]) < SAME_AS_UNIFORM
    # Said in the unit of the chart beside it: every figure below is in it.
    scale = LN2 if bits else 1.0
    order, uniform, gram = references["ngram_order"], references["uniform"] / scale, references["ngram"] / scale
    loss = loss / scale
    if bits:
        subject = (translate("The kept model's held-out loss {loss:.2f} bits per character", loss=loss) if kept
                   else translate("Held-out loss now {loss:.2f} bits per character", loss=loss))
    else:
        subject = (translate("The kept model's held-out loss {loss:.2f} nats per character", loss=loss) if kept
                   else translate("Held-out loss now {loss:.2f} nats per character", loss=loss))
    if near and ended:
        return translate("{subject}: about the same as the uniform guess ({uniform:.2f}), so the network did "
                         "no better than guessing blindly.", subject=subject, uniform=uniform)
    if near:
        return translate("{subject}: about the same as the uniform guess ({uniform:.2f}), so the network does "
                         "no better yet than guessing blindly.", subject=subject, uniform=uniform)
    if where == "uniform" and ended:
        return translate("{subject}: {above:.2f} above the uniform guess ({uniform:.2f}), so the network did "
                         "no better than guessing blindly.", subject=subject, above=loss - uniform, uniform=uniform)
    if where == "uniform":
        return translate("{subject}: {above:.2f} above the uniform guess ({uniform:.2f}), so the network does "
                         "no better yet than guessing blindly.", subject=subject, above=loss - uniform,
                         uniform=uniform)
    if where == "ngram":
        if ended:
            return translate("{subject}: {below:.2f} below the uniform guess but {above:.2f} above a "
                             "{order}-gram model of your text, so the network did not beat counting letter "
                             "sequences.", subject=subject, below=uniform - loss, above=loss - gram, order=order)
        return translate("{subject}: {below:.2f} below the uniform guess but {above:.2f} above a {order}-gram "
                         "model of your text, so the network is not yet better than counting letter sequences.",
                         subject=subject, below=uniform - loss, above=loss - gram, order=order)
    return translate("{subject}: {below:.2f} below the uniform guess and {below_ngram:.2f} below a {order}-gram "
                     "model of your text, so the network has learnt more than which letters follow which.",
                     subject=subject, below=uniform - loss, below_ngram=gram - loss, order=order)


def _example_entries(references: dict, timeline: list[dict], leave_out=()) -> list[dict]:
    """Up to three timeline entries, none whose text is in ``leave_out``: the one whose
    held-out loss is nearest the n-gram model's, the latest, and one about midway between
    them in loss; oldest first."""
    scored = [entry for entry in timeline
              if isinstance(entry.get("val_loss"), (int, float)) and math.isfinite(entry["val_loss"])
              and entry.get("text") not in leave_out]
    if not scored:
        return []
    latest = len(scored) - 1
    near = min(range(len(scored)), key=lambda i: abs(scored[i]["val_loss"] - references["ngram"]))
    middle = (scored[near]["val_loss"] + scored[latest]["val_loss"]) / 2
    between = [i for i in range(min(near, latest) + 1, max(near, latest))]
    chosen = {near, latest}
    if between:
        chosen.add(min(between, key=lambda i: abs(scored[i]["val_loss"] - middle)))
    return [scored[i] for i in sorted(chosen)][-MAX_EXAMPLES:]


def loss_in_words(loss: float, references: dict, timeline: list[dict], translate=english, *,
                  kept: bool = False, ended: bool = False, leave_out=(), bits: bool = False) -> dict:
    """The held-out ``loss`` (nats per character) set beside ``references``
    (``reference_losses``) in words, with the run's own samples at comparable losses.

    ``kept``: the loss is the kept (best) model's, not the latest measured; ``ended``: the
    run will not train on (the sentence says no "yet"). Within SAME_AS_UNIFORM of the
    uniform guess the loss is said to be about the same as it.
    ``timeline``: metrics.learning_timeline (each sample with the held-out loss it had then);
    samples whose text is in ``leave_out`` (shown elsewhere on the page) are not examples.
    ``bits``: every figure in bits per character (nats / ln 2) rather than nats, as the chart
    beside it shows them.
    Returns ``{"regime": "uniform" | "ngram" | "beyond" (see ``regime``), "sentence": str,
    "examples": [{"label": str, "text": str, "step": int, "val_loss": float}, ...]}`` with up
    to three examples, oldest first, each labelled with its step and loss.
    """
    examples, scale = [], LN2 if bits else 1.0
    for entry in _example_entries(references, timeline, tuple(leave_out)):
        label = (translate("The kept model (step {step}), held-out loss {loss:.2f}",
                           step=f"{entry['step']:,}", loss=entry["val_loss"] / scale) if entry.get("kept")
                 else translate("Step {step}, held-out loss {loss:.2f}", step=f"{entry['step']:,}",
                                loss=entry["val_loss"] / scale))
        examples.append({"label": label, "text": entry["text"], "step": entry["step"],
                         "val_loss": entry["val_loss"]})
    return {"regime": regime(loss, references), "sentence": _sentence(loss, references, translate, kept, ended, bits),
            "examples": examples}
