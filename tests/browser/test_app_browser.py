"""Browser test: the real app in Chromium, from an upload to generated text.

Starts `streamlit run app.py` on a free port with an empty TEXTGEN_HOME, then
uploads a corpus, trains a Quick model (watching the live chart grow), stops
it, generates text and looks at the runs. Screenshots of every page go to
assets/screenshots/ for the README.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from textgen import app_state

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "assets" / "screenshots"

pytestmark = pytest.mark.browser


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Chromium not found: install it with 'apt-get install chromium' (make test does this)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus_text(chars: int = 30_000) -> str:
    """Readable, varied English-like text, the same every time."""
    rng = random.Random(3)
    subjects = ["The keeper", "A gull", "The old boat", "My sister", "The baker", "The tide", "A stranger"]
    verbs = ["watched", "carried", "remembered", "painted", "followed", "mended", "sang to"]
    objects = ["the lamp", "the harbour", "a letter", "the grey sea", "the bread", "the bell", "the fog"]
    endings = ["before dawn.", "all winter.", "without a word.", "as the bell rang.", "and smiled."]
    lines = []
    while sum(map(len, lines)) < chars:
        lines.append(" ".join(rng.choice(part) for part in (subjects, verbs, objects, endings)))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory) -> Path:
    """The TEXTGEN_HOME of the app under test."""
    return tmp_path_factory.mktemp("browser-home")


@pytest.fixture(scope="module")
def app_url(browser_home):
    require_chromium()
    home = browser_home
    port = free_port()
    env = dict(os.environ, TEXTGEN_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("TEXTGEN_QUEUE_DIR", None)
    log = open(home / "streamlit.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("Streamlit did not start:\n" + (home / "streamlit.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        # Stop any training job the test left behind, then the server.
        for status in (home / "runs").glob("*/status.json"):
            (status.parent / "STOP").touch()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


def own_session(page, viewport: dict):
    """(context, page): a session of its own (new cookies, new Streamlit session) in the
    same browser; close the context when done."""
    context = page.context.browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def quick_on_train(page, app_url: str) -> None:
    """Open Train at its address and choose the Quick preset."""
    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train", exact=True).first.wait_for(timeout=60_000)
    wait_idle(page)
    page.locator('[data-testid="stRadio"]').get_by_text("Quick", exact=True).click()
    wait_idle(page)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def go_to(page, title: str) -> None:
    """Open a page through the sidebar, keeping this browser session's state."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).first.wait_for()
    wait_idle(page)


def wait_idle(page, timeout_s: float = 60) -> None:
    """Wait until the script run finished (Streamlit shows a status widget while running)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_s * 1000)


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main area, so the window grows to fit it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollHeight : document.body.scrollHeight;
    }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 5000))})
    page.wait_for_timeout(1000)  # let charts redraw at the new size
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(size)


def chart_points(page) -> int:
    """Points of the training curve in the live chart (-1 while there is no chart)."""
    return page.evaluate("""() => {
        const plots = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const g = plots[plots.length - 1];
        return g && g.data && g.data[0] && g.data[0].x ? g.data[0].x.length : -1;
    }""")


def wait_for(predicate, timeout_s: float, what, page) -> None:
    """Poll ``predicate`` every half second; ``what`` (a text, or a function giving one when
    the wait fails, to show the state it ended in) names what was awaited."""
    deadline = time.time() + timeout_s
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"Timed out waiting for {what() if callable(what) else what}")
        page.wait_for_timeout(500)


@pytest.fixture
def last_page_picture(page, tmp_path):
    """Keep a picture of where the test ended, to see what went wrong if it failed."""
    yield
    path = tmp_path / "last-page.png"
    page.screenshot(path=str(path))
    print(f"Last page: {path}")


def chosen_preset(page) -> str:
    return page.locator('[data-testid="stRadio"]').first.locator("label:has(input:checked)").inner_text().strip()


def test_language_switch_keeps_the_language_and_choices_across_pages(page, app_url):
    """The first visit of a fresh server opens a page's own address (not the home page);
    中文 in the sidebar: pages follow, a chosen preset survives switching back and forth and
    a visit to another page, and ?lang=zh in a link opens the app in Chinese."""
    context, page = own_session(page, {"width": 1400, "height": 1000})
    try:
        quick_on_train(page, app_url)
        page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="中文").click()
        page.get_by_role("heading", name="训练", exact=True).first.wait_for()
        wait_idle(page)
        assert "lang=zh" in page.url
        assert page.get_by_role("button", name="开始训练").is_visible()
        screenshot(page, "train-zh")
        assert chosen_preset(page) == "快速"

        go_to(page, "语料")  # another page keeps the language
        assert "lang=zh" in page.url
        page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="English").click()
        page.get_by_role("heading", name="Corpus", exact=True).first.wait_for()
        wait_idle(page)
        go_to(page, "Train")
        assert "lang=" not in page.url
        assert page.get_by_role("button", name="Start training").is_visible()
        assert chosen_preset(page) == "Quick"

        page.goto(f"{app_url}/generate?lang=zh")  # a shared link
        page.get_by_role("heading", name="生成", exact=True).first.wait_for(timeout=60_000)
    finally:
        context.close()



def test_upload_train_watch_stop_and_generate(page, app_url, last_page_picture):
    page.goto(app_url)
    page.get_by_role("heading", name="TextGen Studio").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("Models train on this machine").is_visible()
    screenshot(page, "home")

    # Corpus: upload a text file.
    go_to(page, "Corpus")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "harbour.txt", "mimeType": "text/plain", "buffer": corpus_text().encode()}])
    page.get_by_role("heading", name="Using: harbour.txt").wait_for()
    wait_idle(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    screenshot(page, "corpus")

    # Train: Quick preset, a shorter time budget, start, watch the chart grow, stop.
    go_to(page, "Train")
    assert page.get_by_text("harbour.txt").first.is_visible()
    page.locator('[data-testid="stRadio"]').get_by_text("Quick", exact=True).click()
    wait_idle(page)
    # A small text: the page suggests fine-tuning the base model; this test trains from scratch.
    choose(page, "Fine-tune from", "None (start from scratch)")
    page.get_by_text("Advanced settings").click()
    budget = page.get_by_role("spinbutton", name="Time budget (seconds)", exact=True)
    budget.fill("40")
    budget.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Run to watch").wait_for()
    wait_for(lambda: chart_points(page) > 0, 120, "the first points of the live chart", page)
    first = chart_points(page)
    wait_for(lambda: chart_points(page) > first, 60, "the live chart to gain points", page)
    page.get_by_role("button", name="Stop training").click()
    page.get_by_text("Training stopped").or_(page.get_by_text("Training completed")).first.wait_for(timeout=90_000)
    wait_idle(page)
    assert chart_points(page) > first
    screenshot(page, "train")

    # Generate: a prompt, a lower temperature, and the text appears.
    page.get_by_role("button", name="Generate text with this model").click()
    page.get_by_role("heading", name="Generate", exact=True).first.wait_for()
    wait_idle(page)
    prompt = page.get_by_role("textbox", name="Prompt", exact=True)
    prompt.fill("The keeper")
    prompt.press("Control+Enter")
    wait_idle(page)
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(6):  # 0.8 -> 0.5 in steps of 0.05
        slider.press("ArrowLeft")
    wait_idle(page)
    shown = page.locator('[data-testid="stSlider"]').first.locator('[data-testid="stSliderThumbValue"]')
    assert shown.inner_text() == "0.50"
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator('[data-testid="stCode"]').filter(has_text="The keeper").first.wait_for(timeout=120_000)
    wait_idle(page, 120)
    page.get_by_role("button", name="Download text").wait_for(timeout=120_000)
    # The sampling explorer: the chances of the next character after the prompt, as bars.
    charts_before = page.locator('[data-testid="stPlotlyChart"]').count()
    page.get_by_role("textbox", name="Text so far", exact=True).fill("The keeper")
    page.get_by_role("button", name="Show the chances").click()
    wait_for(lambda: page.locator('[data-testid="stPlotlyChart"]').count() > charts_before, 60,
             "the chart of next-character chances", page)
    wait_idle(page)
    screenshot(page, "generate")

    # Runs: the run is listed with its curve.
    go_to(page, "Runs")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    screenshot(page, "runs")


def test_a_visit_and_a_reload_keep_the_pasted_text_its_title_and_the_train_settings(page, app_url, browser_home):
    """A visit to another page must not drop what a page does not draw, and a refresh starts
    a new Streamlit session: the pasted corpus with its title, a changed Train setting and
    the run's name and title come back from the workspace."""
    context, page = own_session(page, {"width": 1280, "height": 720})
    text = corpus_text(4000)
    try:
        page.goto(f"{app_url}/corpus")
        page.get_by_role("heading", name="Corpus", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("tab", name="Paste text").click()
        pasted = page.get_by_role("textbox", name="Paste text", exact=True)
        pasted.fill(text)
        pasted.press("Control+Enter")
        wait_idle(page)
        title = page.get_by_role("textbox", name="Title", exact=True)
        title.fill("Harbour diary")
        title.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Use this text").click()
        page.get_by_role("heading", name="Using: Harbour diary").wait_for()
        wait_idle(page)

        go_to(page, "Train")
        assert page.get_by_text("Harbour diary").first.is_visible()
        page.get_by_text("Advanced settings").click()
        seed = page.get_by_role("spinbutton", name="Seed", exact=True)
        seed.fill("1234")
        seed.press("Enter")
        wait_idle(page)
        kept_seeds = []
        for _ in range(60):  # the rerun that keeps it may still be on its way to the server
            stored = app_state.load(browser_home)
            kept_seeds = [value for key, value in stored.items() if key.startswith("adv_seed_")]
            if 1234 in kept_seeds:
                break
            page.wait_for_timeout(500)
        assert 1234 in kept_seeds, f"the workspace kept the seeds {kept_seeds}"
        for name, value in (("Title", "Harbour demo"), ("Run name", "harbour-run")):
            box = page.get_by_role("textbox", name=name, exact=True)
            box.fill(value)
            box.press("Enter")
            wait_idle(page)
        # the rerun that takes them may still be on its way to the server
        wait_for(lambda: {app_state.load(browser_home).get(key) for key in ("train_run_title", "train_run_name")}
                 == {"Harbour demo", "harbour-run"}, 60, "the title and run name to be kept", page)

        def pasted_text_is_kept():
            go_to(page, "Corpus")
            page.get_by_role("heading", name="Using: Harbour diary").wait_for()
            page.get_by_role("tab", name="Paste text").click()
            pasted = page.get_by_role("textbox", name="Paste text", exact=True)
            wait_for(lambda: pasted.input_value() == text, 20, "the pasted text", page)
            assert page.get_by_role("textbox", name="Title", exact=True).input_value() == "Harbour diary"

        def train_settings_are_kept():
            page.get_by_role("heading", name="Train", exact=True).first.wait_for(timeout=60_000)
            wait_idle(page)
            assert page.get_by_text("Harbour diary").first.is_visible()
            if not page.get_by_role("spinbutton", name="Seed", exact=True).is_visible():
                page.get_by_text("Advanced settings").click()
            # The first script runs of a new session may still be settling the form.
            for role, name, kept in (("spinbutton", "Seed", "1234"), ("textbox", "Title", "Harbour demo"),
                                     ("textbox", "Run name", "harbour-run")):
                box = page.get_by_role(role, name=name, exact=True)
                wait_for(lambda: box.input_value() == kept, 20,
                         lambda: f"the kept {name} (shown: {box.input_value()!r})", page)

        pasted_text_is_kept()  # a visit to Corpus and back to Train, in one session
        go_to(page, "Train")
        train_settings_are_kept()
        page.reload()
        train_settings_are_kept()
        pasted_text_is_kept()
    finally:
        context.close()


def box_of(locator, timeout_s: float = 20) -> dict | None:
    """The locator's bounding box once it is drawn: during a rerun the page may replace the
    element for a moment, and a busy machine makes that moment longer."""
    deadline = time.time() + timeout_s
    box = locator.bounding_box()
    while box is None and time.time() < deadline:
        locator.page.wait_for_timeout(250)
        box = locator.bounding_box()
    return box


def inside(box: dict | None, viewport: dict) -> bool:
    return box is not None and (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def test_on_a_1280x720_projector_the_live_chart_and_latest_sample_are_on_screen(page, app_url):
    """While a Quick run trains, its live chart and its latest sample both fit a 1280x720
    screen without scrolling, and the chart's toolbars leave its legend uncovered."""
    viewport = {"width": 1280, "height": 720}
    context, page = own_session(page, viewport)
    try:
        quick_on_train(page, app_url)
        choose(page, "Fine-tune from", "None (start from scratch)")
        page.get_by_text("Advanced settings").click()  # the long form: Start training is below the fold
        page.get_by_role("button", name="Start training").click()
        stop = page.get_by_role("button", name="Stop training")
        wait_for(stop.is_enabled, 60, "the new run to start", page)
        progress = page.locator('[data-testid="stColumn"]').filter(
            has=page.get_by_role("heading", name="Progress", exact=True))
        # The first sample comes after sample_every_s of training.
        progress.get_by_text("What the model writes so far").wait_for(timeout=150_000)
        latest = progress.locator('[data-testid="stCode"]').first
        chart = progress.locator('[data-testid="stPlotlyChart"]').first
        assert stop.is_enabled()  # still training
        page.wait_for_timeout(1500)  # the page scrolled back up by itself after the start
        assert inside(box_of(chart), viewport), chart.bounding_box()
        assert inside(box_of(latest), viewport), latest.bounding_box()
        meter = progress.get_by_text(re.compile(r"What the model writes so far · Step [\d,]+ · \d+% copied"))
        assert inside(box_of(meter), viewport), meter.bounding_box()
        chart.hover()  # the toolbars show while the pointer is over the chart
        page.wait_for_timeout(500)
        legend = box_of(chart.locator(".legend").first)  # the chart may be drawn anew by a rerun
        assert legend and inside(legend, viewport)
        for toolbar in (chart.locator(".modebar").first, page.locator('[data-testid="stElementToolbar"]').first):
            if toolbar.count() and toolbar.is_visible():
                assert not overlap(toolbar.bounding_box(), legend), (toolbar.bounding_box(), legend)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "train-1280x720.png"))
        page.get_by_role("button", name="Stop training").click()
        page.get_by_text("Training stopped").or_(page.get_by_text("Training completed")).first.wait_for(
            timeout=90_000)
    finally:
        context.close()


def boxes(page, selector: str) -> list[dict]:
    """Bounding boxes {x, y, width, height, text} of the elements a CSS selector finds."""
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)].map(e => {
        const r = e.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height, text: e.textContent};
    }).filter(b => b.width > 0 && b.height > 0)""", selector)


def overlap(a: dict | None, b: dict | None, slack: float = 0.5) -> bool:
    """Whether two bounding boxes (None: not on screen) share more than ``slack`` pixels."""
    return bool(a and b) and (a["x"] + slack < b["x"] + b["width"] and b["x"] + slack < a["x"] + a["width"]
                              and a["y"] + slack < b["y"] + b["height"] and b["y"] + slack < a["y"] + a["height"])


def overlapping_labels(page, chart: str) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis of a chart that touch each other."""
    found = []
    for axis in ("xtick", "ytick"):
        labels = boxes(page, f"{chart} .{axis} text")
        found += [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:] if overlap(a, b)]
    return found


def test_chinese_labels_and_legends_stay_readable_at_1280x720(page, app_url, browser_home):
    """On a projector's 1280x720: the character-frequency chart of the Chinese sample labels
    every bar without overlap, and a chart's toolbar never covers its legend."""
    run_dir = browser_home / "runs" / "legend-check"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"preset": "quick", "arch": "gru", "tokenizer": "char",
                                                     "corpus": {"name": "builtin:sample-zh"}}))
    (run_dir / "status.json").write_text(json.dumps({"state": "completed", "best_val_loss": 3.0,
                                                     "started_at": time.time() - 60, "updated_at": time.time()}))
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "time": s / 10, "train_loss": 5 - s / 90, "val_loss": 5.2 - s / 100}) + "\n"
        for s in range(10, 310, 10)))
    context, page = own_session(page, {"width": 1280, "height": 720})
    chars = '.st-key-char_freq'
    try:
        page.goto(f"{app_url}/corpus?lang=zh")
        page.get_by_role("heading", name="语料", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("tab", name="内置语料").click()
        page.locator('[data-testid="stRadio"]').get_by_text("山村中文文集：", exact=False).click()
        wait_idle(page)
        page.get_by_role("button", name="使用这份语料").click()
        page.get_by_role("heading", name="内置语料“山村中文文集”").first.wait_for()
        wait_idle(page)
        page.locator(f"{chars} .js-plotly-plot").wait_for()
        page.locator(f"{chars} .js-plotly-plot").scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        labels = [b["text"] for b in boxes(page, f"{chars} .ytick text")]
        assert len(labels) == 40 and "的" in labels  # one label per bar, every character shown
        assert overlapping_labels(page, chars) == []
        screenshot(page, "corpus-zh-characters")

        page.goto(f"{app_url}/runs?lang=zh")
        page.get_by_role("heading", name="运行记录", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page)
        chart = page.locator('.st-key-compare_chart .js-plotly-plot')
        chart.scroll_into_view_if_needed()
        chart.hover()  # the toolbar shows while the pointer is on the chart
        page.locator(".st-key-compare_chart .modebar").wait_for()
        page.wait_for_timeout(500)
        (toolbar,) = boxes(page, ".st-key-compare_chart .modebar")
        (legend,) = boxes(page, ".st-key-compare_chart .legend")
        (figure,) = boxes(page, ".st-key-compare_chart .js-plotly-plot")
        assert not overlap(toolbar, legend)
        assert figure["y"] <= legend["y"] and legend["y"] + legend["height"] <= figure["y"] + figure["height"] + 1
        ticks_and_titles = boxes(page, ".st-key-compare_chart .xtick text") + boxes(
            page, ".st-key-compare_chart .g-xtitle text")
        assert [b["text"] for b in ticks_and_titles if overlap(b, legend)] == []
        assert overlapping_labels(page, ".st-key-compare_chart") == []
    finally:
        context.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def coloured_characters(page) -> int:
    """Spans of text coloured by a value on the Inside page (textgen.highlight's boxes)."""
    return page.locator('.textgen-highlight span[style*="background-color"]').count()


def heatmaps(page) -> int:
    """Heatmap traces in the Inside page's attention grid (0 while it is not drawn)."""
    return page.evaluate("""() => {
        const g = document.querySelector('.st-key-inside_attention_chart .js-plotly-plot');
        return g && g.data ? g.data.filter(trace => trace.type === 'heatmap').length : 0;
    }""")


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    wait_idle(page)


def test_inside_opens_a_run_from_its_link_and_draws_attention_and_coloured_text(page, app_url, browser_home,
                                                                                tiny_runs):
    """/inside?run=NAME opens that run: a Transformer's attention as one heatmap per layer and
    head, a GRU's units and surprise and an LSTM's units and saliency as coloured text; the
    link keeps naming the run."""
    runs_dir = browser_home / "runs"
    for arch in ("transformer", "gru", "lstm"):
        shutil.copytree(tiny_runs[arch], runs_dir / f"inside-{arch}")
    config = json.loads((tiny_runs["transformer"] / "config.json").read_text())
    context, page = own_session(page, {"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/inside?run=inside-transformer")
        page.get_by_role("heading", name="Inside", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page, 120)
        open_tab(page, "Attention")
        page.locator(".st-key-inside_attention_chart .js-plotly-plot").wait_for(timeout=60_000)
        wait_for(lambda: heatmaps(page) == config["layers"] * config["heads"], 30, "every layer x head", page)
        # What the chosen position reads, coloured over the text.
        wait_for(lambda: coloured_characters(page) > 0, 60, "coloured text", page)
        page.get_by_text("What each layer would predict next").wait_for()
        assert "run=inside-transformer" in page.url
        screenshot(page, "inside")

        page.goto(f"{app_url}/inside?run=inside-gru")
        page.get_by_role("heading", name="Inside", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page, 120)
        page.get_by_text("Find the units for this pattern").wait_for()  # Neurons, the first tab
        wait_for(lambda: coloured_characters(page) > 0, 60, "coloured text", page)
        open_tab(page, "Attention")
        page.get_by_text("This view is for Transformer models").wait_for()
        open_tab(page, "Surprise")
        page.get_by_text("The hardest places").wait_for()
        wait_for(lambda: coloured_characters(page) > 0, 60, "coloured text", page)
        assert "run=inside-gru" in page.url

        page.goto(f"{app_url}/inside?run=inside-lstm")
        page.get_by_role("heading", name="Inside", exact=True).first.wait_for(timeout=60_000)
        wait_idle(page, 120)
        open_tab(page, "Neurons")
        page.get_by_text("Find the units for this pattern").wait_for()
        wait_for(lambda: coloured_characters(page) > 0, 60, "coloured text", page)
        open_tab(page, "Why this character?")
        wait_for(lambda: coloured_characters(page) > 0, 60, "coloured text", page)
        assert "run=inside-lstm" in page.url
    finally:
        context.close()
        for arch in ("transformer", "gru", "lstm"):
            shutil.rmtree(runs_dir / f"inside-{arch}", ignore_errors=True)
