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


def test_a_score_read_on_the_start_of_a_long_held_out_part_says_so(run_dir):
    assert "Scored on the first" not in report.build_report(run_dir)  # no record: nothing to say
    config = files.read_json(run_dir / "config.json", {})
    files.atomic_write_json(run_dir / "config.json", {**config, "eval_max_chars": 50_000,
                                                      "held_out": {"chars": 111_540}})
    assert ("Scored on the first 50,000 of its 111,540 held-out characters, which keeps scoring quick; "
            "python -m textgen evaluate scores all of them") in report.build_report(run_dir)
    assert "只在留出文本的 111,540 个字符中的前 50,000 个上评分" in report.build_report(run_dir, language="zh")


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


# --- the report worth sending: title, summary, labelled samples, folded details, no paths ---


def fine_tune_of(run_dir, tmp_path, name="tuned", **config_changes):
    """A fine-tune of the run at ``run_dir`` (its config's init_from is that run's folder)."""
    tuned = tmp_path / "runs" / name
    tuned.mkdir()
    config = json.loads((run_dir / "config.json").read_text())
    files.atomic_write_json(tuned / "config.json", {**config, "init_from": str(run_dir), **config_changes})
    runs.write_status(tuned, state="completed", step=40, best_val_loss=1.2)
    for step in (0, 20, 40):
        files.append_jsonl(tuned / "metrics.jsonl", {"step": step, "train_loss": 1.4 - step / 400,
                                                     "val_loss": 1.3 - step / 400})
    return tuned


def test_the_title_comes_first_and_the_run_name_stays_findable(run_dir):
    runs.set_title(run_dir, "Lighthouse <stories>")
    page = report.build_report(run_dir)
    assert "<h1>Lighthouse &lt;stories&gt;</h1>" in page
    assert "<title>Lighthouse &lt;stories&gt;: TextGen Studio report</title>" in page
    assert "Run gru-lighthouse-1." in page
    assert page.index("<h1>") < page.index("Summary") < page.index("At step 300") < page.index("Plotly.newPlot")


def test_the_summary_says_what_the_model_learnt_and_how_good_it_is_against_its_own_blind_guess(run_dir):
    page = report.build_report(run_dir)
    bpc = 1.5 / 0.6931471805599453
    assert ("What it learnt: tales &lt;of&gt; the sea.txt, 1,115,394 characters of text. It is a recurrent "
            "network (GRU) of 2 layers of 128 units with 123,456 parameters, and it writes one character "
            "at a time.") in page
    assert (f"How good it is: it writes recognisable words and phrases, with slips. On the last 10% of "
            f"the text, which it never trained on, it needs {bpc:.2f} bits per character (lower is better). "
            f"Guessing blindly among its 65 characters would need 6.02.") in page
    assert "would score 6" not in page and "64 characters" not in page
    config = json.loads((run_dir / "config.json").read_text())
    files.atomic_write_json(run_dir / "config.json", dict(config, vocab_size=401))
    assert "Guessing blindly among its 401 characters would need 8.65." in report.build_report(run_dir)


def test_the_words_scale_follows_the_documented_thresholds():
    assert report.verdict(4.5) == "its writing is still mostly noise"
    assert report.verdict(3.0).startswith("it has learnt common letter patterns")
    assert report.verdict(2.1) == "it writes recognisable words and phrases, with slips"
    assert report.verdict(1.5) == "it writes fluent text in the manner of its corpus"
    # a Chinese text: 45 s from scratch scored 7.63, the English base fine-tuned 8.22
    assert report.text_scale("春天来了，山里的花都开了。" * 20) == "cjk"
    assert report.text_scale("The keeper watched the lamp.") == "alphabetic"
    assert report.verdict(7.63, "cjk").startswith("it has learnt the commonest characters")
    assert report.verdict(9.7, "cjk") == "its writing is still mostly noise"
    assert report.uniform_bits(65) == pytest.approx(6.0224, abs=1e-4) and report.uniform_bits(1) is None


def test_the_summary_says_how_much_of_the_samples_is_copied_from_the_training_text(tmp_path):
    corpus = tmp_path / "story.txt"
    story = " ".join(f"The keeper number {i} walked to the lamp and sang about the grey sea."
                     for i in range(200))
    corpus.write_text(story, encoding="utf-8")
    run_dir = tmp_path / "runs" / "copier"
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {
        "arch": "gru", "tokenizer": "char", "layers": 1, "units": 32, "vocab_size": 40, "val_fraction": 0.1,
        "corpus": {"name": "story.txt", "chars": len(story), "sources": [str(corpus)]}})
    runs.write_status(run_dir, state="completed", step=20, best_val_loss=1.0)
    files.append_jsonl(run_dir / "samples.jsonl", {"step": 10, "text": story[100:400]})
    files.append_jsonl(run_dir / "samples.jsonl", {"step": 20, "text": "qzx vvk plomb wrrt " * 10})
    page = report.build_report(run_dir)
    assert "samples are mostly copied" in page and "1 of 2 samples are mostly copied" in page
    assert "Copied from the training text: 100% of its 12-character pieces" in page  # under the copy
    assert "Copied from the training text: 0% of its 12-character pieces" in page  # under the other
    # The summary's figure is the samples' own measure over both: copied pieces of all pieces.
    copy_pieces, other_pieces = 300 - 12 + 1, len("qzx vvk plomb wrrt " * 10) - 12 + 1
    share = copy_pieces / (copy_pieces + other_pieces)
    assert f"How much is copied: {share:.0%} of the 12-character pieces of the samples below occur verbatim" in page
    assert page.count("Mostly copied: 100% of this text lies in passages") == 1
    assert "So much of its fluency is memory" in page  # half the samples are mostly copied
    assert str(tmp_path) not in page
    (run_dir / "samples.jsonl").write_text("")
    files.append_jsonl(run_dir / "samples.jsonl", {"step": 10, "text": story[100:400]})
    for step in (20, 30):
        files.append_jsonl(run_dir / "samples.jsonl", {"step": step, "text": "qzx vvk plomb wrrt " * 10})
    assert "So much of its fluency is memory" not in report.build_report(run_dir)  # one of three


def test_copying_is_unknown_when_the_training_text_cannot_be_read(run_dir):
    page = report.build_report(run_dir)
    assert ("How much is copied: unknown. The training text of this run is no longer available, so "
            "copying cannot be checked.") in page


def test_every_sample_is_labelled_with_its_temperature_and_seed(run_dir):
    files.append_jsonl(run_dir / "samples.jsonl", {"step": 320, "text": "Cooler words.", "temperature": 0.5,
                                                   "seed": 9})
    files.append_jsonl(run_dir / "samples.jsonl", {"step": 300, "text": "The kept one.", "temperature": 0.8,
                                                   "seed": 42, "kept": True})
    page = report.build_report(run_dir, [{"label": "Generated", "text": "x"}])
    # records without the fields were written as training always has: 0.8, seeded with the step
    assert "At step 300 (temperature 0.8, seed 300)" in page and "At step 100 (temperature 0.8, seed 100)" in page
    assert "At step 320 (temperature 0.5, seed 9)" in page
    assert "The kept model, from step 300 (temperature 0.8, seed 42)" in page
    assert page.index("Written by the kept model") < page.index("Texts written with this model") \
        < page.index("Text sampled during training")
    zh = report.build_report(run_dir, language="zh")
    assert "第 300 步（温度 0.8，种子 300）" in zh and "保留的模型，来自第 300 步（温度 0.8，种子 42）" in zh


def test_session_samples_are_labelled_with_the_settings_that_wrote_them():
    generated = {"prompt": "The ", "texts": ["sea", "sky"], "path": "/runs/a",
                 "settings": {"temperature": 0.7, "top_k": 40, "top_p": 1.0, "seed": 5, "length": 3}}
    labels = [s["label"] for s in report.session_samples("/runs/a", generated)]
    assert labels == ["Generated, sample 1 of 2 (temperature 0.7, top-k 40, seed 5)",
                      "Generated, sample 2 of 2 (temperature 0.7, top-k 40, seed 5)"]
    unseeded = dict(generated, texts=["sea"],
                    settings={"temperature": 1.0, "top_k": 0, "top_p": 0.9, "seed": None})
    assert [s["label"] for s in report.session_samples("/runs/a", unseeded)] == [
        "Generated (temperature 1, top-p 0.9, random seed)"]
    assert [s["label"] for s in report.session_samples("/runs/a", unseeded, language="zh")] == [
        "生成的文本（温度 1，Top-p 0.9，随机种子）"]


def test_the_technical_details_are_folded_at_the_end(run_dir):
    page = report.build_report(run_dir)
    details = page.index("<details><summary>Technical details</summary>")
    assert page.index("Plotly.newPlot") < details
    for technical in ("ab" * 32, "Fingerprint (SHA-256)", "Vocabulary size", "Units per layer", "All settings"):
        assert page.index(technical) > details, technical
    assert page.rstrip().endswith("</details>\n</body></html>")


def test_the_report_shows_no_folder_of_the_machine(run_dir, tmp_path):
    tuned = fine_tune_of(run_dir, tmp_path)
    runs.write_status(tuned, message=f"Fine-tuning {run_dir} on {tmp_path / 'corpora' / 'abc.txt'}.")
    page = report.build_report(tuned)
    assert str(tuned.parent) not in page and str(run_dir) not in page and str(tmp_path) not in page
    assert "Fine-tuned from" in page and "<td>gru-lighthouse-1</td>" in page
    assert "It began as the model gru-lighthouse-1 and was then fine-tuned on this text." in page
    assert "Fine-tuning gru-lighthouse-1 on abc.txt." in page


def test_a_fine_tunes_chart_opens_on_its_own_part_with_the_base_curve_kept(run_dir, tmp_path):
    tuned = fine_tune_of(run_dir, tmp_path)
    from textgen import metrics

    fig = report.loss_figure(metrics.read_records(tuned), metrics.read_records(run_dir))
    low, high = fig.layout.xaxis.range
    assert 300 - 3 < low <= 300 and 300 + 40 <= high < 300 + 45  # the base ends at step 300
    bottom, top = fig.layout.yaxis.range
    assert bottom < 1.2 / 0.693 and 1.4 / 0.6931 < top < 3 / 0.6931  # the fine-tune's values, not the base's
    names = [trace.name for trace in fig.data]
    assert "base model: held-out" in names and all(trace.visible in (None, True) for trace in fig.data)
    assert report.loss_figure(metrics.read_records(run_dir)).layout.xaxis.range is None


def test_report_values_are_in_chinese(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    config.update(tokenizer="bpe", init_from=None, corpus=dict(config["corpus"], encoding="GB18030 (Chinese)"))
    files.atomic_write_json(run_dir / "config.json", config)
    page = report.build_report(run_dir, language="zh")
    for value in ("<td>快速</td>", "<td>子词</td>", "<td>GB18030（中文）</td>", "<td>已完成</td>",
                  "<td>无</td>", "<td>GRU</td>", "概要", "技术细节"):
        assert value in page, value
    assert "<td>quick</td>" not in page and "<td>bpe</td>" not in page and "<td>none</td>" not in page


def test_a_built_in_corpus_is_named_in_the_reports_language(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    files.atomic_write_json(run_dir / "config.json", dict(config, corpus=dict(config["corpus"], name="builtin:sample")))
    assert "What it learnt: built-in sample," in report.build_report(run_dir)
    assert "builtin:sample" not in report.build_report(run_dir, language="zh").split("<details>")[0]


# --- the surprise view: one sample coloured by the kept model's loss ---------------------


def surprise_section(page: str) -> str:
    """The report's surprise view, from its heading to the next section's."""
    return page.split("<h2>Where the model is surprised</h2>", 1)[1].split("<h2>", 1)[0]


def coloured_text(section: str) -> str:
    """The text the surprise view colours, as the HTML holds it (escaped), without its spans."""
    box = section.split('class="textgen-highlight"', 1)[1].split(">", 1)[1].split("</div>", 1)[0]
    return re.sub(r"<[^>]+>", "", box)


def with_samples(quick_run_dir, tmp_path, *samples):
    """A copy of the finished quick run whose samples.jsonl holds ``samples``."""
    import shutil

    path = tmp_path / "runs" / "surprised"
    shutil.copytree(quick_run_dir, path)
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    return path


def test_the_report_colours_the_kept_models_sample_by_its_loss_and_its_average_is_evaluates(quick_run_dir,
                                                                                           tmp_path):
    import html

    from textgen import load_run

    kept = 'He said, "Thou art not it\'s." And went.'
    path = with_samples(quick_run_dir, tmp_path, {"step": 3, "text": "an early try"},
                        {"step": 5, "text": kept, "temperature": 0.8, "seed": 3, "kept": True})
    section = surprise_section(report.build_report(path))
    assert html.escape("Each character of the kept model's sample (step 5) is coloured") in section
    assert coloured_text(section) == html.escape(kept, quote=True)  # all of it, escaped, nothing else
    assert section.count("background-color: rgba(") >= 5  # coloured character by character
    assert "textgen-legend" in section and "expected (0 nats)" in section  # the colour legend
    assert "http" not in section and "<script" not in section  # self-contained
    average = float(re.search(r"On average (\d+\.\d{3}) nats = (\d+\.\d{3}) bits per character", section).group(1))
    assert average == pytest.approx(load_run(path).evaluate(kept)["nats_per_char"], abs=6e-4)


def test_without_a_kept_sample_the_latest_one_is_coloured_and_a_text_the_model_cannot_read_is_explained(
        quick_run_dir, tmp_path):
    path = with_samples(quick_run_dir, tmp_path, {"step": 3, "text": "an early try"},
                        {"step": 7, "text": "the latest one"})
    section = surprise_section(report.build_report(path))
    assert "the latest sample written during training (step 7)" in section
    assert coloured_text(section) == "the latest one"
    (path / "samples.jsonl").write_text(json.dumps({"step": 9, "text": "price: 5 €"}) + "\n", encoding="utf-8")
    section = surprise_section(report.build_report(path))
    assert "Its samples could not be scored." in section and "€" in section and "textgen-highlight" not in section
    assert str(tmp_path) not in section


def test_the_surprise_view_says_when_there_is_no_model_and_is_left_out_without_samples(run_dir, tmp_path):
    section = surprise_section(report.build_report(run_dir))
    assert "This run has no saved model, so its samples cannot be scored." in section
    chinese = report.build_report(run_dir, language="zh")
    assert "模型在哪里感到意外" in chinese and "这次运行没有保存的模型" in chinese
    (run_dir / "samples.jsonl").unlink()
    assert "Where the model is surprised" not in report.build_report(run_dir)


def test_a_models_layers_are_counted_in_the_singular_for_one_layer():
    assert report.model_in_words({"arch": "gru", "layers": 1, "units": 256}) == \
        "a recurrent network (GRU) of 1 layer of 256 units"
    assert report.layers_in_words(2, 256) == "2 layers of 256 units"
    assert "1 layers" not in report.model_in_words({"arch": "transformer", "layers": 1, "units": 64})
