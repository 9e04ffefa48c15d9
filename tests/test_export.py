"""A run exported as one web page: what the page holds, its size, and what the export refuses.

The page itself, run in Chromium against the Python model, is tests/browser/test_export_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import APP_ROOT
from textgen import export, files, load_run, runs
from textgen.errors import TextgenError

SHIPPED_BASE = APP_ROOT / "assets" / "base-model"


def cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    return subprocess.run([sys.executable, "-m", "textgen", *map(str, args)], cwd=APP_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def embedded(page: str, element_id: str) -> str:
    return re.search(f'<script [^>]*id="{element_id}">(.*?)</script>', page, re.S).group(1)


def test_export_writes_one_page_that_holds_the_model_the_runtime_and_the_run(tiny_runs, tmp_path):
    out = tmp_path / "gru.html"
    done = cli("export", tiny_runs["gru"], "--format", "html", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "Wrote" in done.stdout and "no server needed" in done.stdout
    page = out.read_text(encoding="utf-8")
    assert "default-src 'none'" in page  # the browser refuses every request the page could make
    assert not re.search(r'<(?:script|link|img|iframe)[^>]+(?:src|href)=', page)  # nothing loaded from elsewhere
    assert '<label for="prompt">Prompt</label>' in page
    for label in ("Temperature", "Top-k", "Top-p", "Length", "Seed"):
        assert f">{label} <span" in page, label
    assert '<button id="generate" type="button" disabled>Generate</button>' in page
    assert tiny_runs["gru"].name in page and "Sequence length" in page and "js-plotly-plot" in page
    assert "tensorflow" in page.lower() and "Apache License" in page  # the runtime, with its licence
    spec = json.loads(embedded(page, "textgen-model"))
    assert spec["arch"] == "gru" and spec["tokenizer"]["kind"] == "char" and spec["start_id"] >= 0
    assert str(tiny_runs["gru"].parent) not in page  # no folder of this machine


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_every_weight_of_the_model_is_exported_once(tiny_runs, arch):
    run = load_run(tiny_runs[arch])
    spec, weights = export.model_spec(run)
    placed = sorted((offset, int(np.prod(shape))) for offset, shape in spec["tensors"].values())
    assert sum(size for _, size in placed) == run.model.count_params() == len(weights) // 4
    ends = [offset + size for offset, size in placed]
    assert [offset for offset, _ in placed] == [0] + ends[:-1]  # one after another, none overlapping


def test_the_shipped_base_model_exports_in_under_20_mb(tmp_path):
    base = tmp_path / "base-model"
    shutil.copytree(SHIPPED_BASE, base)  # the export may leave references.json in the run folder
    size = export.export_html(load_run(base), tmp_path / "base.html")
    assert size == (tmp_path / "base.html").stat().st_size <= 20_000_000


def test_a_run_with_no_saved_model_is_refused_and_nothing_is_written(tmp_path):
    run_dir = tmp_path / "runs" / "early"
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"arch": "gru"})
    runs.write_status(run_dir, state="running", step=3)
    out = tmp_path / "early.html"
    out.write_text("an earlier page", encoding="utf-8")
    done = cli("export", run_dir, "--out", out)
    assert done.returncode == 2 and done.stderr.startswith("error: The run early has no saved model yet")
    assert "Traceback" not in done.stderr
    assert out.read_text(encoding="utf-8") == "an earlier page" and sorted(os.listdir(tmp_path)) == ["early.html", "runs"]


@pytest.mark.parametrize("out, said", [
    ("{tmp}/missing/page.html", "There is no folder {tmp}/missing to write page.html in."),
    ("{tmp}", "{tmp} is a folder. Give the name of the file to write"),
    ("/proc/textgen-page.html", "/proc/textgen-page.html cannot be written ("),  # no file can be made there
])
def test_a_destination_that_cannot_be_written_gets_a_sentence(tiny_runs, tmp_path, out, said):
    done = cli("export", tiny_runs["gru"], "--out", out.format(tmp=tmp_path))
    assert done.returncode == 2 and said.format(tmp=tmp_path) in done.stderr and "Traceback" not in done.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, said", [
    (["--format", "pdf", "--out", "x.pdf"], "invalid choice: 'pdf'"),
    (["--out", "x.html", "--language", "fr"], "invalid choice: 'fr'"),
    ([], "the following arguments are required: --out"),
])
def test_bad_usage_gets_exit_2(tiny_runs, args, said):
    done = cli("export", tiny_runs["gru"], *args)
    assert done.returncode == 2 and said in done.stderr


def test_folders_that_hold_no_run_are_refused(tmp_path):
    done = cli("export", tmp_path, "--out", tmp_path / "x.html")
    assert done.returncode == 2 and "is not a run folder" in done.stderr


def test_without_the_runtime_the_export_says_how_to_install_it(tiny_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "RUNTIME_WASM", tmp_path / "missing.wasm")
    with pytest.raises(TextgenError, match="Run make web-runtime in the project folder"):
        export.export_html(load_run(tiny_runs["gru"]), tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


def test_the_page_is_written_in_the_language_chosen(tiny_runs, tmp_path):
    page = export.build_page(load_run(tiny_runs["lstm"]), "zh")
    assert '<html lang="zh">' in page and ">生成</button>" in page and "关于这个模型" in page
    assert json.loads(embedded(page, "textgen-text"))["ready"].startswith("准备好了")
    with pytest.raises(TextgenError, match="Unknown language fr"):
        export.build_page(load_run(tiny_runs["lstm"]), "fr")


def test_a_page_exported_while_the_run_trains_says_so(tiny_runs, tmp_path):
    run_dir = tmp_path / "training"
    shutil.copytree(tiny_runs["gru"], run_dir)
    runs.write_status(run_dir, state="running", step=1234, pid=os.getpid())
    page = export.build_page(load_run(run_dir))
    assert "Exported while it was still training, at step 1,234" in page
    runs.write_status(run_dir, state="completed", step=1234)
    assert "still training" not in export.build_page(load_run(run_dir))


def test_text_in_the_page_cannot_end_its_script(tiny_runs, tmp_path):
    run_dir = tmp_path / "odd"
    shutil.copytree(tiny_runs["gru"], run_dir)
    runs.set_title(run_dir, "</script><script>alert(1)</script>")
    page = export.build_page(load_run(run_dir))
    assert "<script>alert(1)" not in page and "&lt;/script&gt;" in page


# --- the pages --------------------------------------------------------------------------


def test_runs_and_generate_offer_the_model_as_a_web_page(open_page, app_home_with_run):
    at = open_page("runs")
    (web,) = [b for b in at.download_button if b.label == "Download as web page"]
    assert not web.disabled and "offline" in web.help
    at = open_page("generate")
    (web,) = [b for b in at.download_button if b.label == "Download as web page"]
    assert not web.disabled


def test_without_the_runtime_the_button_says_what_to_install(open_page, app_home_with_run, monkeypatch, tmp_path):
    monkeypatch.setattr(export, "RUNTIME_WASM", tmp_path / "missing.wasm")
    at = open_page("runs")
    (web,) = [b for b in at.download_button if b.label == "Download as web page"]
    assert web.disabled and "make web-runtime" in web.help
