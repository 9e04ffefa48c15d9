"""The shareable HTML report (textgen.report) and the run ranking (textgen.comparison)."""

import json
import re

import pytest

from textgen import comparison, files, report, runs
from textgen.errors import TextgenError


@pytest.fixture
def run_dir(tmp_path):
    """A finished run folder with curves and samples (no model needed for a report)."""
    path = tmp_path / "runs" / "gru-lighthouse-1"
    path.mkdir(parents=True)
    files.atomic_write_json(path / "config.json", {
        "preset": "quick", "arch": "gru", "tokenizer": "char", "layers": 2, "units": 128,
        "embedding_dim": 64, "seq_len": 64, "batch_size": 32, "dropout": 0.1, "learning_rate": 0.002,
        "val_fraction": 0.1, "seed": 1, "vocab_size": 65, "parameters": 123456,
        "corpus": {"name": "tales <of> the sea.txt", "chars": 1115394, "encoding": "UTF-8",
                   "sha256": "ab" * 32, "sources": ["/somewhere/tales.txt"]},
    })
    runs.write_status(path, state="completed", started_at=1_700_000_000.0, step=300,
                      best_val_loss=1.5, message="Finished: the time budget was spent.")
    for step in range(0, 301, 50):
        files.append_jsonl(path / "metrics.jsonl", {"step": step, "time": step / 10,
                                                    "train_loss": 3 - step / 200, "val_loss": 3.1 - step / 200})
    files.append_jsonl(path / "samples.jsonl", {"step": 100, "text": "First words & <i>tries</i>"})
    files.append_jsonl(path / "samples.jsonl", {"step": 300, "text": "Later, better words."})
    return path


def test_the_report_holds_the_run_its_settings_and_score(run_dir):
    page = report.build_report(run_dir)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<h1>gru-lighthouse-1</h1>" in page
    for expected in ("Architecture", "gru", "Units per layer", "128", "Learning rate", "0.002",
                     "1,115,394", "UTF-8", "123,456", "completed"):
        assert expected in page, expected
    assert "tales &lt;of&gt; the sea.txt" in page
    assert f"{1.5 / 0.6931471805599453:.3f} bits per character" in page
    assert "First words &amp; &lt;i&gt;tries&lt;/i&gt;" in page and "At step 300" in page
    assert "/somewhere/tales.txt" not in page  # local paths stay private


def test_the_chart_works_offline(run_dir):
    page = report.build_report(run_dir)
    assert "Plotly.newPlot" in page
    assert "plotly.js" in page  # the library itself is inline
    assert len(page) > 1_000_000
    scripts = re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)
    assert scripts and not any("src" in tag.lower() for tag in scripts)
    assert not re.search(r"<script[^>]*src=[\"']?(https?:)?//", page, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*href=[\"']?https?:", page, flags=re.IGNORECASE)


def test_a_fine_tune_report_draws_its_base_curve_first(run_dir, tmp_path):
    tuned = tmp_path / "runs" / "tuned"
    tuned.mkdir()
    config = json.loads((run_dir / "config.json").read_text())
    files.atomic_write_json(tuned / "config.json", {**config, "init_from": str(run_dir)})
    runs.write_status(tuned, state="completed", step=40, best_val_loss=1.2)
    for step in (0, 20, 40):
        files.append_jsonl(tuned / "metrics.jsonl", {"step": step, "train_loss": 1.4, "val_loss": 1.3})
    page = report.build_report(tuned)
    assert "base model: held-out" in page and "base model: training" in page
    assert "base model" not in report.build_report(run_dir)


def test_user_text_is_escaped(run_dir):
    extra = [{"label": "Prompt <script>alert(1)</script>", "text": "<script>alert('x')</script> & more"},
             "plain <img src=x onerror=alert(2)>"]
    page = report.build_report(run_dir, extra_samples=extra)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "Texts written with this model" in page and "Sample 2" in page


def test_a_run_without_curves_or_samples_still_reports(tmp_path):
    path = tmp_path / "bare-run"
    path.mkdir()
    files.atomic_write_json(path / "config.json", {"arch": "lstm"})
    page = report.build_report(path)
    assert "No learning curve was recorded" in page and "No samples were recorded" in page
    assert "No held-out score was recorded" in page
    with pytest.raises(TextgenError):
        report.build_report(tmp_path / "missing")


def test_session_samples_come_from_this_run_only():
    generated = {"prompt": "The ", "texts": ["sea", "sky"], "path": "/runs/a"}
    compared = {"prompt": "", "texts": {0.2: "x", 1.3: "y"}, "seed": 4, "path": "/runs/a"}
    found = report.session_samples("/runs/a", generated, compared)
    assert [s["text"] for s in found] == ["The sea", "The sky", "x", "y"]
    assert found[0]["label"] == "Generated (sample 1 of 2)" and found[2]["label"] == "Temperature 0.2, seed 4"
    assert report.session_samples("/runs/b", generated, compared) == []
    assert report.session_samples("/runs/a", None, None) == []


def test_runs_rank_by_held_out_bits_per_character():
    summaries = [
        {"name": "b", "best_val_bpc": 2.0, "corpus": "x", "arch": "gru"},
        {"name": "none", "best_val_bpc": None, "corpus": "x"},
        {"name": "a", "best_val_bpc": 1.5, "corpus": "x", "arch": "transformer", "duration_s": 75},
        {"name": "c", "best_val_bpc": float("nan"), "corpus": "x"},
    ]
    rows = comparison.comparison_rows(summaries)
    assert [r["Run"] for r in rows] == ["a", "b", "none", "c"]
    assert [r["Rank"] for r in rows] == [1, 2, None, None]
    assert rows[1]["Behind the best"] == pytest.approx(0.5)
    assert rows[0]["Architecture"] == "Transformer" and rows[0]["Duration"] == "1 min 15 s"
    assert not comparison.mixed_corpora(summaries)
    assert comparison.mixed_corpora(summaries + [{"name": "d", "best_val_bpc": 1.0, "corpus": "y"}])
    assert comparison.comparison_rows([]) == []


def test_the_report_follows_the_interface_language(run_dir):
    page = report.build_report(run_dir, ["一段文字"], language="zh")
    assert '<html lang="zh">' in page
    for expected in ("最佳留出集得分", "语料", "设置", "学习曲线", "训练期间生成的文本", "样本 1",
                     f"每字符 {1.5 / 0.6931471805599453:.3f} 比特", "模型结构", "第 300 步"):
        assert expected in page, expected
    assert "Best held-out score" not in page and "Learning curves" not in page
    assert "tales &lt;of&gt; the sea.txt" in page  # the user's own text is never translated
    labels = [s["label"] for s in report.session_samples(
        "/runs/a", {"prompt": "", "texts": ["x", "y"], "path": "/runs/a"}, None, language="zh")]
    assert labels == ["生成的文本（第 1 个，共 2 个）", "生成的文本（第 2 个，共 2 个）"]
