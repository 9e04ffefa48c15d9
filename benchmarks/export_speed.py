"""The exported web page in Chromium: its size, how soon it is ready, how fast it writes.

    python benchmarks/export_speed.py [RUN_DIR]

Exports RUN_DIR (default: the shipped base model, copied first so that nothing is written
into assets/) and opens the page from disk in headless Chromium with every request but the
file itself refused, OPENS times: the time from opening the file until the model is ready
to write (the runtime started, the weights read), and until the learning-curve chart, drawn
after it, is on the page. Then it writes LENGTH
tokens at temperature 0.8 (after a warm-up) and reports characters a second. Goals: at most
20 MB, ready in under 3 s, at least 200 characters a second.
"""

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

OPENS = 5
LENGTH = 2000


def main() -> None:
    from playwright.sync_api import sync_playwright

    import textgen
    from tests.browser.test_app_browser import CHROMIUM, CHROMIUM_ARGS
    from textgen import export

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "base-model"
    work = Path(tempfile.mkdtemp())
    run_dir = work / source.name
    shutil.copytree(source, run_dir)
    page_path = work / "page.html"
    began = time.perf_counter()
    size = export.export_html(textgen.load_run(run_dir), page_path)
    print(f"{machine()}\nexported {source.name} in {time.perf_counter() - began:.1f} s: {size / 1e6:.1f} MB")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ready_s, loaded_s, backend, rate = [], [], None, None
        for i in range(OPENS):
            context = browser.new_context()
            context.route("**/*", lambda route: route.continue_() if route.request.url == page_path.as_uri()
                          else route.abort())
            page = context.new_page()
            began = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="commit")
            page.wait_for_function("() => window.textgen !== undefined", polling=20)
            backend = page.evaluate("() => window.textgen.ready")
            ready_s.append(time.perf_counter() - began)
            page.locator(".js-plotly-plot .legendtext").first.wait_for()
            loaded_s.append(time.perf_counter() - began)
            if i == OPENS - 1:
                page.evaluate("() => window.textgen.generate('', {temperature: 0.8, length: 200, seed: 0})")
                began = time.perf_counter()
                text = page.evaluate(f"() => window.textgen.generate('', {{temperature: 0.8, length: {LENGTH}, seed: 1}})")
                rate = len(text) / (time.perf_counter() - began)
            context.close()
        browser.close()
    print(f"model ready to write after opening ({backend}): median {statistics.median(ready_s):.2f} s, "
          f"slowest {max(ready_s):.2f} s over {OPENS} opens")
    print(f"learning-curve chart drawn (after the model): median {statistics.median(loaded_s):.2f} s, "
          f"slowest {max(loaded_s):.2f} s")
    print(f"writes {rate:.0f} characters a second ({LENGTH} tokens at temperature 0.8)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
