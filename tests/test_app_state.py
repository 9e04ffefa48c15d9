"""The app's remembered choices (textgen.app_state): one JSON file in the workspace."""

import json
import os

import pytest

from textgen import app_state, files


def test_saved_choices_come_back_as_they_were(tmp_path):
    values = {"train_preset": "Quick", "adv_learning_rate_quick_": 0.002, "generate_seed": None,
              "corpus_paste": "第一行\r\nzweite Zeile  \n", "corpus_spec": ["builtin:sample"], "generate_top_k": 40,
              "flag": True, "settings": {"preset": "quick", "seq_len": 64}}
    kept = app_state.save(values, tmp_path)
    assert kept == values
    assert app_state.load(tmp_path) == values
    assert app_state.state_path(tmp_path) == tmp_path / "app-state.json"


def test_the_file_lives_in_textgen_home_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_HOME", str(tmp_path))
    app_state.save({"generate_prompt": "The keeper"})
    assert json.loads((tmp_path / "app-state.json").read_text(encoding="utf-8")) == {"generate_prompt": "The keeper"}
    assert app_state.load() == {"generate_prompt": "The keeper"}


def test_no_file_means_nothing_is_remembered(tmp_path):
    assert app_state.load(tmp_path) == {}


@pytest.mark.parametrize("content", [b"{\"train_preset\": \"Qu", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null", b""])
def test_a_damaged_file_means_nothing_is_remembered(tmp_path, content):
    (tmp_path / "app-state.json").write_bytes(content)
    assert app_state.load(tmp_path) == {}


def test_an_unreadable_file_means_nothing_is_remembered(tmp_path):
    (tmp_path / "app-state.json").mkdir()  # a folder where the file should be
    assert app_state.load(tmp_path) == {}


def test_values_json_cannot_hold_are_left_out_and_tuples_come_back_as_lists(tmp_path):
    kept = app_state.save({"ok": 1, "a_set": {1, 2}, "an_object": object(), "nan": float("nan"),
                           "inf": float("inf"), "nested_set": [1, {2}], "bad_keys": {1: "x"},
                           "label": ("{name}", {"name": "Team notes"})}, tmp_path)
    assert kept == {"ok": 1, "label": ["{name}", {"name": "Team notes"}]}
    assert app_state.load(tmp_path) == kept


def test_saving_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    app_state.save({"generate_prompt": "first"}, tmp_path)

    def torn_write(path, data):  # a crash half-way through writing the temporary file
        with files.atomic_path(path) as tmp:
            tmp.write_bytes(data[:5])
            raise OSError("disk full")

    monkeypatch.setattr(files, "atomic_write_bytes", torn_write)
    assert app_state.save({"generate_prompt": "second"}, tmp_path) == {"generate_prompt": "second"}
    assert app_state.load(tmp_path) == {"generate_prompt": "first"}  # the earlier file, whole
    assert os.listdir(tmp_path) == ["app-state.json"]


def test_a_workspace_that_cannot_be_written_is_no_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workspace folder should be")
    assert app_state.save({"generate_prompt": "x"}, blocker) == {"generate_prompt": "x"}
    assert app_state.load(blocker) == {}
