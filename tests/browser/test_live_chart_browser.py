"""Browser test: the Train page's live loss chart at its own size (LIVE_CHART_HEIGHT, in the
progress column of a 1280x720 screen) keeps a plot tall enough to read, with the reference
lines, notes and live controls on it, and no label covering another."""

from __future__ import annotations

import json

import pytest

from pages._train_progress import LIVE_CHART_HEIGHT, LIVE_CHART_TOP
from tests.browser.test_app_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.browser.test_report_browser import TEXT_BOXES, overlapping
from tests.test_app_charts import LIVE_REFS, busy_records
from textgen import charts, doctor
from textgen.i18n import translate

pytestmark = pytest.mark.browser

# Train's progress column at 1280 pixels is about this wide; the plot keeps at least
# MIN_PLOT_PX of LIVE_CHART_HEIGHT (the rest: toolbar room, axis and the legend's one row).
COLUMN_PX = 600
MIN_PLOT_PX = 120


def live_figure(language: str):
    note = doctor.make_note(300, "plateau", doctor.MESSAGES["plateau"], since=50, before=2.5, now=2.5)
    fig = charts.loss_figure(busy_records(), best={"step": 900, "val_loss": 2.2}, references=LIVE_REFS,
                             notes=[note], translate=lambda text, **p: translate(text, language, **p))
    fig.update_layout(height=LIVE_CHART_HEIGHT, margin_t=LIVE_CHART_TOP, width=COLUMN_PX)
    fig.update_yaxes(title_text="nats/char")  # as Train draws it (pages/_train_progress.live_panel)
    return fig


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_live_chart_keeps_a_readable_plot_and_its_labels_apart(tmp_path, language):
    require_chromium()
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "chart.html"
    page_file.write_text(live_figure(language).to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(page_file.as_uri())
        page.locator(".js-plotly-plot .legendtext").first.wait_for()
        plot = page.evaluate("() => document.querySelector('.js-plotly-plot .nsewdrag').getBoundingClientRect().height")
        legend = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]"
                               ".map(t => t.textContent)")
        boxes = page.evaluate(TEXT_BOXES)
        page.screenshot(path=str(tmp_path / "chart.png"))
        browser.close()
    assert len(legend) == 3, legend  # training, held-out, best checkpoint
    assert len({round(b["top"]) for b in boxes if b["text"] in legend}) == 1, boxes  # in one row
    assert plot >= MIN_PLOT_PX, plot
    labels = [b for b in boxes  # the marks' and lines' labels; tick labels are Plotly's own
              if b["text"] not in legend and not b["text"].replace(".", "").replace("−", "").isdigit()]
    assert overlapping(labels) == [], json.dumps(labels, ensure_ascii=False)
