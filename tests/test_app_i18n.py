"""AppTest: the whole interface in Chinese (?lang=zh or the sidebar switch), and back in English."""

import json
import os
import time

import pytest

from textgen import files, runs
from tests.conftest import button

TITLES = {"home": "TextGen Studio", "corpus": "语料", "train": "训练", "generate": "生成", "runs": "运行记录",
          "inside": "模型内部"}
ZH = {"lang": "zh"}


def switch(at):
    return at.button_group[0]  # the sidebar's English / 中文 control (app.py draws it)


def to_english(at):
    """Switch the language as the sidebar does, through the session state it keeps.

    (After its first run, AppTest runs the page's own file without app.py, as Streamlit
    does for a pages/ folder, so the sidebar switch is only there on the first run.)
    """
    at.session_state["lang"] = "en"
    return at.run()


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def finished_run(home, name="zh-run"):
    """A finished run folder (without a model), as training leaves it."""
    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char",
                                                     "parameters": 1234, "corpus": {"name": "builtin:sample-zh"}})
    runs.write_status(run_dir, state="completed", started_at=time.time() - 60, updated_at=time.time(),
                      best_val_loss=3.2, message="Finished all epochs.")
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "time": s / 10, "train_loss": 5 - s / 20, "val_loss": 5.2 - s / 25}) + "\n"
        for s in (10, 20, 30)))
    return run_dir


@pytest.mark.parametrize("page", list(TITLES))
def test_every_page_renders_in_chinese(open_page, page):
    at = open_page(page, session_state=ZH)
    assert not at.exception
    assert at.title[0].value == TITLES[page]
    assert at.query_params["lang"] == "zh"  # kept in the URL for a refresh or a shared link
    to_english(at)
    assert not at.exception
    assert at.title[0].value == {"home": "TextGen Studio"}.get(page, page.capitalize())


def test_the_sidebar_switch(open_page):
    at = open_page("home")
    assert switch(at).label == "Language / 语言"
    assert switch(at).options == ["English", "中文"] and switch(at).value == "en"
    assert "lang" not in at.query_params  # English keeps the address clean
    switch(at).set_value("zh").run()
    assert at.session_state["lang"] == "zh"
    assert at.button[0].label == "用示例文本快速训练一个模型"
    at.session_state["lang"] = "en"
    at.run()
    assert at.button[0].label == "Train a quick model on the sample text"


def test_the_home_page_in_chinese(open_page):
    at = open_page("home", session_state=ZH)
    assert "准备文本" in texts(at.subheader)
    assert any("模型在这台机器上训练" in i.value for i in at.info)
    assert at.button[0].label == "用示例文本快速训练一个模型"


def test_a_shared_link_with_lang_zh_opens_in_chinese():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP_ROOT

    at = AppTest.from_file(str(APP_ROOT / "app.py"), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.session_state["lang"] == "zh" and "准备文本" in texts(at.subheader)


def test_the_corpus_page_in_chinese_with_the_chinese_sample(open_page):
    at = open_page("corpus", session_state=ZH)
    assert at.file_uploader[0].label == "上传文本文件"
    assert at.radio[0].label == "内置语料"
    assert at.radio[0].value == "sample"  # values stay the corpus names
    assert at.radio[0].options[0].startswith("灯塔小镇文集：")  # the names people read are Chinese
    at.radio[0].set_value("sample-zh").run()
    button(at, "使用这份语料").click().run()
    assert not at.exception and not at.error
    assert at.session_state["corpus_spec"] == ["builtin:sample-zh"]
    assert "当前语料：内置语料“山村中文文集”" in texts(at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["不同字符数"].replace(",", "")) > 500
    assert "不同的字符" in texts(at.warning)  # many characters: normal for Chinese
    assert "云岭村" in at.code[0].value


def test_an_error_from_the_core_is_shown_in_chinese(open_page):
    at = open_page("corpus", session_state=ZH)
    at.file_uploader[0].upload("holiday.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    at.run()
    assert not at.exception
    assert any("holiday.png 看起来是PNG 图片" in e.value for e in at.error)


def test_the_train_page_in_chinese_and_back_in_english(open_page):
    at = open_page("train", session_state=ZH)
    preset = at.radio(key="train_preset")
    assert preset.label == "预设" and preset.options == ["快速", "均衡", "高质量"]
    assert {"模型结构", "分词方式", "微调自"} <= {s.label for s in at.selectbox}
    assert at.expander[0].label == "高级设置"
    assert {"层数", "学习率", "时间上限（秒）", "随机种子"} <= {n.label for n in at.number_input}
    assert {"开始训练", "停止训练"} <= {b.label for b in at.button}
    preset.set_value("Quick").run()  # the value stays English; only its label is Chinese
    assert "大约一分钟" in texts(at.caption)
    at.text_input(key="train_run_name").set_value("my-run").run()

    to_english(at)
    assert not at.exception
    assert at.title[0].value == "Train"
    preset = at.radio(key="train_preset")
    assert preset.label == "Preset" and preset.options == ["Quick", "Balanced", "Quality"]
    assert preset.value == "Quick"  # choices survive the switch
    assert at.text_input(key="train_run_name").value == "my-run"
    assert {"Start training", "Stop training"} <= {b.label for b in at.button}


def test_a_bad_run_name_is_explained_in_chinese(open_page):
    at = open_page("train", session_state=ZH)
    at.text_input(key="train_run_name").set_value("../escape").run()
    button(at, "开始训练").click().run()
    assert any("不能用作运行名称" in e.value for e in at.error)


def test_a_running_job_is_watched_in_chinese(open_page, app_home):
    run_dir = app_home / "runs" / "live-zh"
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char"})
    runs.write_status(run_dir, state="running", pid=os.getpid(), started_at=time.time() - 10, step=20,
                      total_steps=100, device="CPU")
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 20, "time": 2.0, "train_loss": 3.0}) + "\n")
    at = open_page("train", session_state=ZH)
    assert not at.exception
    assert {"步数", "训练损失", "最佳验证损失", "设备"} <= {m.label for m in at.metric}
    assert at.get("progress")[0].proto.text.startswith("训练中：已用")
    assert len(at.get("plotly_chart")) == 1


def test_the_generate_page_in_chinese_and_back(open_page, no_shipped_models):
    at = open_page("generate", session_state=ZH)
    assert [s.label for s in at.slider] == ["温度", "Top-k", "Top-p"]
    assert "还没有训练好的模型" in texts(at.info)
    assert button(at, "生成").disabled
    to_english(at)
    assert [s.label for s in at.slider] == ["Temperature", "Top-k", "Top-p"]
    assert button(at, "Generate").disabled


def test_the_runs_page_in_chinese(open_page, app_home):
    finished_run(app_home)
    at = open_page("runs", session_state=ZH)
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["运行"] == "zh-run"].iloc[0]
    assert row["状态"] == "已完成" and row["预设"] == "快速"
    assert "比较学习曲线" in texts(at.subheader)
    assert {"下载为 zip", "下载报告（HTML）"} <= {b.label for b in at.download_button}
    assert "已完成全部训练轮数。" in texts(at.caption)  # the status message, translated
    to_english(at)
    table = at.dataframe[0].value
    assert table[table["Run"] == "zh-run"].iloc[0]["State"] == "completed"


def test_generating_and_exploring_in_chinese(open_page):
    """The shipped base model writes; the copying meter, the explorer's chart and its
    sentence are in Chinese."""
    at = open_page("generate", session_state=ZH)
    at.number_input(key="generate_length").set_value(40)
    at.number_input(key="generate_seed").set_value(3)
    button(at, "生成").click().run()
    assert not at.exception and not at.error
    assert len(at.code[0].value) >= 40
    meter = next(c.value for c in at.caption if c.value.startswith("照搬训练文本的程度"))
    assert "原样出现过" in meter
    button(at, "显示概率").click().run()
    assert not at.exception and not at.error
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["title"]["text"] == "概率"
    assert [trace["name"] for trace in figure["data"]] == ["截断前（当前温度下）", "Top-k / Top-p 截断后（采样实际使用）"]
    assert any(c.value.startswith("在 ") and "当前设置保留了" in c.value for c in at.caption)


def test_a_switch_keeps_choices_whose_labels_are_translated(app_home):
    """A choice survives switches both ways and shows under its new label. (A browser sends
    a radio's choice as the label it shows, gone after a switch, so the switch hands choices
    back: choice_key. AppTest sends values, so it cannot show that part.) A one-widget app
    keeps the switch on the page: AppTest runs a page it switched to without app.py."""
    from streamlit.testing.v1 import AppTest

    script = """
import streamlit as st
from pages._shared import choice_key, language_switch, t
language_switch()
names = {"Quick": t("Quick"), "Balanced": t("Balanced"), "Quality": t("Quality")}
st.radio(t("Preset"), list(names), index=1, key=choice_key("preset"), format_func=names.get)
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    at.radio[0].set_value("Quality").run()
    switch(at).set_value("zh").run()
    assert at.radio[0].label == "预设" and at.radio[0].options == ["快速", "均衡", "高质量"]
    assert at.radio[0].value == "Quality"
    assert at.query_params["lang"] == "zh"
    switch(at).set_value("en").run()
    assert at.radio[0].label == "Preset" and at.radio[0].value == "Quality"
    assert "lang" not in at.query_params


# Words the product itself writes in English, which must not show when Chinese is chosen.
ENGLISH_PRODUCT_WORDS = ("CPU (", "core", "builtin:", "built-in", "None", "bpe", "subword", "quick", "balanced",
                         "completed", "char")


def shown_texts(at) -> str:
    """Every text a page shows: headings, paragraphs, notes, metrics and table cells (a table
    shows its placeholder for a missing value, so missing cells are left out here)."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                  "success", "error") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for table in at.dataframe:
        assert table.proto.placeholder and table.proto.placeholder != "None"
        parts += [str(cell) for cell in table.value.to_numpy().ravel() if cell is not None and cell == cell]
        parts += [str(column) for column in table.value.columns]
    return "\n".join(parts)


def english_words_in(at) -> list[str]:
    text = shown_texts(at)
    return [word for word in ENGLISH_PRODUCT_WORDS if word in text]


def test_home_train_and_runs_write_every_value_in_chinese(open_page, app_home):
    """The device, built-in corpus names, presets, tokenizers and missing values: in Chinese."""
    finished_run(app_home)  # a built-in corpus, the quick preset, char tokens, no title
    bpe = finished_run(app_home, "zh-second-run")
    config = json.loads((bpe / "config.json").read_text())
    (bpe / "config.json").write_text(json.dumps({**config, "tokenizer": "bpe", "preset": "balanced",
                                                 "corpus": {"name": "builtin:sample + notes.txt"}}))
    run_dir = app_home / "runs" / "live-zh"
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char"})
    runs.write_status(run_dir, state="running", pid=os.getpid(), started_at=time.time() - 10, step=20,
                      total_steps=100, device="CPU")

    home = open_page("home", session_state=ZH)
    assert any("处理器（CPU，" in i.value for i in home.info)
    assert english_words_in(home) == []

    train = open_page("train", session_state=ZH)
    assert any("内置语料“灯塔小镇文集”" in m.value for m in train.markdown)  # the corpus line
    assert {m.value for m in train.metric if m.label == "设备"} == {"处理器（CPU）"}
    assert english_words_in(train) == []

    runs_page = open_page("runs", session_state=ZH)
    table = runs_page.dataframe[0].value
    row = table[table["运行"] == "zh-second-run"].iloc[0]
    assert row["分词方式"] == "子词" and row["预设"] == "均衡"
    assert row["语料"] == "内置语料“灯塔小镇文集” + notes.txt"
    assert english_words_in(runs_page) == []

    to_english(runs_page)
    table = runs_page.dataframe[0].value
    assert table[table["Run"] == "zh-second-run"].iloc[0]["Corpus"] == "built-in sample + notes.txt"
