"""From the Train page's form to a training job's options."""

from __future__ import annotations

import pytest

from textgen import config, train_options
from textgen.units import plain_number
from textgen.errors import TextgenError
from textgen.files import atomic_write_json

FORM = dict(layers=2, units=256, embedding_dim=128, seq_len=256, batch_size=64, dropout=0.0,
            learning_rate=5e-3, epochs=1000, val_fraction=0.1, time_budget=600.0, seed=None,
            arch="gru", tokenizer="char")  # the Balanced preset as the form shows it


def test_only_settings_that_differ_from_the_preset_become_options():
    resolved, options = train_options.run_options("balanced", dict(FORM, units=128, seed=3))
    assert options == {"preset": "balanced", "units": 128, "seed": 3}
    assert resolved["units"] == 128 and resolved["layers"] == 2 and resolved["preset"] == "balanced"
    assert train_options.run_options("balanced", FORM)[1] == {"preset": "balanced"}


def test_an_empty_time_budget_means_no_limit_and_is_passed_where_the_preset_has_one():
    resolved, options = train_options.run_options("quick", dict(FORM, layers=1, time_budget=None))
    assert resolved["time_budget"] is None
    assert options["time_budget"] == 0.0  # the Quick preset stops at 60 s otherwise
    resolved, options = train_options.run_options("quick", dict(FORM, layers=1, time_budget=60.0))
    assert resolved["time_budget"] == 60.0 and "time_budget" not in options
    assert train_options.run_options("balanced", dict(FORM, time_budget=0.0))[1]["time_budget"] == 0.0


def test_a_fine_tune_leaves_the_shape_to_its_base_run():
    _, options = train_options.run_options("balanced", dict(FORM, units=512, freeze_layers=1, dropout=0.1),
                                           init_from="/runs/base")
    assert options == {"preset": "balanced", "dropout": 0.1, "freeze_layers": 1, "init_from": "/runs/base"}


def test_a_value_out_of_range_is_refused_with_a_sentence():
    with pytest.raises(TextgenError, match="dropout must be a number from 0 to 0.9"):
        train_options.run_options("balanced", dict(FORM, dropout=0.95))


def test_the_form_of_a_fine_tune_starts_from_the_base_runs_shape_and_a_gentler_learning_rate(tmp_path):
    base = dict(config.resolve_config("quick"), arch="lstm", units=96, layers=1, embedding_dim=32,
                tokenizer="word", max_vocab=500, seq_len=48)
    atomic_write_json(tmp_path / "config.json", base)
    defaults = train_options.form_defaults("balanced", tmp_path)
    assert {k: defaults[k] for k in config.FINE_TUNE_SHAPE} == {k: base[k] for k in config.FINE_TUNE_SHAPE}
    assert defaults["seq_len"] == 48
    assert defaults["learning_rate"] == round(min(config.PRESETS["balanced"]["learning_rate"]
                                                  * config.FINE_TUNE_LR_FACTOR, config.FINE_TUNE_MAX_LR), 6)
    # Quick's large steps are not carried into a fine-tune: it stays as gentle as Balanced's.
    assert train_options.form_defaults("quick", tmp_path)["learning_rate"] <= config.FINE_TUNE_MAX_LR
    assert train_options.form_defaults("balanced") == config.resolve_config("balanced")


def test_a_base_run_whose_settings_are_missing_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(TextgenError, match="settings are missing or damaged"):
        train_options.form_defaults("quick", tmp_path)
    atomic_write_json(tmp_path / "config.json", {"arch": "gru", "units": 64})
    with pytest.raises(TextgenError, match="settings are missing or damaged"):
        train_options.form_defaults("quick", tmp_path)


@pytest.mark.parametrize("corpus_name, prefix", [("built-in sample", "gru-sample"),
                                                 ("tales.txt + more.txt", "gru-tales"),
                                                 ("builtin:sample-zh", "gru-sample-zh"),
                                                 ("3 uploaded files", "gru-3 uploaded files")])
def test_a_suggested_run_name_starts_with_the_architecture_and_the_corpus(corpus_name, prefix):
    assert train_options.run_name_prefix("gru", corpus_name) == prefix


def test_the_settings_changed_from_the_form_s_start_are_named_with_both_values():
    starts = {"seq_len": 256, "dropout": 0.0, "time_budget": 600.0, "seed": None, "arch": "gru"}
    same = {"seq_len": 256, "dropout": 0, "time_budget": 600, "seed": None, "arch": "gru"}
    assert train_options.changed_settings(same, starts) == {}
    changed = train_options.changed_settings(dict(same, seq_len=16, seed=3, arch="lstm"), starts)
    assert changed == {"seq_len": (16, 256), "seed": (3, None), "arch": ("lstm", "gru")}


def test_an_empty_box_stands_for_its_start_except_the_time_budget_where_it_means_no_limit():
    starts = {"seq_len": 256, "time_budget": 600.0}
    assert train_options.changed_settings({"seq_len": None, "time_budget": 600.0}, starts) == {}
    assert train_options.changed_settings({"seq_len": 256, "time_budget": None}, starts) == {
        "time_budget": (None, 600.0)}
    assert train_options.changed_settings({"seq_len": 256, "time_budget": 0.0}, starts) == {
        "time_budget": (None, 600.0)}
    # A preset without a budget: empty and 0 both leave it as it was.
    assert train_options.changed_settings({"time_budget": 0.0}, {"time_budget": None}) == {}


@pytest.mark.parametrize("value, shown", [(4096, "4,096"), (5000.0, "5,000"), (2**31 - 1, "2,147,483,647"),
                                          (0.95, "0.95"), (1e-6, "0.000001"), (1.5e-5, "0.000015"), (-3, "-3"),
                                          (123456.789, "123,457")])
def test_a_setting_s_number_is_shown_with_every_digit_and_no_exponent(value, shown):
    assert plain_number(value) == shown
