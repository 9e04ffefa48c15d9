"""A run as one self-contained HTML page, to send to people who do not run the app.

``build_report(run_dir)`` returns the page: the corpus, the settings, the
learning curves as an interactive Plotly chart with plotly.js inlined (it
opens offline: no script is fetched from anywhere), the best held-out score
and the text sampled during training, plus any texts the caller adds. Every
piece of user text (run names, corpus names, samples, prompts) is escaped.
It is written in the interface language the caller names (textgen.i18n).
"""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path

import plotly.io as pio

from textgen import charts, files, metrics, runs
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, english, translate
from textgen.units import LN2
MAX_TRAINING_SAMPLES = 12

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

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 60rem; padding: 1.5rem; color: #1f2328; line-height: 1.5; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
.muted { color: #656d76; } .score { font-size: 2rem; font-weight: 600; }
table { border-collapse: collapse; } td, th { padding: 0.25rem 0.8rem; border-bottom: 1px solid #eaeef2;
       text-align: left; vertical-align: top; }
th { font-weight: 600; } pre { background: #f6f8fa; padding: 0.8rem; border-radius: 6px;
       white-space: pre-wrap; word-wrap: break-word; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _value(key: str, value, tr) -> str:
    if value is None:
        return tr("none")
    if key == "init_from":
        return Path(str(value)).name
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if key in ("vocab_size", "parameters") else str(value)
    return str(value)


def _table(rows) -> str:
    body = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in rows)
    return f"<table>{body}</table>"


def _best_bpc(status: dict, records: list[dict]) -> float | None:
    best = status.get("best_val_loss")
    if not isinstance(best, (int, float)) or not math.isfinite(best):
        point = charts.best_point(records)
        best = point["val_loss"] if point else None
    return best / LN2 if isinstance(best, (int, float)) else None


def _sample_blocks(samples) -> str:
    blocks = []
    for label, text in samples:
        blocks.append(f"<h3>{_e(label)}</h3><pre>{_e(text)}</pre>")
    return "".join(blocks)


def _extra(extra_samples, tr) -> list[tuple[str, str]]:
    """(label, text) pairs from strings or dicts with "text" and optional "label"."""
    pairs = []
    for i, item in enumerate(extra_samples, 1):
        if isinstance(item, dict):
            pairs.append((str(item.get("label") or tr("Sample {i}", i=i)), str(item.get("text", ""))))
        else:
            pairs.append((tr("Sample {i}", i=i), str(item)))
    return pairs


def loss_chart_html(records: list[dict], base_records: list[dict] | None = None,
                    tr=english) -> str:
    """The learning curves in bits per character, with plotly.js inlined (works offline).
    A fine-tune's curve continues its base model's (``base_records``)."""
    fig = charts.loss_figure(records, bits=True, best=charts.best_point(records),
                             base_records=base_records or None, translate=tr)
    fig.update_layout(height=420)
    return pio.to_html(fig, include_plotlyjs=True, full_html=False,
                       config={"displaylogo": False, "responsive": True})


def build_report(run_dir, extra_samples=(), language: str = DEFAULT_LANGUAGE) -> str:
    """The run at ``run_dir`` as one self-contained HTML page (a string) in ``language``."""
    def tr(text, **params):
        return translate(text, language, **params)

    run_dir = Path(run_dir)
    if not runs.is_run(run_dir):
        raise TextgenError("There is no run at {path}, so there is nothing to report.", path=run_dir)
    name = run_dir.name
    config = files.read_json(run_dir / "config.json", {}) or {}
    status = runs.read_status(run_dir)
    summary = runs.run_summary(run_dir)
    records = metrics.read_records(run_dir)
    samples = metrics.read_records(run_dir, metrics.SAMPLES_FILE)
    corpus = config.get("corpus") or {}

    bpc = _best_bpc(status, records)
    fraction = config.get("val_fraction", 0.1)
    held_out = f"{fraction:.0%}" if isinstance(fraction, (int, float)) else "10%"
    explained = tr("Held-out loss of the best checkpoint, on the last {share} of the text, which the "
                   "model never trained on. Lower is better; guessing blindly among 64 characters "
                   "would score 6.", share=held_out)
    score = (f'<p class="score">{_e(tr("{bpc:.3f} bits per character", bpc=bpc))}</p>'
             f'<p class="muted">{_e(explained)}</p>'
             if bpc is not None else f"<p>{_e(tr('No held-out score was recorded.'))}</p>")
    unknown = tr("unknown")
    overview = _table([
        (tr("State"), tr(status.get("state") or "unknown")),
        (tr("Message"), tr(status.get("message") or "")),
        (tr("Training steps"), f"{status['step']:,}" if isinstance(status.get("step"), int) else unknown),
        (tr("Training time"), charts.format_duration(summary.get("duration_s"), tr)),
        (tr("Started"), time.strftime("%Y-%m-%d %H:%M", time.localtime(summary["started_at"]))
         if summary.get("started_at") else unknown),
    ])
    chars = corpus.get("chars")
    corpus_table = _table([
        (tr("Name"), corpus.get("name") or unknown),
        (tr("Characters"), f"{chars:,}" if isinstance(chars, int) else unknown),
        (tr("Encoding"), corpus.get("encoding") or unknown),
        (tr("Fingerprint (SHA-256)"), (corpus.get("sha256") or unknown)[:16]),
    ])
    settings_table = _table([(tr(label), _value(key, config[key], tr)) for key, label in SETTINGS
                             if key in config])
    all_settings = json.dumps({k: v for k, v in config.items() if k != "corpus"}, indent=2,
                              ensure_ascii=False, default=str)
    base = Path(config["init_from"]) if config.get("init_from") else None
    base_records = metrics.read_records(base) if base else None
    chart = (loss_chart_html(records, base_records, tr) if records
             else f"<p>{_e(tr('No learning curve was recorded.'))}</p>")
    training_samples = [(tr("At step {step}", step=s.get("step", "?")), s.get("text", ""))
                        for s in samples if isinstance(s.get("text"), str)][-MAX_TRAINING_SAMPLES:]
    extra = _extra(extra_samples, tr)

    def heading(text):
        return f"<h2>{_e(tr(text))}</h2>"

    def note(text, **params):
        return f'<p class="muted">{_e(tr(text, **params))}</p>'

    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(language)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(tr('{name}: TextGen Studio report', name=name))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(name)}</h1>",
        note("A language model trained with TextGen Studio. Report made {when}.",
             when=time.strftime("%Y-%m-%d %H:%M")),
        heading("Best held-out score"), score, overview,
        heading("Corpus"), corpus_table,
        heading("Settings"), settings_table,
        f"<details><summary>{_e(tr('All settings'))}</summary><pre>{_e(all_settings)}</pre></details>",
        heading("Learning curves"),
        note("Training loss (blue) and held-out loss (orange) in bits per character; the star "
             "marks the checkpoint that was kept. Hover, zoom and pan work offline."),
        chart,
    ]
    if extra:
        parts += [heading("Texts written with this model"), _sample_blocks(extra)]
    parts.append(heading("Text sampled during training"))
    if training_samples:
        parts += [note("How the model wrote as it learnt, earliest first."), _sample_blocks(training_samples)]
    else:
        parts.append(f"<p>{_e(tr('No samples were recorded during training.'))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def session_samples(run_path: str, generated: dict | None = None, comparison: dict | None = None,
                    language: str = DEFAULT_LANGUAGE) -> list[dict]:
    """Texts written with the run at ``run_path`` on the Generate page, as report samples.

    ``generated`` and ``comparison`` are what that page keeps: a prompt, the texts
    (continuations) and the path of the model that wrote them.
    """
    found = []
    if isinstance(generated, dict) and generated.get("path") == run_path:
        prompt, texts = generated.get("prompt", ""), generated.get("texts") or []
        for i, text in enumerate(texts, 1):
            label = (translate("Generated (sample {i} of {count})", language, i=i, count=len(texts))
                     if len(texts) > 1 else translate("Generated", language))
            found.append({"label": label, "text": prompt + text})
    if isinstance(comparison, dict) and comparison.get("path") == run_path:
        prompt = comparison.get("prompt", "")
        for temperature, text in (comparison.get("texts") or {}).items():
            found.append({"label": translate("Temperature {temperature}, seed {seed}", language,
                                             temperature=temperature, seed=comparison.get("seed")),
                          "text": prompt + text})
    return found
