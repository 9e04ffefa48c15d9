"""A run as one self-contained HTML page, to send to people who do not run the app.

``build_report(run_dir)`` returns the page, in the interface language the caller names
(textgen.i18n), in the order a reader wants it: the run's title; a short summary in plain
words (what the model learnt, how good it is, how much of its writing is copied); the
samples, each labelled with the temperature and seed that wrote it; one sample coloured
character by character by the kept model's loss there (textgen.inside.surprise, coloured as
the Inside page colours it: textgen.highlight); the learning curves as
an interactive Plotly chart with plotly.js inlined (it opens offline: no script is fetched
from anywhere); and, folded at the end, the technical details. Every piece of user text
(titles, run names, corpus names, samples, prompts) is escaped, and no folder path of the
machine that made the report appears in it: runs and corpora are named, never located.

How good a model is, in words, comes from its held-out bits per character on a rough scale
(``VERDICTS``). For text in an alphabet (English, code): a model that knows only how often
each character occurs scores about 4.1 bits on English (Shannon, 1951), so under 3.6 bits a
model has learnt more than letter frequencies; a character model at about 2.1 bits writes
recognisable words and phrases (nanoGPT's Shakespeare model, held-out loss 1.47 nats, and
this project's GRU on tinyshakespeare after five minutes, 1.48 nats); under 1.8 bits its
text reads fluently in its corpus's manner. A Chinese or Japanese character carries more:
knowing only character frequencies scores about 9.6 bits on modern Chinese, so that scale's
steps lie higher (8.5, 7.0 and 5.5 bits). Which scale applies is decided by the text: the
training text where it can be read, else the samples. The score is also set beside this
model's own blind guess, log2 of its vocabulary size.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import plotly.io as pio

from textgen import charts, comparison, doctor, files, heldout, highlight, memorisation, metrics, references, runs
from textgen.corpus import shown_corpus_name
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, english, join_sentences, message_text, translate, translate_error
from textgen.units import LN2
from textgen.words import CJK_IDEOGRAPHS

MAX_TRAINING_SAMPLES = 12
# Share of CJK ideographs among a text's characters above which the CJK scale applies,
# judged on the text's start (enough to tell, and quick on a long corpus).
CJK_TEXT_SHARE = 0.3
SCALE_SAMPLE_CHARS = 100_000
# How a list of settings is joined in each language ("temperature 0.8, seed 3").
LIST_SEPARATORS = {"zh": "，"}
CJK_RE = re.compile(f"[{CJK_IDEOGRAPHS}]")

# (held-out bits per character below which, how the model writes): see the module's note.
VERDICTS = {
    "alphabetic": ((1.8, "it writes fluent text in the manner of its corpus"),
                   (2.6, "it writes recognisable words and phrases, with slips"),
                   (3.6, "it has learnt common letter patterns and short words, but its text is "
                         "mostly nonsense"),
                   (math.inf, "its writing is still mostly noise")),
    "cjk": ((5.5, "it writes fluent text in the manner of its corpus"),
            (7.0, "it writes recognisable words and phrases, with slips"),
            (8.5, "it has learnt the commonest characters and short words, but its text is "
                  "mostly nonsense"),
            (math.inf, "its writing is still mostly noise")),
}

# The settings table, in reading order: (config key, what a person calls it).
SETTINGS = (
    ("preset", "Preset"),
    ("arch", "Architecture"),
    ("tokenizer", "Tokenizer"),
    ("layers", "Layers"),
    ("units", "Units per layer"),
    ("embedding_dim", "Embedding size"),
    ("heads", "Attention heads"),
    ("seq_len", "Sequence length"),
    ("batch_size", "Batch size"),
    ("dropout", "Dropout"),
    ("learning_rate", "Learning rate"),
    ("epochs", "Epochs (at most)"),
    ("time_budget", "Time budget (seconds)"),
    ("val_fraction", "Held-out share"),
    ("seed", "Seed"),
    ("vocab_size", "Vocabulary size"),
    ("parameters", "Parameters"),
    ("init_from", "Fine-tuned from"),
    ("device", "Device"),
    ("backend", "Backend"),
    ("keras_version", "Keras version"),
    ("textgen_version", "TextGen version"),
)
# Settings whose values are words the interface translates.
WORD_VALUES = ("device", "backend")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 60rem; padding: 1.5rem; color: #1f2328; line-height: 1.5; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
.muted { color: #656d76; } .score { font-size: 2rem; font-weight: 600; margin: 0; }
.summary p { margin: 0.5rem 0; }
table { border-collapse: collapse; } td, th { padding: 0.25rem 0.8rem; border-bottom: 1px solid #eaeef2;
       text-align: left; vertical-align: top; }
th { font-weight: 600; } pre { background: #f6f8fa; padding: 0.8rem; border-radius: 6px;
       white-space: pre-wrap; word-wrap: break-word; }
details > summary { cursor: pointer; font-size: 1.25rem; font-weight: 600; margin-top: 2rem; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


# --- what is shown of the machine: names, never folders ----------------------------


def _folders(run_dir: Path, config: dict) -> list[str]:
    """Folder paths of this machine the page must not show, longest first."""
    found = {run_dir, run_dir.resolve(), Path.home()}
    for path in (config.get("init_from"), *((config.get("corpus") or {}).get("sources") or [])):
        if isinstance(path, str) and os.path.isabs(path):
            found |= {Path(path), Path(path).parent}
    texts = {str(p) for p in found if len(p.parts) > 1}
    return sorted(texts, key=len, reverse=True)


# An absolute path of two or more parts in a sentence ("/home/ann/corpora/notes.txt").
ABSOLUTE_PATH_RE = re.compile(r"(?<![\w.])/(?:[^\s/\"'<>]+/)+[^\s/\"'<>,;]*")


def _hide_paths(text: str, folders: list[str]) -> str:
    """``text`` with the machine's folders left out: a path in ``folders``, inside one of
    them, or any other absolute path keeps only its last part (its name)."""
    for folder in folders:
        text = re.sub(re.escape(folder.rstrip(os.sep)) + r"(?:" + re.escape(os.sep) + r"[^\s\"',;]*)?",
                      lambda m: Path(m.group(0)).name, text)
    return ABSOLUTE_PATH_RE.sub(lambda m: Path(m.group(0)).name, text)


# --- values as people read them ------------------------------------------------------


def _value(key: str, value, tr) -> str:
    if value is None:
        return tr("none")
    if key == "init_from":
        return Path(str(value)).name
    if key == "arch":
        return comparison.architecture_name(value) or tr("none")
    if key in ("preset", "tokenizer"):
        return str(comparison.value_name(value, tr))
    if key in WORD_VALUES:
        return tr(str(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if key in ("vocab_size", "parameters") else str(value)
    return str(value)


def _table(rows) -> str:
    body = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in rows)
    return f"<table>{body}</table>"


def best_bits_per_char(status: dict, records: list[dict]) -> float | None:
    """The kept model's held-out score in bits per character: status.json's best, else the
    best held-out record; None when the run was never scored."""
    best = status.get("best_val_loss")
    if not isinstance(best, (int, float)) or not math.isfinite(best):
        point = charts.best_point(records)
        best = point["val_loss"] if point else None
    return best / LN2 if isinstance(best, (int, float)) else None


def _number(value, tr) -> str:
    return f"{value:,}" if isinstance(value, int) else tr("unknown")


def _corpus_name(corpus: dict, tr) -> str:
    name = corpus.get("name")
    return shown_corpus_name(name, tr) if isinstance(name, str) and name else tr("unknown")


# --- the summary ---------------------------------------------------------------------


def layers_in_words(layers: int, units: int, tr=english) -> str:
    """A model's depth and width as a phrase: "1 layer of 256 units", "2 layers of 256 units"."""
    if layers == 1:
        return tr("1 layer of {units} units", units=units)
    return tr("{layers} layers of {units} units", layers=layers, units=units)


def model_in_words(config: dict, tr=english) -> str:
    """The kind of model as a phrase: "a recurrent network (GRU) of 2 layers of 128 units"."""
    arch = config.get("arch")
    layers, units = config.get("layers"), config.get("units")
    if arch not in ("gru", "lstm", "transformer") or not isinstance(layers, int) or not isinstance(units, int):
        return tr("a neural network")
    shape = layers_in_words(layers, units, tr)
    if arch == "transformer":
        return tr("a small GPT-style Transformer of {shape}", shape=shape)
    return tr("a recurrent network ({arch}) of {shape}", arch=comparison.architecture_name(arch), shape=shape)


def learnt_sentence(config: dict, tr=english, language: str = DEFAULT_LANGUAGE) -> str:
    """What the model learnt from, what it is and how it writes, in one or two sentences."""
    corpus = config.get("corpus") or {}
    writes = {"char": tr("one character at a time"), "word": tr("one word at a time"),
              "bpe": tr("in word pieces (subword tokens)")}.get(config.get("tokenizer"), tr("token by token"))
    what = dict(corpus=_corpus_name(corpus, tr), chars=_number(corpus.get("chars"), tr),
                model=model_in_words(config, tr), writes=writes)
    parameters = config.get("parameters")
    sentences = [tr("What it learnt: {corpus}, {chars} characters of text. It is {model} with {parameters} "
                    "parameters, and it writes {writes}.", parameters=f"{parameters:,}", **what)
                 if isinstance(parameters, int) else
                 tr("What it learnt: {corpus}, {chars} characters of text. It is {model}, and it writes "
                    "{writes}.", **what)]
    if config.get("init_from"):
        sentences.append(tr("It began as the model {base} and was then fine-tuned on this text.",
                            base=Path(str(config["init_from"])).name))
    return join_sentences(sentences, language)


def text_scale(text: str) -> str:
    """Which verdict scale fits ``text``: "cjk" where Chinese or Japanese characters make
    much of it (CJK_TEXT_SHARE), else "alphabetic"."""
    text = text[:SCALE_SAMPLE_CHARS]
    letters = sum(1 for c in text if not c.isspace())
    if not letters:
        return "alphabetic"
    return "cjk" if len(CJK_RE.findall(text)) / letters >= CJK_TEXT_SHARE else "alphabetic"


def verdict(bpc: float, scale: str = "alphabetic") -> str:
    """How a model with ``bpc`` held-out bits per character writes, in words (English;
    translate it with the interface's translate). See the module's note for the scale."""
    return next(words for limit, words in VERDICTS[scale] if bpc < limit)


def uniform_bits(vocab_size) -> float | None:
    """Bits a blind guess among ``vocab_size`` tokens spends on each: log2 of the size."""
    return math.log2(vocab_size) if isinstance(vocab_size, int) and vocab_size > 1 else None


def _quality_sentence(config: dict, bpc: float | None, scale: str, tr, language: str) -> str:
    if bpc is None:
        return tr("How good it is: no held-out score was recorded.")
    fraction = config.get("val_fraction", 0.1)
    share = f"{fraction:.0%}" if isinstance(fraction, (int, float)) else "10%"
    said = tr("How good it is: {verdict}. On the last {share} of the text, which it never trained on, "
              "it needs {bpc:.2f} bits per character (lower is better).",
              verdict=tr(verdict(bpc, scale)), share=share, bpc=bpc)
    vocab, blind = config.get("vocab_size"), uniform_bits(config.get("vocab_size"))
    if blind is None:
        return said
    if config.get("tokenizer", "char") == "char":
        return join_sentences([said, tr("Guessing blindly among its {vocab:,} characters would need "
                                        "{blind:.2f}.", vocab=vocab, blind=blind)], language)
    pieces = tr("words") if config.get("tokenizer") == "word" else tr("word pieces")
    return join_sentences([said, tr("Guessing blindly among its {vocab:,} {pieces} would need {blind:.2f} "
                                    "bits for each of them.", vocab=vocab, pieces=pieces, blind=blind)],
                          language)


def copying(run_dir, texts: list[str]) -> tuple[list[dict] | None, TextgenError | None, str]:
    """(memorisation check of each text or None, why copying could not be checked or None,
    the training text or "" when it cannot be read)."""
    try:
        index = memorisation.index_for_run(run_dir)
    except TextgenError as e:
        return None, e, ""
    return [index.check(text) for text in texts], None, index.text


def _copying_sentence(results: list[dict] | None, problem, tr, language: str) -> str:
    if problem is not None:
        return join_sentences([tr("How much is copied: unknown."), translate_error(problem, language)],
                              language)
    # The measure of each sample's own meter (memorisation.summary), over all of them, so that
    # the figure agrees with the samples': the share of their n-unit pieces found verbatim.
    checked = [r for r in results or [] if r.get("share") is not None and r.get("ngrams")]
    if not checked:
        return tr("How much is copied: there are no samples long enough to check.")
    share = sum(r["copied"] for r in checked) / sum(r["ngrams"] for r in checked)
    mostly = sum(1 for r in checked if memorisation.mostly_copied(r))
    longest = max((len(r.get("passage") or "") for r in checked), default=0)
    said = tr("How much is copied: {share:.0%} of the {n}-{unit} pieces of the samples below occur "
              "verbatim in the training text; {mostly} of {count} samples are mostly copied, and the "
              "longest copied passage has {longest:,} characters.",
              share=share, n=checked[0]["n"], unit=tr(checked[0]["unit"]), mostly=mostly,
              count=len(checked), longest=longest)
    if 2 * mostly < len(checked):
        return said
    return join_sentences([said, tr("So much of its fluency is memory: it repeats its training text more "
                                    "than it writes like it.")], language)


# --- samples ---------------------------------------------------------------------------


def settings_note(temperature, seed, tr=english, top_k=None, top_p=None,
                  language: str = DEFAULT_LANGUAGE) -> str:
    """The settings a text was sampled with, as a label reads them: "temperature 0.8,
    seed 300" (with top-k and top-p where they cut; "random seed" for a seed of None)."""
    parts = [tr("temperature {temperature}", temperature=f"{float(temperature):g}")
             if isinstance(temperature, (int, float)) else tr("temperature unknown")]
    if top_k:
        parts.append(tr("top-k {k}", k=top_k))
    if isinstance(top_p, (int, float)) and top_p < 1:
        parts.append(tr("top-p {p}", p=f"{top_p:g}"))
    parts.append(tr("seed {seed}", seed=seed) if seed is not None else tr("random seed"))
    return LIST_SEPARATORS.get(language, ", ").join(parts)


def training_samples(records: list[dict], tr=english,
                     language: str = DEFAULT_LANGUAGE) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the kept model's sample, the latest samples written while learning) from
    samples.jsonl records, as (label, text) with the temperature and seed that wrote each
    (metrics.sample_settings)."""
    def settings(record):
        return settings_note(*metrics.sample_settings(record), tr, language=language)

    texts = [record for record in records if isinstance(record.get("text"), str)]
    kept = metrics.kept_sample(texts)
    learning = metrics.live_samples(texts)[-MAX_TRAINING_SAMPLES:]
    return ([(tr("The kept model, from step {step} ({settings})", step=kept.get("step", "?"),
                 settings=settings(kept)), kept["text"])] if kept else [],
            [(tr("At step {step} ({settings})", step=r.get("step", "?"), settings=settings(r)), r["text"])
             for r in learning])


def _extra(extra_samples, tr) -> list[tuple[str, str]]:
    """(label, text) pairs from strings or dicts with "text" and optional "label"."""
    pairs = []
    for i, item in enumerate(extra_samples, 1):
        if isinstance(item, dict):
            pairs.append((str(item.get("label") or tr("Sample {i}", i=i)), str(item.get("text", ""))))
        else:
            pairs.append((tr("Sample {i}", i=i), str(item)))
    return pairs


def _sample_blocks(samples, checks: list[dict | None], tr) -> str:
    """Each sample under its label, with what the copy check found (``checks``, aligned
    with ``samples``; None where the check could not run)."""
    blocks = []
    for (label, text), check in zip(samples, checks):
        copied = ""
        if check:  # the share of copied pieces, and a plain warning when it is mostly copied
            warning = memorisation.copied_warning(check, tr)
            copied = (f'<p class="muted">{_e(memorisation.summary(check, tr))}</p>'
                      + (f"<p><strong>{_e(warning)}</strong></p>" if warning else ""))
        blocks.append(f"<h3>{_e(label)}</h3><pre>{_e(text)}</pre>{copied}")
    return "".join(blocks)


# --- the surprise view -----------------------------------------------------------------

# The percentile of the characters' losses at the top of the colour scale (stronger ones
# are coloured the same): a few very surprising characters would otherwise leave the rest
# pale. The Inside page's Surprise view scales its colours the same way.
SURPRISE_SCALE_PERCENTILE = 98


def surprise_sample(records: list[dict]) -> dict | None:
    """The samples.jsonl record the surprise view colours: the kept model's sample, else
    the latest one written during training; None when there is no sample with a text."""
    texts = [record for record in records if isinstance(record.get("text"), str) and len(record["text"]) >= 2]
    return metrics.kept_sample(texts) or (metrics.live_samples(texts) or [None])[-1]


def surprise_scores(run_dir: Path, text: str) -> dict:
    """textgen.inside.surprise of ``text`` (its first inside.MAX_CHARS characters) by the
    run's kept model: per-character loss in nats, and their average. Raises TextgenError
    when the model cannot be loaded or cannot read the text."""
    # Here, not above: Keras loads in seconds, and the Runs page imports this module
    # long before anyone asks for a report.
    from textgen import inference, inside

    run = inference.load_run(run_dir)
    return inside.surprise(run, text[:inside.MAX_CHARS])


def _surprise_body(text: str, scores: dict, tr) -> str:
    """The coloured text, its colour legend and its average loss."""
    values = np.asarray(scores["char_nats"], dtype=float)
    text = text[:len(values)]  # the part that was scored
    finite = values[np.isfinite(values)]
    high = max(float(np.percentile(finite, SURPRISE_SCALE_PERCENTILE)), 1e-6) if finite.size else 1.0
    nats = scores["nats_per_char"]
    return "".join([
        highlight.coloured_html(text, values, "sequential", low=0.0, high=high),
        highlight.legend_html("sequential", tr("expected (0 nats)"),
                              tr("surprising ({nats:.1f} nats or more)", nats=high)),
        paragraph(tr("On average {nats:.3f} nats = {bits:.3f} bits per character, scored as the held-out "
                     "score is.", nats=nats, bits=nats / LN2)),
    ])


def _surprise_html(run_dir: Path, records: list[dict], private: list[str], tr, language: str) -> str:
    """The surprise view of one sample (surprise_sample): each character coloured by the
    kept model's loss there; a sentence instead where the model cannot score it."""
    sample = surprise_sample(records)
    if sample is None:
        return ""
    parts = [heading("Where the model is surprised", tr)]
    which = (tr("the kept model's sample (step {step})", step=sample.get("step", "?")) if sample.get("kept")
             else tr("the latest sample written during training (step {step})", step=sample.get("step", "?")))
    if not (run_dir / "model.keras").exists():
        return "".join(parts + [paragraph(tr("This run has no saved model, so its samples cannot be scored."))])
    try:
        scores = surprise_scores(run_dir, sample["text"])
    except TextgenError as e:
        said = join_sentences([tr("Its samples could not be scored."), translate_error(e, language)], language)
        return "".join(parts + [paragraph(_hide_paths(said, private))])
    parts.append(note("Each character of {which} is coloured by the kept model's loss there: clear where the "
                      "model expected it, red where it was surprised.", tr, which=which))
    return "".join(parts + [_surprise_body(sample["text"], scores, tr)])


# --- the chart ---------------------------------------------------------------------------


def loss_figure(records: list[dict], base_records: list[dict] | None = None, tr=english,
                refs: dict | None = None, notes: list[dict] | None = None):
    """The report's learning curves (a Plotly figure) in bits per character. A fine-tune's
    curve continues its base model's (``base_records``); the chart opens on the
    fine-tune's own part, and zooming out (double-click) shows the base model's. The
    legend stands under the chart (charts.legend_below) and the axes make room for their
    titles, so no label covers another at any page width. ``refs``: the run's reference
    losses (textgen.references), drawn as dashed lines; ``notes``: the doctor's, marked."""
    fig = charts.loss_figure(records, bits=True, best=charts.best_point(records),
                             base_records=base_records or None, translate=tr, references=refs,
                             notes=notes)
    # Its own template: Streamlit, once imported, makes its own Plotly's default, so a page
    # made in the app and one made by the command line would otherwise differ.
    fig.update_layout(height=460, template="plotly_white")
    fig.update_xaxes(automargin=True, title_standoff=10)
    fig.update_yaxes(automargin=True, title_standoff=10)
    return fig


def loss_chart_html(records: list[dict], base_records: list[dict] | None = None, tr=english,
                    refs: dict | None = None, notes: list[dict] | None = None) -> str:
    """loss_figure as HTML, with plotly.js inlined (it works offline)."""
    return pio.to_html(loss_figure(records, base_records, tr, refs, notes), include_plotlyjs=True, full_html=False,
                       config={"displaylogo": False, "responsive": True})


# --- the page ----------------------------------------------------------------------------


def heading(text: str, tr) -> str:
    """A section heading: ``text`` translated with ``tr`` and escaped."""
    return f"<h2>{_e(tr(text))}</h2>"


def note(text: str, tr, **params) -> str:
    """A muted paragraph: ``text`` filled in with ``params``, translated and escaped."""
    return f'<p class="muted">{_e(tr(text, **params))}</p>'


def paragraph(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _summary_html(config: dict, bpc: float | None, scale: str, copied: str, tr, language: str,
                  meaning: str = "") -> str:
    """The plain-language summary: what the model learnt, how good it is, how much it copies."""
    scored = heldout.scored_part_sentence(config, tr)
    score = (f'<p class="muted">{_e(tr("Best held-out score"))}</p>'
             f'<p class="score">{_e(tr("{bpc:.3f} bits per character", bpc=bpc))}</p>'
             + (f'<p class="muted">{_e(scored)}</p>' if scored else "")
             if bpc is not None else paragraph(tr("No held-out score was recorded.")))
    return "".join([heading("Summary", tr), '<div class="summary">',
                    paragraph(learnt_sentence(config, tr, language)),
                    paragraph(_quality_sentence(config, bpc, scale, tr, language)),
                    paragraph(meaning) if meaning else "", paragraph(copied), score, "</div>"])


def _samples_html(kept, extra, learning, checks: list, tr) -> str:
    """The kept model's samples, this session's texts and the samples written while
    learning, in that order; ``checks``: the copy check of each, in the same order."""
    kept_checks, extra_checks = checks[:len(kept)], checks[len(kept):len(kept) + len(extra)]
    learning_checks = checks[len(kept) + len(extra):]
    parts = []
    if kept:
        parts += [heading("Written by the kept model", tr),
                  note("The model Generate uses: the checkpoint with the best held-out score.", tr),
                  _sample_blocks(kept, kept_checks, tr)]
    if extra:
        parts += [heading("Texts written with this model", tr), _sample_blocks(extra, extra_checks, tr)]
    parts.append(heading("Text sampled during training", tr))
    if learning:
        parts += [note("How the model wrote as it learnt, earliest first.", tr),
                  _sample_blocks(learning, learning_checks, tr)]
    else:
        parts.append(paragraph(tr("No samples were recorded during training.")))
    return "".join(parts)


def _chart_html(records: list[dict], base: Path | None, tr, refs: dict | None = None,
                notes: list[dict] | None = None) -> str:
    if not records:
        return heading("Learning curves", tr) + paragraph(tr("No learning curve was recorded."))
    base_records = metrics.read_records(base) if base else None
    return "".join([
        heading("Learning curves", tr),
        note("Training loss (blue) and held-out loss (orange) in bits per character; the star "
             "marks the checkpoint that was kept. Hover, zoom and pan work offline.", tr),
        note("The chart opens on the fine-tune's own training; double-click it to zoom out to the "
             "base model's curve before it.", tr) if base_records else "",
        note("The dashed lines are references for the same held-out text: a uniform guess among the "
             "model's tokens, and a {order}-gram model of the training text.", tr,
             order=refs["ngram_order"]) if refs else "",
        loss_chart_html(records, base_records, tr, refs, notes)])


def _doctor_html(notes: list[dict], tr) -> str:
    """"What the doctor saw": the loss-curve doctor's notes, oldest first, each with its kind
    and step; nothing when it noted nothing."""
    if not notes:
        return ""
    items = []
    for n in notes:
        kind = charts.note_kind_name(n.get("kind"), tr)
        step = tr("step {step}", step=f"{n.get('step', 0):,}")
        items.append(f"<li><strong>{_e(kind)}</strong> · {_e(step)}: {_e(doctor.note_text(n, tr))}</li>")
    return "".join([heading("What the doctor saw", tr),
                    note("Read from the learning curves while the model trained; the marks on the "
                         "chart above show where.", tr),
                    "<ul>" + "".join(items) + "</ul>"])


def settings_html(config: dict, tr=english) -> str:
    """The run's settings as an HTML table, each named as people call it (SETTINGS), with
    values in words where the interface translates them; folders appear by name only."""
    return _table([(tr(label), _value(key, config[key], tr)) for key, label in SETTINGS if key in config])


def _details_html(run_dir: Path, config: dict, status: dict, private: list[str], tr) -> str:
    """The technical details, folded: the training's state and time, the corpus with its
    fingerprint, every setting and version. Folders of this machine are left out."""
    summary, corpus = runs.run_summary(run_dir), config.get("corpus") or {}
    training_table = _table([
        (tr("State"), tr(status.get("state") or "unknown")),
        (tr("Message"), _hide_paths(message_text(status, tr), private)),
        (tr("Training steps"), _number(status.get("step"), tr)),
        (tr("Training time"), charts.format_duration(summary.get("duration_s"), tr)),
        (tr("Started"), time.strftime("%Y-%m-%d %H:%M", time.localtime(summary["started_at"]))
         if summary.get("started_at") else tr("unknown")),
    ])
    corpus_table = _table([
        (tr("Name"), _hide_paths(_corpus_name(corpus, tr), private)),
        (tr("Characters"), _number(corpus.get("chars"), tr)),
        (tr("Encoding"), tr(corpus["encoding"]) if corpus.get("encoding") else tr("unknown")),
        (tr("Fingerprint (SHA-256)"), corpus.get("sha256") or tr("unknown")),
    ])
    settings_table = settings_html(config, tr)
    all_settings = _hide_paths(json.dumps({k: v for k, v in config.items() if k != "corpus"}, indent=2,
                                          ensure_ascii=False, default=str), private)
    return "".join([
        f"<details><summary>{_e(tr('Technical details'))}</summary>",
        heading("Training", tr), training_table,
        heading("Corpus", tr), corpus_table,
        heading("Settings", tr), settings_table,
        f"<h3>{_e(tr('All settings'))}</h3><pre>{_e(all_settings)}</pre>",
        "</details>"])


def build_report(run_dir, extra_samples=(), language: str = DEFAULT_LANGUAGE) -> str:
    """The run at ``run_dir`` as one self-contained HTML page (a string) in ``language``.

    ``extra_samples``: texts written with the run (``session_samples``), as strings or
    dicts with "text" and "label". Raises TextgenError when ``run_dir`` holds no run.
    """
    def tr(text, **params):
        return translate(text, language, **params)

    run_dir = Path(run_dir)
    if not runs.is_run(run_dir):
        raise TextgenError("There is no run at {path}, so there is nothing to report.", path=run_dir.name)
    name = run_dir.name
    config = files.read_json(run_dir / "config.json", {}) or {}
    status = runs.read_status(run_dir)
    records = metrics.read_records(run_dir)
    notes = metrics.read_records(run_dir, metrics.NOTES_FILE)
    sample_records = metrics.read_records(run_dir, metrics.SAMPLES_FILE)
    kept, learning = training_samples(sample_records, tr, language)
    extra = _extra(extra_samples, tr)
    title = runs.run_title(config) or name

    shown = kept + extra + learning
    texts = [text for _, text in shown]
    results, problem, train_text = copying(run_dir, texts)
    bpc = best_bits_per_char(status, records)
    scale = text_scale(train_text or "".join(texts))
    copied = _copying_sentence(results, problem, tr, language)
    base = Path(config["init_from"]) if config.get("init_from") else None
    private = _folders(run_dir, config)
    try:
        refs = references.reference_losses(run_dir)
    except TextgenError:
        refs = None  # the corpus is gone: the report leaves the reference lines out
    meaning = (references.loss_in_words(bpc * LN2, refs, [], tr, kept=True, ended=True, bits=True)["sentence"]
               if refs and bpc is not None else "")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(language)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(tr('{name}: TextGen Studio report', name=title))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        note("Run {name}.", tr, name=name) if title != name else "",
        note("A language model trained with TextGen Studio. Report made {when}.", tr,
             when=time.strftime("%Y-%m-%d %H:%M")),
        _summary_html(config, bpc, scale, copied, tr, language, meaning),
        _samples_html(kept, extra, learning, list(results or [None] * len(shown)), tr),
        _surprise_html(run_dir, sample_records, private, tr, language),
        _chart_html(records, base, tr, refs, notes),
        _doctor_html(notes, tr),
        _details_html(run_dir, config, status, private, tr),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def session_samples(run_path: str, generated: dict | None = None, comparison: dict | None = None,
                    language: str = DEFAULT_LANGUAGE) -> list[dict]:
    """Texts written with the run at ``run_path`` on the Generate page, as report samples.

    ``generated`` and ``comparison`` are what that page keeps: a prompt, the texts
    (continuations), the path of the model that wrote them and, in ``generated``, the
    sampling ``settings`` (temperature, top_k, top_p, seed), which label each text.
    """
    def tr(text, **params):
        return translate(text, language, **params)

    found = []
    if isinstance(generated, dict) and generated.get("path") == run_path:
        prompt, texts = generated.get("prompt", ""), generated.get("texts") or []
        settings = generated.get("settings")
        note = (settings_note(settings.get("temperature"), settings.get("seed"), tr, settings.get("top_k"),
                              settings.get("top_p"), language) if isinstance(settings, dict) else None)
        for i, text in enumerate(texts, 1):
            if note:
                label = (tr("Generated, sample {i} of {count} ({settings})", i=i, count=len(texts), settings=note)
                         if len(texts) > 1 else tr("Generated ({settings})", settings=note))
            else:
                label = (tr("Generated (sample {i} of {count})", i=i, count=len(texts))
                         if len(texts) > 1 else tr("Generated"))
            found.append({"label": label, "text": prompt + text})
    if isinstance(comparison, dict) and comparison.get("path") == run_path:
        prompt = comparison.get("prompt", "")
        for temperature, text in (comparison.get("texts") or {}).items():
            found.append({"label": tr("Temperature {temperature}, seed {seed}",
                                      temperature=temperature, seed=comparison.get("seed")),
                          "text": prompt + text})
    return found
