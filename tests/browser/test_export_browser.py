"""Browser test: an exported model page in Chromium with every network request refused.

For GRU, LSTM and Transformer runs with character, word and subword tokens (every
architecture with characters and with one of the others, the Transformer with all three;
in the page the network and the tokenizer are separate parts): the page's next-token
probabilities equal the Python model's within 1e-4, temperature 0 writes exactly what
``Run.generate(temperature=0)`` writes (past the Transformer's window too), and the page
tokenizes text as the run's tokenizer does. Then the page as a person uses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.browser.test_app_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from textgen import export, load_run
from textgen.config import resolve_config
from textgen.training import train

pytestmark = pytest.mark.browser

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "tinyshakespeare.txt"
ARCHS = ("gru", "lstm", "transformer")
MODELS = {"gru": ("char", "word"), "lstm": ("char", "bpe"), "transformer": ("char", "word", "bpe")}
PROMPT = "ROMEO:\nWhat say"
# Texts the tokenizers must read alike in Python and in the page: Python's and Oniguruma's
# ideas of letters, digits and whitespace, Chinese, characters the runs never saw.
TRICKY = ["", "ROMEO:\nWhat say you, 2 or 33?", "naïve café — ‘quoted’ …", "a\u00a0b\u3000c\u2028d\x1ce\tf  \n\n g",
          "中文的文本，和English混在一起123。", "under_score snake_case x²", "emoji 🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "   leading and trailing   "]


@pytest.fixture(scope="module")
def pages(tmp_path_factory, tiny_runs):
    """{(arch, tokenizer): (run folder, exported page)}: small runs of every kind."""
    root = tmp_path_factory.mktemp("export")
    corpus = root / "corpus.txt"
    corpus.write_text(CORPUS.read_text(encoding="utf-8")[:12_000], encoding="utf-8")
    found = {}
    for arch, kinds in MODELS.items():
        for kind in kinds:
            if kind == "char":
                run_dir = tiny_runs[arch]
            else:  # seq_len 16: sixty tokens slide the Transformer's window several times
                run_dir = root / f"{arch}-{kind}"
                config = resolve_config("quick", arch=arch, tokenizer=kind, max_vocab=300, layers=2, units=32,
                                        embedding_dim=16, seq_len=16, batch_size=16, epochs=2, time_budget=0,
                                        sample_every_s=0, seed=1)
                train([str(corpus)], run_dir, config, log=lambda m: None)
            page = root / f"{arch}-{kind}.html"
            export.export_html(load_run(run_dir), page)
            found[arch, kind] = run_dir, page
    return found


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_offline(browser, page_path, language_check=None):
    """(page, requests seen, errors seen) of ``page_path`` opened with every request but the
    file itself refused, once its model is ready."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    requests, errors = [], []
    context.on("request", lambda r: requests.append(r.url))
    context.route("**/*", lambda route: route.continue_() if route.request.url == page_path.as_uri()
                  else route.abort())
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page_path.as_uri())
    page.evaluate("() => window.textgen.ready")
    return page, requests, errors


def softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


@pytest.mark.parametrize("arch", ARCHS)
def test_the_page_computes_what_python_computes_for_every_model_and_tokenizer(pages, browser, arch):
    for kind in MODELS[arch]:
        run_dir, page_path = pages[arch, kind]
        run = load_run(run_dir)
        page, requests, errors = open_offline(browser, page_path)
        assert page.evaluate("() => window.textgen.ready") == "wasm", (arch, kind)
        for text in TRICKY[1:] if kind != "char" else [PROMPT]:
            assert page.evaluate("(t) => window.textgen.encode(t)", text) == run.tokenizer.encode(text).tolist(), \
                (arch, kind, text)
        ids = run.tokenizer.encode(PROMPT)
        assert len(ids) <= run.config["seq_len"]  # the full model's window: the reference below
        expected = softmax(np.asarray(run.model(ids[None]))[0, -1])
        got = np.asarray(page.evaluate("(t) => window.textgen.probabilities(t)", PROMPT))
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-4, (arch, kind)
        for prompt in (PROMPT, ""):
            greedy = page.evaluate("(t) => window.textgen.generate(t, {temperature: 0, length: 60})", prompt)
            assert greedy == run.generate(prompt, length=60, temperature=0), (arch, kind, prompt)
        assert requests == [page_path.as_uri()] and errors == [], (requests, errors)
        page.context.close()


def test_the_tokenizers_read_odd_text_as_python_does(pages, browser):
    for kind in ("word", "bpe"):
        run_dir, page_path = pages["transformer", kind]
        run = load_run(run_dir)
        page, _, _ = open_offline(browser, page_path)
        for text in TRICKY:
            assert page.evaluate("(t) => window.textgen.encode(t)", text) == run.tokenizer.encode(text).tolist(), \
                (kind, text)
        page.context.close()


def test_a_person_types_a_prompt_and_watches_the_model_write(pages, browser):
    run_dir, page_path = pages["gru", "char"]
    page, requests, errors = open_offline(browser, page_path)
    for label in ("Prompt", "Temperature", "Top-k", "Top-p", "Length", "Seed"):
        assert page.get_by_label(label, exact=False).count() == 1, label
    page.fill("#prompt", "ROMEO:")
    page.fill("#length", "300")
    page.fill("#seed", "5")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function("() => document.getElementById('generate').textContent === 'Generate'"
                           " && document.querySelector('#note').textContent.includes('a second')")
    first = page.locator("#output").inner_text()
    assert first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 300
    page.get_by_role("button", name="Generate").click()  # the same seed writes the same text
    page.wait_for_function("() => document.getElementById('generate').textContent === 'Generate'"
                           " && document.querySelector('#note').textContent.includes('a second')")
    assert page.locator("#output").inner_text() == first
    page.fill("#temperature", "11")
    page.get_by_role("button", name="Generate").click()
    assert "from 0 (always the likeliest) to 10" in page.locator("#note").inner_text()
    assert page.locator("#output").inner_text() == ""  # no earlier text under a refusal
    page.fill("#temperature", "1")
    page.fill("#prompt", "ROMEO: " * 1000)  # a long prompt is read without freezing the page
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Stop").click()  # ... and Stop works while it is read
    page.wait_for_function("() => document.getElementById('generate').textContent === 'Generate'")
    assert page.locator("#note").inner_text().startswith("Stopped.")
    assert page.locator("#output").inner_text() == "ROMEO: " * 1000
    page.fill("#prompt", "ROMEO: ✈")
    page.get_by_role("button", name="Generate").click()
    assert 'never seen these characters: "✈"' in page.locator("#note").inner_text()
    page.locator(".js-plotly-plot .legendtext").first.wait_for()  # drawn once the model is ready
    assert page.locator(".js-plotly-plot").count() == 1 and "Sequence length" in page.content()
    assert requests == [page_path.as_uri()] and errors == [], (requests, errors)
    page.context.close()


def test_the_page_speaks_the_language_chosen_when_exporting(pages, browser, tmp_path):
    run_dir, _ = pages["transformer", "char"]
    page_path = tmp_path / "zh.html"
    export.export_html(load_run(run_dir), page_path, language="zh")
    page, requests, errors = open_offline(browser, page_path)
    assert page.get_by_role("button", name="生成").count() == 1
    assert "温度" in page.content() and "准备好了" in page.locator("#note").inner_text()
    page.context.close()
