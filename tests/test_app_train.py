"""AppTest: the Train page (settings, starting, live progress, finished runs)."""

import json
import os
import time

import pytest

from textgen import config, doctor, files, jobs, runs
from tests.conftest import button, select, number


def fake_run(home, name, state="running", metrics=(), samples=(), **status):
    """A run folder as a job writes it, owned by this (living) process."""
    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char",
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
    assert metrics["Model size (parameters)"] and metrics["Time, at most"]


def test_quick_preset_fills_in_its_settings(open_page):
    at = open_page("train")
    at.radio[0].set_value("Quick").run()
    assert number(at, "Layers").value == 1
    assert number(at, "Time budget (seconds)").value == 60
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
    # Just started, the job is loading, not waiting behind anyone.
    assert any(i.value.startswith("Starting:") for i in at.info)
    assert not any("Waiting in the queue" in i.value for i in at.info)
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
    for note in doctor.diagnose(metrics, {}, []):  # what the job's doctor writes on these curves
        files.append_jsonl(run_dir / doctor.NOTES_FILE, note)
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


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("corpus_spec", ["builtin:sample", "builtin:sample-zh"])
def test_the_model_size_shown_is_the_size_of_the_model_training_builds(open_page, corpus_spec):
    from textgen.config import resolve_config
    from textgen.corpus import load_corpus
    from textgen.models import build_model
    from textgen.tokenizers import make_tokenizer

    text = load_corpus(corpus_spec).text
    at = open_page("train", session_state={"corpus_spec": [corpus_spec]})
    for preset in ("Quick", "Balanced"):
        at.radio[0].set_value(preset).run()
        for kind in ("char", "word", "bpe"):
            select(at, "Tokenizer").set_value(kind).run()
            assert not at.exception
            settings = resolve_config(preset.lower(), tokenizer=kind)
            vocab = make_tokenizer(kind, text, settings["max_vocab"]).vocab_size
            built = build_model(settings, vocab).count_params()
            assert metric(at, "Model size (parameters)") == f"{built:,}", (preset, kind)


def test_the_time_estimate_counts_the_tokens_training_will_see():
    from textgen import estimates
    from textgen.config import resolve_config
    from textgen.corpus import load_corpus, split_text
    from textgen.tokenizers import make_tokenizer

    corpus = load_corpus("builtin:sample-zh")
    settings = resolve_config("balanced", tokenizer="bpe")
    found = estimates.run_estimates(settings, ["builtin:sample-zh"], corpus.sha256)
    tokenizer = make_tokenizer("bpe", corpus.text, settings["max_vocab"])
    train_text, _ = split_text(corpus.text, settings["val_fraction"])
    assert found["vocab_size"] == tokenizer.vocab_size
    assert found["train_tokens"] == len(tokenizer.encode(train_text))
    # Chinese subword pieces are about one character long, not the 2.4 of English prose.
    assert found["train_tokens"] > len(train_text) / 2


def test_a_time_budget_of_0_on_quick_starts_a_run_with_no_limit(open_page, started):
    at = open_page("train")
    at.radio[0].set_value("Quick").run()
    number(at, "Time budget (seconds)").set_value(0).run()
    button(at, "Start training").click().run()
    (call,) = started
    assert call["options"]["time_budget"] == 0  # explicit: the preset's 60 s must not apply
    assert jobs.train_command(["x"], call["out_dir"], call["options"])[-2:] == ["--time-budget", "0.0"]


def test_balanced_without_a_time_budget_passes_no_time_budget_flag(open_page, started):
    at = open_page("train")
    button(at, "Start training").click().run()
    (call,) = started
    assert "time_budget" not in call["options"]


@pytest.mark.parametrize("label, value, sentence", [
    ("Sequence length", 5000, "Sequence length takes a whole number from 4 to 4,096, not 5,000."),
    ("Layers", 0, "Layers takes a whole number from 1 to 24, not 0."),
    ("Dropout", 0.95, "Dropout takes a number from 0 to 0.9, not 0.95."),
])
def test_a_setting_out_of_its_range_is_named_and_no_run_starts_with_an_older_value(open_page, started,
                                                                                    label, value, sentence):
    # A box with bounds kept showing the number it refused while Start training used the last
    # one it took; the form now takes the number and says what is wrong with it.
    at = open_page("train")
    number(at, label).set_value(value).run()
    assert not at.exception
    assert any(sentence in e.value and "Change it under Advanced settings" in e.value for e in at.error)
    assert button(at, "Start training").disabled and started == []


def queue_info(at):
    return " ".join(i.value for i in at.info)


def test_a_job_that_waits_for_a_slot_says_its_place_and_who_trains(open_page, app_home):
    fake_run(app_home, "training-now", state="running", step=5, total_steps=100)
    fake_run(app_home, "first-in-line", state="queued", waiting_since=time.time() - 20)
    fake_run(app_home, "second-in-line", state="queued", waiting_since=time.time() - 5)
    at = open_page("train", session_state={"selected_run": "second-in-line"})
    assert ("Waiting in the queue: number 2 in line, while one job is training." in queue_info(at))
    assert "job(s)" not in queue_info(at)


def test_several_jobs_training_are_counted_in_plain_words(open_page, app_home, monkeypatch):
    monkeypatch.setenv("TEXTGEN_MAX_JOBS", "2")
    fake_run(app_home, "one", state="running", step=5, total_steps=100)
    fake_run(app_home, "two", state="running", step=5, total_steps=100)
    fake_run(app_home, "waiting", state="queued", waiting_since=time.time())
    at = open_page("train", session_state={"selected_run": "waiting"})
    assert "number 1 in line, while 2 jobs are training." in queue_info(at)


def test_a_job_still_starting_up_says_it_is_starting(open_page, app_home):
    fake_run(app_home, "just-started", state="queued", queued_at=time.time())
    at = open_page("train")
    assert queue_info(at).startswith("Starting:")
    assert "(starting)" in select(at, "Run to watch").format_func("just-started")


def test_run_to_watch_follows_the_run_from_queued_to_running(open_page, app_home):
    run_dir = fake_run(app_home, "climbing", state="queued", waiting_since=time.time())
    at = open_page("train")
    assert "(queued)" in select(at, "Run to watch").format_func("climbing")
    runs.write_status(run_dir, state="running", step=114, total_steps=1000)
    at.run()
    assert "(running)" in select(at, "Run to watch").format_func("climbing")
    assert metric(at, "Step") == "114"


def test_the_suggested_run_name_follows_the_architecture_until_the_user_edits_it(open_page):
    at = open_page("train")
    assert at.text_input(key="train_run_name").value.startswith("gru-sample-")
    select(at, "Architecture").set_value("lstm").run()
    assert at.text_input(key="train_run_name").value.startswith("lstm-sample-")
    suggested = at.text_input(key="train_run_name").value
    number(at, "Layers").set_value(999).run()  # settings being mended keep the name they had
    assert at.text_input(key="train_run_name").value == suggested
    number(at, "Layers").set_value(2).run()
    at.text_input(key="train_run_name").set_value("my-own-name").run()
    select(at, "Architecture").set_value("transformer").run()
    assert at.text_input(key="train_run_name").value == "my-own-name"


def test_a_model_too_big_for_the_machine_is_refused_before_it_starts(open_page, started, monkeypatch):
    from textgen import capacity

    monkeypatch.setattr(capacity, "host_memory_available", lambda: 23 * 2**30)
    monkeypatch.setattr(capacity, "gpu_names", lambda: [])
    at = open_page("train")
    assert not at.error and not button(at, "Start training").disabled  # Balanced fits
    select(at, "Architecture").set_value("transformer").run()
    number(at, "Units per layer").set_value(8192).run()
    number(at, "Layers").set_value(24).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "parameters and needs about" in errors[0], errors
    assert "GB of memory to train; this machine has 23 GB of memory available. " \
           "Choose fewer layers or units" in errors[0]
    assert button(at, "Start training").disabled
    number(at, "Layers").set_value(2).run()  # a size that fits: the form is usable again
    number(at, "Units per layer").set_value(256).run()
    assert not at.error and not button(at, "Start training").disabled
    button(at, "Start training").click().run()
    assert len(started) == 1


def test_a_loss_that_is_not_a_number_is_shown_as_a_dash(open_page, app_home):
    fake_run(app_home, "diverged", metrics=[{"step": 5, "time": 1.0, "train_loss": float("nan")}],
             step=5, total_steps=100, best_val_loss=float("nan"))
    at = open_page("train")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Training loss"] == "–" and shown["Best held-out loss"] == "–"


def unknown_warnings(at):
    return [w.value for w in at.warning if "<unk>" in w.value]


def test_word_tokens_that_leave_much_text_unknown_are_warned_about(open_page):
    at = open_page("train")
    assert not unknown_warnings(at)  # characters: every character of the corpus is known
    select(at, "Tokenizer").set_value("word").run()
    number(at, "Vocabulary size").set_value(20).run()
    (warning,) = unknown_warnings(at)
    assert "of the held-out text are outside the vocabulary" in warning
    assert "character or subword tokens" in warning
    number(at, "Vocabulary size").set_value(20000).run()
    assert not unknown_warnings(at)  # every word of the sample fits


def test_a_word_fine_tune_onto_text_the_base_does_not_know_says_so(open_page, app_home):
    from textgen.config import resolve_config
    from textgen.training import train

    corpus = app_home / "russian.txt"
    corpus.write_text("Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный.\n" * 40,
                      encoding="utf-8")
    base = app_home / "runs" / "russian-words"
    config = resolve_config("quick", tokenizer="word", layers=1, units=16, embedding_dim=8, seq_len=8,
                            batch_size=8, epochs=1, time_budget=0, seed=1)
    assert train([str(corpus)], base, config, log=lambda m: None)["state"] == "completed"
    at = open_page("train", session_state={"finetune_from": base.name})
    assert at.selectbox(key="train_init_from").value == str(base)
    (warning,) = unknown_warnings(at)
    assert warning.startswith("The base model russian-words does not know")
    assert "character or subword tokens" in warning


def test_a_resumed_run_waiting_to_start_shows_no_old_time_or_eta(open_page, app_home):
    run_dir = fake_run(app_home, "resumed", state="queued", step=300, total_steps=1000, eta_s=0.0,
                       finished_at=time.time() - 3600)
    runs.write_status(run_dir, started_at=time.time() - 7200)  # its first session's start
    at = open_page("train")
    assert {m.label: m.value for m in at.metric}["Time"] == "–"
    assert not at.get("progress")  # no bar at 100 % from the finished session


def small_corpus(home, name, text):
    path = home / name
    path.write_text(text, encoding="utf-8")
    return {"corpus_spec": [str(path)], "corpus_name": name}


def test_a_small_text_the_base_knows_preselects_fine_tuning_it_and_says_why(open_page, app_home):
    from pages._shared import ASSETS_DIR

    text = "The keeper lit the lamp at dusk, and the gulls went quiet over the harbour.\n" * 200
    at = open_page("train", session_state=small_corpus(app_home, "team.txt", text))
    assert select(at, "Fine-tune from").value == str(ASSETS_DIR / "base-model")
    (advice,) = [i.value for i in at.info if "Your text is small" in i.value]
    assert "(15,200 characters), so this run fine-tunes the shipped base model, which already knows" in advice
    select(at, "Fine-tune from").set_value("None (start from scratch)").run()
    at.run()
    assert select(at, "Fine-tune from").value == "None (start from scratch)"  # the choice stays the user's
    assert not [i.value for i in at.info if "Your text is small" in i.value]


def test_the_start_chosen_again_by_hand_stays_when_the_corpus_changes(open_page, app_home):
    from pages._shared import ASSETS_DIR

    at = open_page("train")  # the built-in sample: from scratch, a choice that follows the corpus
    assert select(at, "Fine-tune from").value == "None (start from scratch)"
    select(at, "Fine-tune from").set_value(str(ASSETS_DIR / "base-model")).run()
    select(at, "Fine-tune from").set_value("None (start from scratch)").run()  # the page's choice, by hand
    text = "The keeper lit the lamp at dusk, and the gulls went quiet over the harbour.\n" * 200
    for key, value in small_corpus(app_home, "team.txt", text).items():  # a text the page would fine-tune on
        at.session_state[key] = value
    at.run()
    assert select(at, "Fine-tune from").value == "None (start from scratch)" and not at.exception


def test_a_text_too_small_even_for_the_fine_tunes_windows_gets_the_error_not_the_fine_tunes_promise(
        open_page, app_home):
    text = "The keeper lit the lamp at dusk, and the gulls went quiet.\n" * 5  # 295 characters
    at = open_page("train", session_state=small_corpus(app_home, "tiny.txt", text))
    assert any("set a sequence length of" in e.value for e in at.error)
    assert button(at, "Start training").disabled  # a job started now would only fail
    assert not [i.value for i in at.info if "Your text is small" in i.value]  # it promised a fine-tune that fits
    number(at, "Sequence length").set_value(16).run()  # once its windows fit, the reason comes back
    assert not [e.value for e in at.error if "set a sequence length of" in e.value]
    assert not button(at, "Start training").disabled
    assert [i.value for i in at.info if "Your text is small (295 characters)" in i.value]


def test_a_small_chinese_text_starts_from_scratch_and_says_the_base_knows_little_of_it(open_page, app_home):
    from pages._shared import ASSETS_DIR
    from textgen.suggestions import known_share
    from textgen.tokenizers import load_tokenizer

    text = "春天来了，山村里的桃花开了。孩子们在河边放风筝。\n" * 300
    share = known_share(load_tokenizer(ASSETS_DIR / "base-model" / "tokenizer.json"), text)
    assert share < 0.9  # the base learnt from English, code and a few Chinese paragraphs
    at = open_page("train", session_state=small_corpus(app_home, "春天.txt", text))
    assert select(at, "Fine-tune from").value == "None (start from scratch)"
    (advice,) = [i.value for i in at.info if "knows only" in i.value]
    assert advice.startswith(f"The base model base-model knows only {share:.0%} of this text's characters")


def test_the_built_in_sample_is_not_suggested_for_a_base_pre_trained_on_it(open_page):
    at = open_page("train")
    assert select(at, "Fine-tune from").value == "None (start from scratch)"
    assert not [i.value for i in at.info if "Your text is small" in i.value]


# --- what a refresh keeps ----------------------------------------------------------

NO_BASE = "None (start from scratch)"


def test_a_refresh_keeps_every_setting_on_train(open_page, app_home):
    at = open_page("train")
    select(at, "Fine-tune from").set_value(NO_BASE).run()
    at.radio[0].set_value("Quick").run()
    number(at, "Learning rate").set_value(0.002).run()
    select(at, "Tokenizer").set_value("word").run()
    number(at, "Vocabulary size").set_value(3000).run()
    number(at, "Seed").set_value(42).run()
    number(at, "Time budget (seconds)").set_value(90.0).run()
    assert not at.exception and not at.error
    at.switch_page("app.py").run()  # AppTest runs app.py, which keeps the choices, on Home only

    again = open_page("train")  # a refresh: a new session on the same workspace
    assert not again.exception
    assert again.radio[0].value == "Quick"
    assert select(again, "Fine-tune from").value == NO_BASE
    assert number(again, "Learning rate").value == pytest.approx(0.002)
    assert select(again, "Tokenizer").value == "word"
    assert number(again, "Vocabulary size").value == 3000
    assert (number(again, "Seed").value, number(again, "Time budget (seconds)").value) == (42, 90.0)
    assert number(again, "Layers").value == 1  # untouched settings keep the preset's values
    assert not [w.value for w in again.warning if "Session State API" in w.value]
    again.session_state["lang"] = "zh"  # and a language switch
    again.run()
    assert not again.exception
    assert again.radio[0].value == "Quick"
    assert next(n for n in again.number_input if n.label == "学习率").value == pytest.approx(0.002)


def test_remembered_settings_that_no_longer_fit_fall_back_to_the_defaults_and_numbers_out_of_range_are_said(
        open_page, app_home):
    files.atomic_write_json(app_home / "app-state.json", {
        "train_preset": "Enormous", "train_init_from": str(app_home / "runs" / "deleted-run"),
        "arch_balanced_": "rnn", "tok_balanced_": "morse", "adv_layers_balanced_": 999,
        "adv_learning_rate_balanced_": "fast", "adv_seed_balanced_": -5, "adv_dropout_balanced_": True,
        "adv_epochs_balanced_": 12, "adv_units_balanced_": 2.5})
    at = open_page("train")
    assert not at.exception
    assert at.radio[0].value == "Balanced"
    assert select(at, "Fine-tune from").value != str(app_home / "runs" / "deleted-run")
    assert select(at, "Tokenizer").value == "char"
    defaults = config.resolve_config("balanced")
    assert number(at, "Learning rate").value == pytest.approx(defaults["learning_rate"])  # not a number
    assert number(at, "Dropout").value == pytest.approx(defaults["dropout"])
    assert number(at, "Units per layer").value == defaults["units"]  # not a whole number
    assert number(at, "Epochs").value == 12  # what still fits is kept
    # A number out of range comes back as it was typed, with the sentence it had before the refresh.
    assert number(at, "Layers").value == 999 and number(at, "Seed").value == -5
    said = " ".join(e.value for e in at.error)
    assert "Layers takes a whole number from 1 to 24, not 999." in said
    assert "Seed takes a whole number from 0 to 2,147,483,647, not -5." in said
    assert button(at, "Start training").disabled


def test_a_damaged_app_state_file_means_nothing_is_remembered(open_page, app_home):
    (app_home / "app-state.json").write_text('{"train_preset": "Qu', encoding="utf-8")
    at = open_page("train")
    assert not at.exception
    assert at.radio[0].value == "Balanced"


def copied_sample_run(home, name, state, samples):
    """A fake run whose config names the built-in sample as its training text, so the copy
    meter can index it."""
    run_dir = fake_run(home, name, state=state, samples=samples, step=300, total_steps=1000, device="CPU")
    files.atomic_write_json(run_dir / "config.json", {
        "preset": "quick", "arch": "gru", "tokenizer": "char", "val_fraction": 0.1, "parameters": 1234,
        "corpus": {"name": "builtin:sample", "sources": ["builtin:sample"]}})
    return run_dir


def test_the_latest_live_sample_carries_the_copy_meter_and_says_when_it_is_mostly_copied(open_page, app_home):
    from textgen.corpus import builtin_text

    copied = builtin_text("sample")[5000:5240]
    copied_sample_run(app_home, "copying", "running", [
        {"step": 100, "time": 10.0, "text": "thee wonld the sande of hes", "temperature": 0.8, "seed": 100},
        {"step": 90, "time": 12.0, "text": "KEPT MODEL TEXT", "temperature": 0.8, "seed": 100, "kept": True},
        {"step": 200, "time": 20.0, "text": copied, "temperature": 0.8, "seed": 200}])
    at = open_page("train")
    assert not at.exception
    codes = [c.value for c in at.code]
    assert codes[0] == copied  # the latest first, right under the chart
    assert "KEPT MODEL TEXT" not in codes  # an earlier session's kept sample is not a live one
    # The latest's meter is a few words on its label's line, above the text, so that both fit
    # under the chart on a projector; its whole sentence is its help, the warning under the text.
    latest = next(c for c in at.caption if c.value.startswith("**What the model writes so far**"))
    assert latest.value == "**What the model writes so far** · Step 200 · 100% copied"
    assert latest.help.startswith("Copied from the training text: 100% of its 12-character pieces")
    assert "Longest copied passage (240 characters)" in latest.help
    (warning,) = [w.value for w in at.warning if w.value.startswith("Mostly copied")]
    assert warning.startswith("Mostly copied: 100% of this text lies in passages of 24 or more characters")
    assert [e.label for e in at.expander if e.label.startswith("Earlier samples")] == ["Earlier samples (1)"]
    assert "thee wonld the sande of hes" in codes  # folded away, with its own meter
    meters = [c.value for c in at.caption if c.value.startswith("Copied from the training text")]
    assert len(meters) == 1


def test_a_finished_run_shows_its_last_live_sample_beside_the_kept_models(open_page, app_home):
    copied_sample_run(app_home, "ended", "completed", [
        {"step": 100, "time": 10.0, "text": "an early try"},  # written before records said how
        {"step": 200, "time": 20.0, "text": "the last live sample", "temperature": 0.8, "seed": 200},
        {"step": 150, "time": 21.0, "text": "what the kept model writes", "temperature": 0.8, "seed": 200,
         "kept": True}])
    at = open_page("train")
    assert not at.exception
    labels = [m.value for m in at.markdown]
    assert "**Last sample during training (step 200)**" in labels
    assert "**From the kept model (step 150), what Generate writes**" in labels
    codes = [c.value for c in at.code]
    assert codes[:2] == ["the last live sample", "what the kept model writes"]
    assert [c.value for c in at.caption].count("Temperature 0.8, seed 200.") == 2
    meters = [c.value for c in at.caption if c.value.startswith("Copied from the training text")]
    assert len(meters) == 3  # the two side by side and the early try under "Earlier samples (1)"
    assert [e.label for e in at.expander if e.label.startswith("Earlier samples")] == ["Earlier samples (1)"]
    assert not [w for w in at.warning if w.value.startswith("Mostly copied")]


def test_a_real_finished_run_shows_what_its_kept_model_writes(open_page, app_home_with_run, quick_run_dir):
    kept = [s for s in files.read_jsonl(quick_run_dir / "samples.jsonl")[0] if s.get("kept")]
    at = open_page("train")
    labels = [m.value for m in at.markdown]
    assert f"**From the kept model (step {kept[-1]['step']}), what Generate writes**" in labels
    # A code block drops a leading line break, which a sample may well start with.
    assert kept[-1]["text"].strip("\n") in [c.value.strip("\n") for c in at.code]
    assert any(c.value.startswith("Copied from the training text") for c in at.caption)


def test_a_title_typed_beside_the_run_name_travels_to_the_job(open_page, started):
    at = open_page("train")
    at.text_input(key="train_run_title").input("  Team notes 团队 ").run()
    button(at, "Start training").click().run()
    assert not at.exception
    (call,) = started
    assert call["options"]["title"] == "Team notes 团队"
    assert "--title" in jobs.train_command(["x"], call["out_dir"], call["options"])
    assert at.text_input(key="train_run_title").value == ""  # the next run starts without one


def test_a_title_of_two_lines_keeps_start_training_off(open_page, started):
    at = open_page("train")
    at.text_input(key="train_run_title").set_value("Team\nnotes").run()
    assert button(at, "Start training").disabled
    assert any("one line of text" in e.value for e in at.error)


def test_the_estimate_says_how_much_text_a_run_reads_once_its_speed_is_measured(open_page, monkeypatch):
    from textgen import speeds

    measured = []

    def fake_probe(settings, vocab_size, timeout_s=300.0):
        measured.append((settings["arch"], vocab_size))
        speeds.remember_speed(settings, vocab_size, speeds.probe_where(), 2000.0)
        return 2000.0

    monkeypatch.setattr(speeds, "measure_in_child", fake_probe)
    at = open_page("train")
    assert not any("Measured on this machine" in c.value for c in at.caption)
    [button] = [b for b in at.button if b.label == "Measure the speed on this machine"]
    button.click().run()
    assert not at.exception and measured and measured[0][0] == "gru"
    assert any("Measured on this machine: 2,000 characters a second" in c.value and "passes over the training"
               in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Measure the speed on this machine"]


LEARNING_SAMPLES = [{"step": 10, "time": 5.0, "text": "xqz vvk ee", "temperature": 0.8, "seed": 10},
                    {"step": 50, "time": 25.0, "text": "the kin hes", "temperature": 0.8, "seed": 50},
                    {"step": 90, "time": 75.0, "text": "The king said", "temperature": 0.8, "seed": 90},
                    {"step": 80, "time": 76.0, "text": "The king spoke", "temperature": 0.8, "seed": 90,
                     "kept": True}]
LEARNING_METRICS = [{"step": 20, "time": 10.0, "train_loss": 3.0, "val_loss": 2.9},
                    {"step": 40, "time": 20.0, "train_loss": 2.3, "val_loss": 2.1},
                    {"step": 80, "time": 40.0, "train_loss": 1.7, "val_loss": 1.6},
                    {"step": 90, "time": 45.0, "train_loss": 1.5}]


def watch_caption(at) -> str:
    """The caption of the sample "Watch it learn" shows (its parts are joined by " · ")."""
    return next(c.value for c in at.caption
                if c.value.startswith(("Step ", "From the kept model (")) and " · " in c.value)


def marked_steps(at) -> list:
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [shape["x0"] for shape in figure["layout"].get("shapes", [])]


def test_watch_it_learn_slides_from_the_first_sample_to_the_kept_models_with_the_loss_then(open_page, app_home):
    fake_run(app_home, "learnt", state="completed", metrics=LEARNING_METRICS, samples=LEARNING_SAMPLES,
             step=90, best_val_loss=1.6)
    at = open_page("train")
    assert not at.exception
    slider = at.select_slider(key="watch_learn_learnt")
    assert slider.label == "Sample" and slider.value == 3  # the kept model's, the last, first
    assert list(slider.options) == ["step 10", "step 50", "step 90", "kept model"]
    assert watch_caption(at) == ("From the kept model (step 80) · after 1 min 16 s of training · held-out loss "
                                 "1.600 nats per character (measured at step 80)  \nThe dashed line on the chart "
                                 "marks this step.")
    assert at.code[-1].value == "The king spoke" and marked_steps(at) == [80]
    slider.set_value(0).run()
    assert watch_caption(at).startswith("Step 10 · after 5 s of training · no held-out loss measured yet  \n")
    assert at.code[-1].value == "xqz vvk ee" and marked_steps(at) == [10]
    at.select_slider(key="watch_learn_learnt").set_value(1).run()
    assert watch_caption(at).startswith("Step 50 · after 25 s of training · held-out loss 2.100 nats per "
                                        "character (measured at step 40)  \n")
    assert at.code[-1].value == "the kin hes" and marked_steps(at) == [50]


def test_watch_it_learn_follows_a_live_runs_new_samples_until_the_user_slides_back(open_page, app_home):
    run_dir = fake_run(app_home, "learning", metrics=LEARNING_METRICS[:2], samples=LEARNING_SAMPLES[:2],
                       step=50, total_steps=100)
    at = open_page("train")
    assert at.select_slider(key="watch_learn_learning").value == 1
    with open(run_dir / "samples.jsonl", "a") as f:
        f.write(json.dumps(LEARNING_SAMPLES[2]) + "\n")
    at.run()
    assert at.select_slider(key="watch_learn_learning").value == 2  # it stood on the newest: it follows
    assert at.code[-1].value == "The king said"
    at.select_slider(key="watch_learn_learning").set_value(0).run()
    with open(run_dir / "samples.jsonl", "a") as f:
        f.write(json.dumps(dict(LEARNING_SAMPLES[2], step=95, text="The king saith")) + "\n")
    at.run()
    assert at.select_slider(key="watch_learn_learning").value == 0  # the user's choice stays
    assert at.code[-1].value == "xqz vvk ee"


def test_watch_it_learn_says_what_it_will_show_before_the_first_sample(open_page, app_home):
    fake_run(app_home, "no-samples-yet", metrics=LEARNING_METRICS[:1], step=20, total_steps=100)
    at = open_page("train")
    assert not at.exception and not at.select_slider
    assert any(c.value.startswith("No samples yet.") for c in at.caption)


def test_watch_it_learn_in_chinese(open_page, app_home):
    fake_run(app_home, "learnt-zh", state="completed", metrics=LEARNING_METRICS, samples=LEARNING_SAMPLES,
             step=90, best_val_loss=1.6)
    at = open_page("train", session_state={"lang": "zh"})
    assert not at.exception
    slider = at.select_slider(key="watch_learn_learnt-zh")
    assert slider.label != "Sample" and "step" not in " ".join(slider.options)
    slider.set_value(1).run()
    assert any(c.value.startswith("第 50 步 · 训练 25 秒后 · 验证损失为每字符 2.100 奈特（在第 40 步测得）")
               for c in at.caption)


def test_balanced_says_how_its_windows_grow_and_quick_says_nothing(open_page):
    at = open_page("train")
    captions = " ".join(c.value for c in at.caption)
    assert ("Windows of 64 tokens, 64 a step (the batch size), until the last tenth of the run; then "
            "windows of 256, 16 a step, so each step still reads 4,096 tokens.") in captions
    at.radio[0].set_value("Quick").run()
    assert "Windows of" not in " ".join(c.value for c in at.caption)
