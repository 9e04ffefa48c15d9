"""AppTest: the Train page (settings, starting, live progress, finished runs)."""

import json
import os
import time

import pytest

from textgen import jobs, runs


def button(at, label):
    return next(b for b in at.button if b.label == label)


def select(at, label):
    return next(s for s in at.selectbox if s.label == label)


def number(at, label):
    return next(n for n in at.number_input if n.label == label)


def fake_run(home, name, state="running", metrics=(), samples=(), **status):
    """A run folder as a job writes it, owned by this (living) process."""
    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    runs.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char",
                                                     "parameters": 1234, "corpus": {"name": "builtin:sample"}})
    runs.write_status(run_dir, state=state, pid=os.getpid(), started_at=time.time() - 10, **status)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return run_dir


@pytest.fixture
def started(monkeypatch):
    """Capture jobs.start_training calls instead of starting TensorFlow jobs."""
    calls = []

    def fake_start(corpus, out_dir, options):
        calls.append(dict(corpus=corpus, out_dir=out_dir, options=options))
        out_dir.mkdir(parents=True)
        runs.write_status(out_dir, state="queued", pid=os.getpid(), queued_at=time.time())
        return os.getpid()

    monkeypatch.setattr(jobs, "start_training", fake_start)
    return calls


def test_train_page_has_presets_settings_and_buttons(open_page):
    at = open_page("train")
    preset = at.radio[0]
    assert preset.label == "Preset" and preset.options == ["Quick", "Balanced", "Quality"]
    assert preset.value == "Balanced"
    assert {"Architecture", "Tokenizer", "Fine-tune from"} <= {s.label for s in at.selectbox}
    assert select(at, "Architecture").options == ["GRU", "LSTM", "Transformer"]
    assert select(at, "Tokenizer").options == ["Character", "Word", "Subword"]
    assert at.expander[0].label == "Advanced settings"
    labels = {n.label for n in at.number_input}
    assert {"Layers", "Units per layer", "Embedding size", "Sequence length", "Batch size", "Dropout",
            "Learning rate", "Epochs", "Held-out share", "Time budget (seconds)", "Seed"} <= labels
    assert all(n.help for n in at.number_input)
    assert not button(at, "Start training").disabled
    assert button(at, "Stop training").disabled  # nothing is training
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Model size (parameters)"] and metrics["Estimated time"]


def test_quick_preset_fills_in_its_settings(open_page):
    at = open_page("train")
    at.radio[0].set_value("Quick").run()
    assert number(at, "Layers").value == 1
    assert number(at, "Time budget (seconds)").value == 45
    assert "readable within about a minute" in " ".join(c.value for c in at.caption)


def test_start_training_passes_the_settings_and_watches_the_new_run(open_page, started):
    at = open_page("train")
    at.radio[0].set_value("Quick").run()
    number(at, "Time budget (seconds)").set_value(30).run()
    select(at, "Architecture").set_value("lstm").run()
    at.text_input[0].set_value("my-first-run").run()
    button(at, "Start training").click().run()
    assert not at.exception and not at.error
    (call,) = started
    assert call["corpus"] == ["builtin:sample"]
    assert call["out_dir"].name == "my-first-run"
    assert call["options"] == {"preset": "quick", "time_budget": 30.0, "arch": "lstm"}
    assert at.selectbox(key="train_watch").value == "my-first-run"
    assert any("Waiting in the queue: number 1" in i.value for i in at.info)
    assert not button(at, "Stop training").disabled


def test_subword_tokens_come_with_their_vocabulary_size(open_page, started):
    at = open_page("train")
    assert "Vocabulary size" not in {n.label for n in at.number_input}  # characters need none
    select(at, "Tokenizer").set_value("bpe").run()
    assert number(at, "Vocabulary size").value == 1024
    number(at, "Vocabulary size").set_value(500).run()
    button(at, "Start training").click().run()
    assert not at.exception and not at.error
    (call,) = started
    assert call["options"]["tokenizer"] == "bpe" and call["options"]["max_vocab"] == 500


def test_a_bad_run_name_is_explained(open_page, started):
    at = open_page("train")
    at.text_input[0].set_value("../escape").run()
    button(at, "Start training").click().run()
    assert not started
    assert any("is not a usable run name" in e.value for e in at.error)


def test_live_progress_chart_samples_and_overfitting_warning(open_page, app_home):
    losses = [(10, 3.0, 2.6), (20, 2.5, 2.2), (30, 2.0, 2.3), (40, 1.6, 2.45), (50, 1.3, 2.6)]
    metrics = []
    for step, train, val in losses:
        metrics.append({"step": step, "epoch": 0.1, "time": step / 10, "train_loss": train,
                        "val_loss": val, "chars_per_sec": 12000.0})
    run_dir = fake_run(app_home, "live-run", metrics=metrics, step=50, total_steps=100, device="CPU",
                       samples=[{"step": 50, "text": "Once upon a tide"}])
    at = open_page("train")
    assert at.selectbox(key="train_watch").value == "live-run"  # the active run is found again
    assert len(at.get("plotly_chart")) == 1
    assert at.get("progress")[0].value == 50
    metrics_shown = {m.label: m.value for m in at.metric}
    assert metrics_shown["Step"] == "50" and metrics_shown["Speed (chars/s)"] == "12,000"
    assert metrics_shown["Device"] == "CPU"
    assert any("started memorising" in w.value for w in at.warning)
    assert any("Once upon a tide" in c.value for c in at.code)
    # New points are read incrementally on the next refresh.
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 60, "time": 6.0, "train_loss": 1.2}) + "\n")
    at.run()
    assert {m.label: m.value for m in at.metric}["Training loss"] == "1.200"
    assert not button(at, "Stop training").disabled
    button(at, "Stop training").click().run()
    assert (run_dir / "STOP").exists()


def test_a_finished_run_shows_its_result_and_leads_to_generate(open_page, app_home_with_run, quick_run_dir):
    at = open_page("train")
    assert at.selectbox(key="train_watch").value == quick_run_dir.name
    assert any("Training completed" in s.value and "bits per character" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1
    button(at, "Generate text with this model").click().run()
    assert at.title[0].value == "Generate"
    assert at.selectbox[0].value.endswith(quick_run_dir.name)


def test_fine_tune_keeps_the_base_shape_and_lowers_the_learning_rate(open_page, app_home_with_run,
                                                                     quick_run_dir, started):
    at = open_page("train", session_state={"finetune_from": quick_run_dir.name})
    assert at.selectbox(key="train_init_from").value == str(app_home_with_run / "runs" / quick_run_dir.name)
    assert select(at, "Architecture").disabled  # the shape comes from the base run
    assert number(at, "Learning rate").value < 2e-3
    assert number(at, "Frozen layers").value == 0
    button(at, "Start training").click().run()
    (call,) = started
    assert call["options"]["init_from"] == str(app_home_with_run / "runs" / quick_run_dir.name)
    assert "layers" not in call["options"] and "arch" not in call["options"]
