"""AppTest: the Train page's suggestions before a run: settings for the text's size, and the
learning-rate finder filling in the learning rate (the finder itself is replaced by a fake here;
tests/test_lr_finder.py runs the real one)."""

import json
from pathlib import Path

import pytest

from textgen import lr_range
from tests.conftest import button, select, number

NO_BASE = "None (start from scratch)"
BASE = Path(__file__).resolve().parent.parent / "assets" / "base-model"  # the shipped base model


def from_scratch(open_page):
    """Train, starting from scratch on the built-in sample (63,000 characters: a small text)."""
    at = open_page("train")
    select(at, "Fine-tune from").set_value(NO_BASE).run()
    assert not at.exception
    return at


def test_a_small_text_is_suggested_a_small_model_and_the_button_fills_the_form(open_page):
    at = from_scratch(open_page)
    box = next(m.value for m in at.markdown if "Suggested for this text" in m.value)
    assert "GRU, 1 layer of 256 units, sequence length 256, dropout 0.2, 2 min 00 s" in box and "CPU" in box
    assert any(c.value.startswith("Why: A small text") for c in at.caption)
    assert number(at, "Layers").value == 2  # Balanced's, until the suggestion is used
    button(at, "Use these settings").click().run()
    assert not at.exception
    assert (number(at, "Layers").value, number(at, "Units per layer").value) == (1, 256)
    assert number(at, "Dropout").value == pytest.approx(0.2)
    assert number(at, "Time budget (seconds)").value == 120.0
    assert any("Suggested settings filled in" in s.value for s in at.success)
    number(at, "Units per layer").set_value(200).run()  # the person can change them after
    assert number(at, "Units per layer").value == 200 and not at.exception
    at.switch_page("app.py").run()

    again = open_page("train")  # a refresh: a new session on the same workspace
    assert (number(again, "Layers").value, number(again, "Units per layer").value) == (1, 200)
    assert number(again, "Dropout").value == pytest.approx(0.2)
    assert not [w.value for w in again.warning if "Session State API" in w.value]


def test_a_tiny_texts_suggestion_shortens_the_sequence_so_the_form_has_no_error(open_page, tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text(("A cat sat on the mat. " * 20)[:400], encoding="utf-8")
    at = open_page("train", session_state={"corpus_spec": [str(tiny)], "corpus_name": "tiny.txt"})
    select(at, "Fine-tune from").set_value(NO_BASE).run()
    box = next(m.value for m in at.markdown if "Suggested for this text" in m.value)
    assert "1 layer of 128 units, sequence length 32," in box
    # Balanced's windows grow from 64 tokens to the 256 the box shows; even 64 do not fit.
    # 400 characters hold windows of 39 but not 40 (the 391 and 401 of min_corpus_length).
    assert any("this run's windows start at 64 tokens and grow to its sequence length of 256" in e.value
               and e.value.endswith("set a sequence length of 39 or less.") for e in at.error)
    button(at, "Use these settings").click().run()
    assert not at.exception and number(at, "Sequence length").value == 32
    assert not [e.value for e in at.error if "it needs at least" in e.value]


def test_a_finders_result_is_shown_only_for_the_corpus_and_model_it_was_run_for(open_page, monkeypatch,
                                                                                 tmp_path):
    monkeypatch.setattr(lr_range, "find_in_child", lambda *args, **kwargs: FOUND)
    other = tmp_path / "other.txt"
    other.write_text("Another text entirely, long enough to learn from. " * 40, encoding="utf-8")
    at = from_scratch(open_page)
    button(at, "Find a learning rate (about 20 s)").click().run()
    assert any("from the finder" in s.value for s in at.success) and len(at.get("plotly_chart")) >= 1
    charts_before = len(at.get("plotly_chart"))
    number(at, "Layers").set_value(1).run()  # another shape: the old result no longer applies
    assert not any("finder" in s.value for s in [*at.success, *at.caption])
    assert len(at.get("plotly_chart")) == charts_before - 1
    number(at, "Layers").set_value(2).run()  # back to what it was run for
    assert any("from the finder" in s.value for s in at.success)
    at.session_state["corpus_spec"] = [str(other)]
    at.run()
    assert not any("finder" in s.value for s in [*at.success, *at.caption])


def test_no_shape_is_suggested_for_a_fine_tune(open_page):
    at = open_page("train")
    select(at, "Fine-tune from").set_value(str(BASE)).run()
    assert not [b for b in at.button if b.label == "Use these settings"]
    assert not [m for m in at.markdown if "Suggested for this text" in m.value]


FOUND = {"rates": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "losses": [4.2, 4.2, 3.9, 3.1, 2.9, 9.0],
         "smoothed": [4.2, 4.2, 4.1, 3.7, 3.4, 5.1], "suggested": 0.0041, "minimum_rate": 0.041,
         "steps": 6, "stopped": "blow-up", "seconds": 12.0}


def test_the_finder_fills_in_the_learning_rate_and_shows_its_curve(open_page, monkeypatch):
    asked = []

    def fake_finder(settings, spec, seconds=20.0, timeout_s=None):
        asked.append((settings, spec, seconds))
        return FOUND

    monkeypatch.setattr(lr_range, "find_in_child", fake_finder)
    at = from_scratch(open_page)
    button(at, "Find a learning rate (about 20 s)").click().run()
    assert not at.exception
    (settings, spec, seconds), = asked
    assert settings["arch"] == "gru" and settings["init_from"] is None and spec == ["builtin:sample"]
    assert number(at, "Learning rate").value == pytest.approx(0.0041)
    assert any(s.value == "Learning rate set to 0.0041, from the finder." for s in at.success)
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert any(shape.get("x0") == pytest.approx(0.0041) for shape in figure["layout"]["shapes"])
    number(at, "Learning rate").set_value(0.002).run()  # changed after: no longer "set by the finder"
    assert not any("from the finder" in s.value for s in at.success)
    assert any("The finder suggested a learning rate of 0.0041." == c.value for c in at.caption)


def test_a_fine_tune_asks_the_finder_with_its_base(open_page, monkeypatch):
    asked = []
    monkeypatch.setattr(lr_range, "find_in_child", lambda settings, *args, **kw: asked.append(settings) or FOUND)
    at = open_page("train")
    select(at, "Fine-tune from").set_value(str(BASE)).run()
    button(at, "Find a learning rate (about 20 s)").click().run()
    assert not at.exception and asked[0]["init_from"] == str(BASE)
    assert number(at, "Learning rate").value == pytest.approx(0.0041)


def test_a_finder_that_fails_says_why(open_page, monkeypatch):
    from textgen.errors import TextgenError

    def failing(*args, **kwargs):
        raise TextgenError("The learning-rate finder failed on this machine with these settings.")

    monkeypatch.setattr(lr_range, "find_in_child", failing)
    at = from_scratch(open_page)
    rate = number(at, "Learning rate").value
    button(at, "Find a learning rate (about 20 s)").click().run()
    assert any("finder failed" in e.value for e in at.error)
    assert number(at, "Learning rate").value == rate


def test_the_suggestion_and_the_finder_speak_chinese(open_page, monkeypatch):
    monkeypatch.setattr(lr_range, "find_in_child", lambda *args, **kwargs: FOUND)
    at = open_page("train", session_state={"lang": "zh"})
    at.selectbox(key="train_init_from").set_value(NO_BASE).run()
    assert any("为这段文本建议的设置" in m.value for m in at.markdown)
    assert any(c.value.startswith("原因：小文本") for c in at.caption)
    button(at, "使用这些设置").click().run()
    assert any("已填入建议的设置" in s.value for s in at.success)
    button(at, "寻找学习率（约 20 秒）").click().run()
    assert not at.exception
    assert any("0.0041" in s.value and "查找器" in s.value for s in at.success)


def test_settings_changed_from_the_preset_are_named_under_it_and_one_click_puts_them_back(open_page):
    at = from_scratch(open_page)
    assert not [c.value for c in at.caption if "Changed from" in c.value]
    button(at, "Use these settings").click().run()
    changed = next(c.value for c in at.caption if "Changed from Balanced" in c.value)
    assert "Layers 1 (was 2)" in changed and "Dropout 0.2 (was 0)" in changed
    assert "Time budget (seconds) 120 (was 600)" in changed
    number(at, "Seed").set_value(7).run()
    assert "Seed 7 (was random)" in next(c.value for c in at.caption if "Changed from" in c.value)
    button(at, "Back to Balanced's values").click().run()
    assert not at.exception and not [c.value for c in at.caption if "Changed from" in c.value]
    assert (number(at, "Layers").value, number(at, "Dropout").value, number(at, "Seed").value) == (2, 0.0, None)
    assert any("Back to Balanced's values." in c.value for c in at.caption)
    button(at, "Undo").click().run()  # what was typed comes back
    assert (number(at, "Layers").value, number(at, "Seed").value) == (1, 7)
    assert not any("Back to Balanced's values." in c.value for c in at.caption)
    assert "Layers 1 (was 2)" in next(c.value for c in at.caption if "Changed from" in c.value)
