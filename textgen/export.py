"""A run as one web page that runs its model in the browser: ``build_page`` and ``export_html``.

The page holds everything it needs and fetches nothing: the model's weights (float32,
base64), its vocabulary, the runtime (TensorFlow.js core with its WebAssembly and
plain-JavaScript CPU backends, from the npm registry, pinned in package-lock.json and
installed by ``make``), the script that runs the model one token at a time
(textgen/web/page.js, which follows textgen.models' steppers, textgen.tokenizers and
textgen.sampling), the run's settings and its learning curves (the report's chart, plotly.js
inlined). A Content-Security-Policy forbids every request, so opened from disk it works with
no network, and shared it sends nothing anywhere.

Why TensorFlow.js: its core and backends add about 1 MB to a page, compute in float32 as
the Python model does (so the page's probabilities match within 1e-4), and need no
converter: the layers are a few lines of its operations on the exported weights. Its
WebAssembly backend writes several times faster than its JavaScript one on a CPU
(benchmarks/README.md). onnxruntime-web would add a WebAssembly binary of about 10 MB and an
ONNX export of a one-step model with its state, which Keras does not make.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

import numpy as np

from textgen import files, heldout, metrics, report, runs
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, LANGUAGES, join_sentences, translate
from textgen.references import reference_losses
from textgen.sampling_settings import DEFAULT_LENGTH, MAX_LENGTH, MAX_TEMPERATURE, STARTING_TEMPERATURE
from textgen.tokenizers import never_sampled, start_token

RUNTIME = Path(__file__).resolve().parent.parent / "node_modules" / "@tensorflow"
RUNTIME_FILES = (  # in the order the page loads them: the core, then the backends it registers
    RUNTIME / "tfjs-core" / "dist" / "tf-core.min.js",
    RUNTIME / "tfjs-backend-cpu" / "dist" / "tf-backend-cpu.min.js",
    RUNTIME / "tfjs-backend-wasm" / "dist" / "tf-backend-wasm.min.js",
)
# The WebAssembly backend's binary for browsers with SIMD (all current ones); where it cannot
# start, the page computes with the CPU backend instead, slower, and says so.
RUNTIME_WASM = RUNTIME / "tfjs-backend-wasm" / "dist" / "tfjs-backend-wasm-simd.wasm"
PAGE_SCRIPT = Path(__file__).resolve().parent / "web" / "page.js"

# Nothing may be fetched: no connection, no frame, no script or style from elsewhere. The
# runtime and plotly.js are inline; plotly.js builds functions at run time ('unsafe-eval');
# the WebAssembly backend compiles its binary from the page ('wasm-unsafe-eval').
CONTENT_POLICY = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'; "
                  "style-src 'unsafe-inline'; img-src data: blob:; font-src data:")

STYLE = report.STYLE + """
.writer { background: #f6f8fa; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; }
.writer label { display: block; font-weight: 600; margin-top: 0.6rem; }
.writer textarea { width: 100%; box-sizing: border-box; min-height: 4.5rem; font: inherit; padding: 0.4rem; }
.knobs { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: 0 1rem; }
.knobs input { width: 100%; box-sizing: border-box; font: inherit; }
.knobs .hint { font-weight: 400; font-size: 0.85rem; color: #656d76; }
.knobs > div { display: flex; flex-direction: column; justify-content: flex-end; }  /* boxes in one row */
#generate { margin-top: 1rem; font: inherit; font-weight: 600; padding: 0.45rem 1.4rem; border-radius: 6px;
            border: 1px solid #1f6feb; background: #1f6feb; color: white; cursor: pointer; }
#generate:disabled { opacity: 0.5; cursor: wait; }
#output { min-height: 6rem; background: white; border: 1px solid #d0d7de; }
#output .prompt { color: #656d76; }
.problem { color: #cf222e; }
"""


def model_tensors(run) -> dict[str, np.ndarray]:
    """The weights page.js reads, by name, as float32 arrays: for a GRU or LSTM
    ``embedding`` (vocab, embedding), ``rnn_{i}/kernel`` (in, gates x units),
    ``rnn_{i}/recurrent_kernel`` (units, gates x units) and its biases (a GRU's input and
    recurrent bias apart); for the Transformer ``tokens`` (vocab, width), ``positions``
    (seq_len, width) and per block its norms, ``query``/``key``/``value`` kernels as
    (width, heads x head size) and ``output`` as (heads x head size, width), ``expand`` and
    ``project``; then ``logits/kernel`` (units, vocab) and ``logits/bias``. ``run``: a
    loaded run (textgen.load_run)."""
    model, config = run.model, run.config

    def array(variable, shape=None):
        value = np.asarray(variable, dtype=np.float32)
        return value.reshape(shape) if shape else value

    found = {}
    if config["arch"] == "transformer":
        embedding = model.get_layer("embedding")
        found["tokens"] = array(embedding.tokens.embeddings)
        found["positions"] = array(embedding.positions.embeddings)
        for i in range(config["layers"]):
            block, name = model.get_layer(f"block_{i}"), f"block_{i}/"
            attention = block.attention
            width = attention._query_dense.kernel.shape[0]
            for norm in ("norm1", "norm2"):
                layer = getattr(block, norm)
                found[name + norm + "/gamma"], found[name + norm + "/beta"] = array(layer.gamma), array(layer.beta)
            for part, dense in (("query", attention._query_dense), ("key", attention._key_dense),
                                ("value", attention._value_dense)):
                found[name + part + "/kernel"] = array(dense.kernel, (width, -1))
                found[name + part + "/bias"] = array(dense.bias, (-1,))
            found[name + "output/kernel"] = array(attention._output_dense.kernel, (-1, width))
            found[name + "output/bias"] = array(attention._output_dense.bias)
            for part in ("expand", "project"):
                dense = getattr(block, part)
                found[name + part + "/kernel"], found[name + part + "/bias"] = array(dense.kernel), array(dense.bias)
        norm = model.get_layer("final_norm")
        found["final_norm/gamma"], found["final_norm/beta"] = array(norm.gamma), array(norm.beta)
    else:
        found["embedding"] = array(model.get_layer("embedding").embeddings)
        for i in range(config["layers"]):
            cell, name = model.get_layer(f"rnn_{i}").cell, f"rnn_{i}/"
            found[name + "kernel"] = array(cell.kernel)
            found[name + "recurrent_kernel"] = array(cell.recurrent_kernel)
            if config["arch"] == "gru":  # reset_after: (input bias, recurrent bias)
                found[name + "input_bias"], found[name + "recurrent_bias"] = array(cell.bias)
            else:
                found[name + "bias"] = array(cell.bias)
    head = model.get_layer("logits")
    found["logits/kernel"], found["logits/bias"] = array(head.kernel), array(head.bias)
    return found


def model_spec(run) -> tuple[dict, bytes]:
    """(what page.js needs to know about the model, its weights as bytes). The spec holds
    the shape settings, the vocabulary (``tokenizer``: kind, tokens and, for subwords, the
    merges), ``start_id`` (what an empty prompt starts from), ``banned`` (ids never
    written) and ``tensors``: name -> [offset in float32 values, shape]."""
    tensors, chunks, offset = {}, [], 0
    for name, value in model_tensors(run).items():
        tensors[name] = [offset, list(value.shape)]
        chunks.append(value.astype("<f4").tobytes())
        offset += value.size
    config, tokenizer = run.config, run.tokenizer
    vocabulary = {"kind": tokenizer.kind, "tokens": tokenizer.tokens}
    if tokenizer.kind == "bpe":
        vocabulary["merges"] = [list(pair) for pair in tokenizer.merges]
    spec = {"arch": config["arch"], "layers": config["layers"], "units": config["units"],
            "heads": config.get("heads"), "seq_len": config["seq_len"], "vocab_size": tokenizer.vocab_size,
            "tokenizer": vocabulary, "start_id": start_token(tokenizer),
            "banned": never_sampled(tokenizer), "tensors": tensors}
    return spec, b"".join(chunks)


def check_runtime() -> None:
    """Raises TextgenError, saying how to install it, when the browser runtime is missing."""
    if not all(path.is_file() for path in (*RUNTIME_FILES, RUNTIME_WASM)):
        raise TextgenError("The browser runtime is not installed, so a web page cannot be made. "
                           "Run make web-runtime in the project folder (it needs npm), then export again.")


def runtime() -> tuple[list[str], bytes]:
    """(the runtime's JavaScript files, its WebAssembly binary), read. Raises TextgenError
    when it is not installed."""
    check_runtime()
    return [path.read_text(encoding="utf-8") for path in RUNTIME_FILES], RUNTIME_WASM.read_bytes()


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _inline_json(value) -> str:
    """JSON safe inside a <script> element: no "</" can end it early."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def deferred(chart_html: str) -> str:
    """The report's chart with its scripts kept as text, which page.js runs once the model is
    ready: reading plotly.js takes a slow computer a second or two, and the prompt box and
    the model come first."""
    return chart_html.replace("<script>", '<script type="text/plain" data-deferred>')


def _script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def _knob(key: str, label: str, hint: str, **attributes) -> str:
    shown = " ".join(f'{name.replace("_", "-")}="{_e(value)}"' for name, value in attributes.items())
    return (f'<div><label for="{key}">{_e(label)} <span class="hint">{_e(hint)}</span></label>'
            f'<input id="{key}" type="number" {shown}></div>')


def script_text(tr) -> dict[str, str]:
    """The sentences page.js shows, by the key it reads them with, in the page's language."""
    return {
        "generate": tr("Generate"),
        "stop": tr("Stop"),
        "ready": tr("Ready: type a prompt (or leave it empty) and press Generate."),
        "slow_runtime": tr("This browser cannot run WebAssembly here, so the model computes in plain "
                           "JavaScript: it writes more slowly."),
        "writing": tr("Writing..."),
        "failed": tr("The model could not be started in this browser."),
        "speed": tr("{chars} characters in {seconds} s ({rate} a second).", chars="{chars}",
                    seconds="{seconds}", rate="{rate}"),
        "speed_one": tr("1 character in {seconds} s.", seconds="{seconds}"),
        "stopped": tr("Stopped."),
        "reading": tr("Reading the prompt..."),
        "unknown_characters": tr("The model has never seen these characters: {shown}. Remove them from "
                                 "the prompt.", shown="{shown}"),
        # SamplingSettings' own sentences, with its limits.
        "bad_temperature": tr("The temperature must be a number from 0 (always the likeliest) to {limit}.",
                              limit=MAX_TEMPERATURE),
        "bad_top_k": tr("The top-k must be a whole number of 0 (off) or more."),
        "bad_top_p": tr("The top-p must be a number from 0 to 1 (1 is off)."),
        "bad_length": tr("The length must be a whole number from 1 to {limit:,}.", limit=MAX_LENGTH),
        "bad_seed": tr("The seed must be a whole number of 0 or more."),
        "line_break": tr("line break"),
        "tab": tr("tab"),
        "space": tr("space"),
        "carriage_return": tr("carriage return"),
    }


LENGTH_UNITS = {"char": "characters", "word": "words", "bpe": "word pieces"}  # what Length counts


def _writer_html(tr, tokenizer: str) -> str:
    """The prompt box, the sampling settings and the Generate button; page.js runs them."""
    unit = LENGTH_UNITS.get(tokenizer, "characters")
    knobs = "".join([
        _knob("temperature", tr("Temperature"), tr("0: always the likeliest"), min=0, max=MAX_TEMPERATURE,
              step=0.1, value=STARTING_TEMPERATURE),
        _knob("top-k", tr("Top-k"), tr("0: off"), min=0, step=1, value=0),
        _knob("top-p", tr("Top-p"), tr("1: off"), min=0, max=1, step=0.05, value=1),
        _knob("length", tr("Length"), tr(unit), min=1, max=MAX_LENGTH, step=1, value=DEFAULT_LENGTH),
        _knob("seed", tr("Seed"), tr("empty: new text each time"), min=0, step=1, placeholder=tr("random")),
    ])
    return "".join([
        '<section class="writer">',
        f'<label for="prompt">{_e(tr("Prompt"))}</label>',
        f'<textarea id="prompt" placeholder="{_e(tr("Text for the model to continue (may be empty)"))}"></textarea>',
        f'<div class="knobs">{knobs}</div>',
        f'<button id="generate" type="button" disabled>{_e(tr("Generate"))}</button>',
        f'<p id="note" class="muted">{_e(tr("Loading the model..."))}</p>',
        '<pre id="output"></pre>',
        "</section>"])


def build_page(run, language: str = DEFAULT_LANGUAGE) -> str:
    """The loaded run ``run`` (textgen.load_run) as one self-contained HTML page (a string,
    about 1.33 times the model's float32 weights plus 5.5 MB of scripts) in ``language``: a
    prompt box, Temperature, Top-k, Top-p, Length, Seed and a Generate button that writes
    with the model in the page, then the run's name, settings and learning curves. Raises
    TextgenError for an unknown language or when the runtime is not installed."""
    if language not in LANGUAGES:
        raise TextgenError("Unknown language {language}. Choose one of: {known}.", language=language,
                           known=", ".join(LANGUAGES))

    def tr(text, **params):
        return translate(text, language, **params)

    scripts, wasm = runtime()
    spec, weights = model_spec(run)
    run_dir, config = run.path, run.config
    status, records = runs.read_status(run_dir), metrics.read_records(run_dir)
    title = runs.run_title(config) or run_dir.name
    bpc = report.best_bits_per_char(status, records)
    about = [report.paragraph(report.learnt_sentence(config, tr, language))]
    if status.get("state") in runs.ACTIVE_STATES:
        about.append(report.paragraph(tr("Exported while it was still training, at step {step:,}: the model "
                                         "kept by then, which further training improves.",
                                         step=status.get("step") or 0)))
    if bpc is not None:
        about.append(report.paragraph(join_sentences(
            [tr("Best held-out score: {bpc:.3f} bits per character (lower is better).", bpc=bpc),
             heldout.scored_part_sentence(config, tr)], language)))
    base = Path(config["init_from"]) if config.get("init_from") else None
    try:
        refs = reference_losses(run_dir)
    except TextgenError:
        refs = None  # the corpus is gone: the chart leaves the reference lines out
    chart = (deferred(report.loss_chart_html(records, metrics.read_records(base) if base else None, tr, refs,
                                             metrics.read_records(run_dir, metrics.NOTES_FILE)))
             if records else report.paragraph(tr("No learning curve was recorded.")))
    text = script_text(tr)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(language)}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(tr('{name}: a TextGen Studio model', name=title))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        report.note("Run {name}.", tr, name=run_dir.name) if title != run_dir.name else "",
        report.note("A language model trained with TextGen Studio, exported {when}. It runs in this page, on "
                    "this computer: nothing is installed and nothing is sent anywhere.", tr,
                    when=time.strftime("%Y-%m-%d %H:%M")),
        _writer_html(tr, run.tokenizer.kind),
        # The model starts before the page below it is read.
        *(_script(code) for code in scripts),
        f'<script type="application/json" id="textgen-model">{_inline_json(spec)}</script>',
        f'<script type="application/octet-stream" id="textgen-weights">{base64.b64encode(weights).decode()}</script>',
        f'<script type="application/octet-stream" id="textgen-wasm">{base64.b64encode(wasm).decode()}</script>',
        f'<script type="application/json" id="textgen-text">{_inline_json(text)}</script>',
        _script(PAGE_SCRIPT.read_text(encoding="utf-8")),
        report.heading("About this model", tr), *about, report.settings_html(config, tr),
        report.heading("Learning curves", tr), chart,
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def check_destination(out) -> Path:
    """``out`` as the path of an HTML file that can be written: its folder exists and it is
    not a folder itself. Raises TextgenError with what to do otherwise."""
    out = Path(out).expanduser()
    if out.is_dir():
        raise TextgenError("{path} is a folder. Give the name of the file to write, such as "
                           "{path}/model.html.", path=out)
    if not out.parent.is_dir():
        raise TextgenError("There is no folder {folder} to write {name} in. Create it first, or "
                           "choose a file in an existing folder.", folder=out.parent, name=out.name)
    return out


def export_html(run, out, language: str = DEFAULT_LANGUAGE) -> int:
    """Write the page of the loaded run ``run`` (build_page) to ``out``, whole or not at all;
    returns its size in bytes. Raises TextgenError on a destination that cannot be written
    (an existing file there is left as it was) or a missing runtime."""
    out = check_destination(out)
    page = build_page(run, language).encode("utf-8")
    try:
        files.atomic_write_bytes(out, page)
    except OSError as e:
        raise TextgenError("{path} cannot be written ({reason}). Choose another file.", path=out,
                           reason=e.strerror or type(e).__name__) from None
    return len(page)
