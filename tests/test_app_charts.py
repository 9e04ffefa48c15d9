"""The figure builders and progress helpers behind the pages, and device detection."""

import math
import subprocess

from textgen import charts, device


def test_character_labels_are_visible_and_counted():
    pairs = charts.char_frequencies("aa b\n\n\n")
    assert pairs[0] == ("↵", 3)
    assert ("␣", 1) in pairs
    fig = charts.char_frequency_figure(pairs)
    assert list(fig.data[0].x) == [label for label, _ in pairs]


def test_word_frequencies_and_line_lengths():
    assert charts.word_frequencies("The cat. the dog", top=1) == [("the", 2)]
    assert charts.line_lengths("ab\nc") == [2, 1]
    assert charts.line_length_figure([1, 2, 3]).data[0].type == "histogram"


def test_a_one_line_text_is_one_bar_at_its_length_on_an_axis_from_zero():
    fig = charts.line_length_figure([311])  # Plotly's own bins drew an axis from 310.6 to 311.4
    bins = fig.data[0].xbins
    assert fig.layout.xaxis.range[0] == 0 and fig.layout.xaxis.range[1] > 311
    assert bins.start == 0 and bins.size == int(bins.size) and bins.start <= 311 < bins.end
    assert (bins.end - bins.start) / bins.size <= 51  # about 50 bins at most
    assert charts.line_length_figure([0]).data[0].xbins.size == 1  # an empty text: no zero-wide bins
    assert fig.layout.yaxis.dtick == 1  # one line: whole numbers of lines on the axis
    assert charts.line_length_figure([40] * 500).layout.yaxis.dtick is None  # many: Plotly's own ticks


def test_curves_are_downsampled_and_converted_to_bits():
    records = [{"step": i, "train_loss": 2.0} for i in range(10_000)]
    xs, ys = charts.curve(records, "train_loss", bits=True)
    assert len(xs) == charts.MAX_POINTS and xs[0] == 0 and xs[-1] == 9_999
    assert math.isclose(ys[0], 2.0 / math.log(2))
    fig = charts.loss_figure(records + [{"step": 5, "val_loss": 1.0}], best={"step": 5, "val_loss": 1.0})
    assert [t.name for t in fig.data] == ["training", "held-out", "best checkpoint"]


def test_progress_from_steps_budget_or_eta():
    now = 1000.0
    fraction, eta = charts.progress({"started_at": 900.0, "step": 25, "total_steps": 100}, now)
    assert fraction == 0.25 and eta == 300.0
    fraction, eta = charts.progress({"started_at": 990.0, "time_budget": 40}, now)
    assert fraction == 0.25 and eta == 30.0
    assert charts.progress({}, now) == (None, None)
    assert charts.format_duration(75) == "1 min 15 s"


def test_device_without_nvidia_smi_is_the_cpu(monkeypatch):
    monkeypatch.setattr(device.shutil, "which", lambda name: None)
    device.detect_device.cache_clear()
    assert device.describe_device().startswith("CPU (")
    device.detect_device.cache_clear()


def test_device_names_the_gpu(monkeypatch):
    monkeypatch.setattr(device.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, stdout="GPU 0: NVIDIA H200 (UUID: GPU-1234)\n")

    monkeypatch.setattr(device.subprocess, "run", fake_run)
    device.detect_device.cache_clear()
    assert device.describe_device() == "NVIDIA H200"
    device.detect_device.cache_clear()


def test_a_hanging_nvidia_smi_does_not_hang_the_page(monkeypatch):
    monkeypatch.setattr(device.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def slow_run(cmd, timeout, **kwargs):
        raise subprocess.TimeoutExpired(cmd, timeout)

    monkeypatch.setattr(device.subprocess, "run", slow_run)
    assert device.gpu_names() == []


def test_a_fine_tune_curve_continues_after_its_base():
    base = [{"step": 10, "train_loss": 2.0}, {"step": 20, "train_loss": 1.5, "val_loss": 1.6}]
    tuned = [{"step": 5, "train_loss": 1.4}, {"step": 10, "train_loss": 1.3, "val_loss": 1.35}]
    moved = charts.continue_after(base, tuned)
    assert [r["step"] for r in moved] == [25, 30]
    fig = charts.loss_figure(tuned, base_records=base)
    names = [t.name for t in fig.data]
    assert names[:2] == ["base model: training", "base model: held-out"]
    training = next(t for t in fig.data if t.name == "training")
    assert list(training.x) == [25, 30]


def test_a_run_with_one_held_out_point_is_drawn_around_its_value():
    records = [{"step": 40, "time": 12.0, "val_loss": 1.7}]
    fig = charts.compare_figure({"one-point": records}, bits=True)
    low, high = fig.layout.yaxis.range
    value = 1.7 / math.log(2)
    assert low < value < high and low >= 0 and high - low < value
    low, high = fig.layout.xaxis.range
    assert low < 40 < high and low >= 0


def test_a_flat_curve_gets_a_range_that_never_runs_below_zero():
    records = [{"step": s, "train_loss": 0.01, "val_loss": 0.01} for s in (10, 20, 30)]
    fig = charts.loss_figure(records, best=records[-1])
    low, high = fig.layout.yaxis.range
    assert low == 0 and 0.01 < high <= 0.2
    assert fig.layout.xaxis.range is None  # the steps spread out: Plotly's own range


def test_a_curve_that_moves_keeps_plotlys_own_range():
    records = [{"step": s, "train_loss": 3.0 - s / 20, "val_loss": 3.1 - s / 20} for s in (10, 20, 30)]
    for fig in (charts.loss_figure(records), charts.compare_figure({"a": records})):
        assert fig.layout.yaxis.range is None and fig.layout.xaxis.range is None


def test_a_single_training_step_on_the_live_chart_has_no_negative_axis():
    fig = charts.loss_figure([{"step": 1, "time": 0.4, "train_loss": 4.2}], x="time")
    assert fig.layout.xaxis.range[0] >= 0 and fig.layout.yaxis.range[0] >= 0


# --- presentable on a projector ------------------------------------------------------------


def figures_with_a_legend():
    from textgen import explore

    records = [{"step": s, "time": s / 10, "train_loss": 3 - s / 50, "val_loss": 3.1 - s / 60} for s in (10, 20, 30)]
    rows = explore.distribution_from_logits(["a", "b", "c"], [2.0, 1.0, 0.5], temperature=0.8, top_k=2, top=None)
    return {"loss": charts.loss_figure(records, best=records[-1]),
            "fine-tune": charts.loss_figure(records, base_records=records),
            "compare": charts.compare_figure({"a-run-with-a-long-name": records, "another-run": records}),
            "explore": explore.distribution_figure(rows)}


def test_every_legend_sits_below_the_chart_where_the_toolbar_cannot_reach():
    """Plotly's toolbar floats over the top right of a chart: a legend at the bottom of the
    figure, in a row of its own, is never under it."""
    for name, fig in figures_with_a_legend().items():
        legend = fig.layout.legend
        assert fig.layout.showlegend is not False, name
        assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == ("h", "container", 0, "bottom"), name


def test_many_chinese_labels_get_horizontal_bars_and_latin_ones_stay_upright():
    from textgen.corpus import builtin_text

    zh = charts.char_frequencies(builtin_text("sample-zh"))
    fig = charts.char_frequency_figure(zh)
    bar = fig.data[0]
    assert bar.orientation == "h" and list(bar.y) == [label for label, _ in zh]
    assert list(fig.layout.yaxis.tickvals) == list(bar.y)  # every bar labelled, one label per row
    assert fig.layout.yaxis.autorange == "reversed"  # the most frequent at the top
    assert fig.layout.height >= charts.BAR_ROW_PX * len(zh)
    en = charts.char_frequencies(builtin_text("sample"))
    assert len(en) == 40 and charts.char_frequency_figure(en).data[0].orientation != "h"
    words = charts.word_frequency_figure(charts.word_frequencies(builtin_text("sample")))
    assert words.data[0].orientation == "h"  # thirty words do not fit side by side either
    assert charts.label_width("的") == 2 and charts.label_width("a") == 1
    assert not charts.fits_upright(["的"] * 25) and charts.fits_upright(["a"] * 40)


def test_the_device_is_described_in_the_interface_language(monkeypatch):
    from textgen.i18n import translate

    def zh(text, **params):
        return translate(text, "zh", **params)

    monkeypatch.setattr(device, "detect_device", lambda: ([], 2))
    assert device.describe_device() == "CPU (2 cores)"
    assert device.describe_device(zh) == "处理器（CPU，2 核）"
    monkeypatch.setattr(device, "detect_device", lambda: ([], 1))
    assert device.describe_device() == "CPU (1 core)"
    monkeypatch.setattr(device, "detect_device", lambda: (["NVIDIA H200"] * 2, 16))
    assert device.describe_device() == "2 x NVIDIA H200"
    assert device.describe_device(zh) == "2 块 NVIDIA H200"
    assert device.trained_on("CPU", zh) == "处理器（CPU）"
    assert device.trained_on("GPU: NVIDIA H200", zh) == "显卡（GPU）：NVIDIA H200"
    assert device.trained_on("GPU: NVIDIA H200 (x2)") == "GPU: 2 x NVIDIA H200"
    assert device.trained_on(None) is None


def test_built_in_corpus_names_are_shown_in_the_interface_language():
    from textgen import comparison
    from textgen.corpus import shown_corpus_name
    from textgen.i18n import translate

    def zh(text, **params):
        return translate(text, "zh", **params)

    assert shown_corpus_name("builtin:sample") == "built-in sample"
    assert shown_corpus_name("built-in sample-zh", zh) == "内置语料“山村中文文集”"
    assert shown_corpus_name("builtin:sample + notes.txt", zh) == "内置语料“灯塔小镇文集” + notes.txt"
    assert shown_corpus_name("notes.txt", zh) == "notes.txt" and shown_corpus_name(None) is None
    run = {"name": "r", "corpus": "builtin:sample", "tokenizer": "bpe", "preset": "quick", "state": "completed"}
    assert comparison.runs_table_rows([run], zh)[0]["Corpus"] == "内置语料“灯塔小镇文集”"
    assert comparison.comparison_rows([run], zh)[0]["Corpus"] == "内置语料“灯塔小镇文集”"


def test_a_fine_tunes_chart_opens_on_its_own_part_not_on_its_base_models_thousands_of_steps():
    from textgen import charts

    base = [{"step": s, "train_loss": 2.0, "val_loss": 2.1} for s in range(100, 4700, 100)]
    own = [{"step": s, "train_loss": 1.5 - s / 1000, "val_loss": 1.6 - s / 2000} for s in range(10, 110, 10)]
    figure = charts.loss_figure(own, base_records=base)
    low, high = figure.layout.xaxis.range
    assert 4600 < low < 4610 and 4700 < high < 4720  # the base ends at 4,600; 100 steps after it
    assert figure.layout.yaxis.range[1] < 2.0  # the base model's 2.1 is outside the view
    assert len(figure.data) == 4  # the base model's two curves are still there, a double-click away


# --- the live loss chart's legend, labels and marks (issue 16) -------------------------------

LIVE_REFS = {"uniform": 4.17, "ngram": 1.57, "ngram_order": 5, "vocab_size": 65}


def busy_records():
    """A run's records with reference-worthy curves, control marks close together and a long
    run of learning-rate changes."""
    records = [{"step": s, "train_loss": 3.0 - s / 1000, "val_loss": 3.1 - s / 1000} for s in range(0, 1001, 10)]
    records[50]["control"] = [{"kind": "learning_rate", "value": 0.003}]
    records[51]["control"] = [{"kind": "add_time", "value": -60}]
    records[60]["control"] = [{"kind": "pause"}]
    records[62]["control"] = [{"kind": "add_time", "value": 60}, {"kind": "learning_rate", "value": 0.012},
                              {"kind": "continue"}]
    for i in range(80, 100, 2):
        records[i]["control"] = [{"kind": "learning_rate", "value": 0.0001 * i}]
    return records


def test_the_live_charts_legend_names_only_the_curves():
    from textgen import doctor

    note = doctor.make_note(300, "plateau", doctor.MESSAGES["plateau"], since=50, before=2.5, now=2.5)
    fig = charts.loss_figure(busy_records(), best={"step": 900, "val_loss": 2.2}, references=LIVE_REFS,
                             notes=[note])
    in_legend = [t.name for t in fig.data if t.showlegend is not False]
    assert in_legend == ["training", "held-out", "best checkpoint"]
    texts = [a.text for a in fig.layout.annotations]
    assert "5-gram model (1.57)" in texts  # on its line, at the plot's left edge, away from the newest points
    ngram = next(a for a in fig.layout.annotations if a.text == "5-gram model (1.57)")
    # the edge of the plot as shown, wherever the x axis opens (a fine-tune's, on its own part)
    assert (ngram.xref, ngram.x, ngram.yref, ngram.y, ngram.xanchor) == ("x domain", 0, "y", 1.57, "left")
    assert "↑ uniform guess (4.17)" in texts  # above the curves: a note at the top edge
    uniform = next(a for a in fig.layout.annotations if a.text.endswith("uniform guess (4.17)"))
    assert (uniform.yref, uniform.y) == ("y domain", 1)


def test_markup_in_a_run_title_or_a_word_is_shown_as_written():
    fig = charts.compare_figure({"Delete me <b>&amp; ✓</b>": [{"step": 1, "val_loss": 2.0}]})
    assert fig.data[0].name == "Delete me &lt;b&gt;&amp;amp; ✓&lt;/b&gt;"  # Plotly shows the escaped text as typed
    fig = charts.word_frequency_figure([("<br>", 3), ("a&b", 2), ("word", 1)])
    axis = fig.layout.yaxis if fig.layout.yaxis.ticktext else fig.layout.xaxis
    assert list(axis.tickvals) == ["<br>", "a&b", "word"] and list(axis.ticktext) == ["&lt;br&gt;", "a&amp;b", "word"]


def test_control_marks_close_together_share_a_label_and_long_runs_are_labelled_on_hover():
    fig = charts.loss_figure(busy_records())
    marks = [a for a in fig.layout.annotations if a.hovertext]
    texts = [a.text for a in marks]
    assert "lr 0.003, −60 s" in texts  # 10 steps apart in 1,000: one label, not "lr 0.00360 s"
    assert "paused, +60 s, lr 0.012, continued" in texts
    paused = next(a for a in marks if a.text.startswith("paused"))
    first = next(a for a in marks if a.text.startswith("lr 0.003"))
    assert paused.y < first.y  # would overlap the first label: a row lower
    long_run = next(a for a in marks if a.hovertext.startswith("lr 0.008"))
    assert long_run.text == "•" and long_run.hovertext.count("lr ") == 10
    assert len([s for s in fig.layout.shapes if s.line.dash == "dot"]) == 14  # every mark keeps its line


def test_the_finder_chart_shows_the_batch_losses_up_to_a_cap_over_the_first_loss():
    result = {"rates": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "losses": [4.2, 4.0, 3.0, 2.2, 2.6, 40.0],
              "smoothed": [4.2, 4.1, 3.7, 3.1, 2.95, 9.0], "suggested": 0.001}
    bottom, top = charts.lr_finder_figure(result).layout.yaxis.range
    assert bottom <= 2.2 < 4.2 < top  # the lowest batch loss is in view, not just the smoothed curve
    assert top <= 1.5 * 4.2 * 1.05  # the blow-up (40) does not flatten the rest


def test_the_runs_to_compare_are_labelled_in_the_new_language_and_stay_chosen(open_page, app_home_with_run,
                                                                              quick_run_dir):
    """The browser keeps a multiselect's chips as first sent: after a language switch the
    widget is a new one (its labels in Chinese), with the same runs chosen."""
    at = open_page("runs")
    chosen = at.multiselect[0]
    assert chosen.value == [quick_run_dir.name] and chosen.options[0].endswith(" bits/char)")
    at.session_state["lang"] = "zh"
    at.run()
    again = at.multiselect[0]
    assert again.key != chosen.key and again.value == [quick_run_dir.name]
    assert "（已完成，每字符 " in again.options[0] and "比特）" in again.options[0]
