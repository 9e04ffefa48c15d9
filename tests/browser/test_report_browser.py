"""Browser test: the HTML report's learning-curve chart in Chromium, at the widths people
open it at, with no label covering another."""

from __future__ import annotations

import json

import pytest

from tests.browser.test_app_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from textgen import files, report, runs

pytestmark = pytest.mark.browser

# Every text of the chart's SVG that is drawn: tick labels, axis titles, legend entries.
TEXT_BOXES = """() => [...document.querySelectorAll('.js-plotly-plot svg text')]
    .filter(t => t.textContent.trim() && t.getClientRects().length
                 && getComputedStyle(t).visibility !== 'hidden' && getComputedStyle(t).opacity !== '0')
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })
    .filter(b => b.right > b.left && b.bottom > b.top)"""


def overlapping(boxes: list[dict], slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of text boxes that cover each other by more than ``slack`` pixels each way."""
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a["right"], b["right"]) - max(a["left"], b["left"]) > slack
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > slack]


def outside(boxes: list[dict], area: dict, slack: float = 0.5) -> list[str]:
    """Texts drawn (partly) outside ``area``, where the page would clip or hide them."""
    return [b["text"] for b in boxes if b["left"] < area["left"] - slack or b["right"] > area["right"] + slack
            or b["top"] < area["top"] - slack or b["bottom"] > area["bottom"] + slack]


def test_the_overlap_check_finds_labels_that_cover_each_other():
    a = {"text": "a", "left": 0, "right": 10, "top": 0, "bottom": 10}
    assert overlapping([a, dict(a, text="b", left=5, right=15)]) == [("a", "b")]
    assert overlapping([a, dict(a, text="c", left=10, right=20)]) == []
    assert outside([a, dict(a, text="d", right=30)], dict(a, right=20)) == ["d"]


@pytest.fixture(scope="module")
def fine_tune_reports(tmp_path_factory):
    """A fine-tune of a base run, its report written in English and in Chinese."""
    home = tmp_path_factory.mktemp("report")
    config = {"preset": "quick", "arch": "gru", "tokenizer": "char", "layers": 2, "units": 128,
              "vocab_size": 65, "val_fraction": 0.1, "corpus": {"name": "notes.txt", "chars": 12_000}}
    base, tuned = home / "runs" / "base-model", home / "runs" / "team-notes"
    for run_dir, steps, start in ((base, range(0, 30_001, 500), 4.2), (tuned, range(0, 1_201, 40), 1.9)):
        run_dir.mkdir(parents=True)
        files.atomic_write_json(run_dir / "config.json",
                                dict(config, init_from=str(base) if run_dir == tuned else None))
        runs.write_status(run_dir, state="completed", step=steps[-1], best_val_loss=1.3)
        for step in steps:
            files.append_jsonl(run_dir / "metrics.jsonl", {
                "step": step, "time": step / 20, "train_loss": start - step / (steps[-1] * 1.5),
                "val_loss": start + 0.1 - step / (steps[-1] * 1.6)})
    runs.set_title(tuned, "Team notes")
    pages = {}
    for language in ("en", "zh"):
        pages[language] = home / f"report-{language}.html"
        pages[language].write_text(report.build_report(tuned, language=language), encoding="utf-8")
    return pages


@pytest.mark.parametrize("language,width", [("en", 1024), ("en", 1440), ("zh", 1024), ("zh", 1440)])
def test_the_report_chart_labels_never_overlap(fine_tune_reports, language, width):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(fine_tune_reports[language].as_uri())
        page.locator(".js-plotly-plot .legendtext").first.wait_for()
        page.wait_for_timeout(500)  # the responsive chart settles to the page's width
        boxes = page.evaluate(TEXT_BOXES)
        legend = page.evaluate("() => document.querySelectorAll('.js-plotly-plot .legendtext').length")
        chart = page.evaluate("""() => { const r = document.querySelector('.js-plotly-plot .main-svg')
            .getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }""")
        browser.close()
    texts = [b["text"] for b in boxes]
    assert legend == 5 and len(boxes) > 10, texts  # base training and held-out, training, held-out, best
    assert chart["right"] - chart["left"] > 0.8 * min(width, 960) - 100, chart
    assert outside(boxes, chart) == [], json.dumps(boxes, ensure_ascii=False)  # legend included
    assert overlapping(boxes) == [], json.dumps(boxes, ensure_ascii=False)
