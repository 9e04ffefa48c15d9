"""AppTest: the Runs page (table, curves, download, delete + undo, fine-tune)."""

import zipfile
import io
from tests.conftest import button


def test_without_runs_the_page_says_what_to_do(open_page):
    at = open_page("runs")
    assert any("No runs yet" in i.value for i in at.info)


def test_a_finished_run_is_listed_with_its_curves(open_page, app_home_with_run, quick_run_dir):
    at = open_page("runs")
    table = at.dataframe[0].value
    row = table[table["Run"] == quick_run_dir.name].iloc[0]
    assert row["State"] == "completed" and row["Architecture"] == "GRU" and row["Preset"] == "quick"
    assert row["Parameters"] > 0 and 0 < row["Best bits/char"] < 10
    assert at.multiselect[0].value == [quick_run_dir.name]
    assert len(at.get("plotly_chart")) == 1
    assert at.download_button[0].label == "Download as zip"
    assert button(at, "Resume").disabled  # completed runs have nothing to resume


def test_the_zip_holds_the_run(app_home_with_run, quick_run_dir):
    from textgen import archive

    names = zipfile.ZipFile(io.BytesIO(archive.zip_run(app_home_with_run / "runs" / quick_run_dir.name))).namelist()
    assert f"{quick_run_dir.name}/model.keras" in names


def test_delete_and_undo(open_page, app_home_with_run, quick_run_dir):
    at = open_page("runs")
    assert quick_run_dir.name in at.multiselect[0].value
    button(at, "Delete").click().run()
    assert not at.exception
    assert not (app_home_with_run / "runs" / quick_run_dir.name).exists()
    assert any(f"Deleted {quick_run_dir.name}" in i.value for i in at.info)
    button(at, "Undo").click().run()
    assert (app_home_with_run / "runs" / quick_run_dir.name).exists()
    assert quick_run_dir.name in list(at.dataframe[0].value["Run"])
    # back where it was: among the runs compared too
    assert quick_run_dir.name in at.multiselect[0].value


def test_fine_tune_from_this_run_opens_train_with_it_selected(open_page, app_home_with_run, quick_run_dir):
    at = open_page("runs")
    button(at, "Fine-tune from this run").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_init_from").value == str(app_home_with_run / "runs" / quick_run_dir.name)


def test_resume_restarts_a_stopped_run_on_its_own_corpus(open_page, app_home, monkeypatch):
    import os

    from textgen import files, jobs, runs

    run_dir = app_home / "runs" / "stopped-run"
    (run_dir / "checkpoint").mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru",
                                                     "corpus": {"name": "x", "sources": ["builtin:sample"]}})
    runs.write_status(run_dir, state="stopped", started_at=1.0, best_val_loss=1.5)
    calls = []

    def fake_start(corpus, out_dir, options):
        calls.append((corpus, out_dir, options))
        runs.write_status(out_dir, state="queued", pid=os.getpid())
        return os.getpid()

    monkeypatch.setattr(jobs, "start_training", fake_start)
    at = open_page("runs")
    button(at, "Resume").click().run()
    assert not at.exception
    assert calls == [(["builtin:sample"], run_dir, {"resume": True})]
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_watch").value == "stopped-run"


def test_selected_runs_are_ranked_best_first(open_page, app_home_with_run, quick_run_dir):
    from textgen import files, runs

    worse = app_home_with_run / "runs" / "worse-run"
    worse.mkdir()
    files.atomic_write_json(worse / "config.json", {"preset": "quick", "arch": "lstm",
                                                   "corpus": {"name": "builtin:sample"}})
    runs.write_status(worse, state="completed", started_at=2e9, best_val_loss=5.0)
    files.append_jsonl(worse / "metrics.jsonl", {"step": 1, "time": 1.0, "train_loss": 5.5, "val_loss": 5.0})
    at = open_page("runs")
    at.multiselect[0].set_value(["worse-run", quick_run_dir.name]).run()
    assert not at.exception
    ranking = at.dataframe[1].value
    assert list(ranking["Run"]) == [quick_run_dir.name, "worse-run"]
    assert list(ranking["Rank"]) == [1, 2]
    assert ranking["Best bits/char"].is_monotonic_increasing
    assert ranking["Behind the best"].iloc[0] == 0


def test_a_report_can_be_downloaded_with_this_sessions_texts(open_page, app_home_with_run, quick_run_dir):
    import html

    from textgen import report

    at = open_page("generate")
    next(n for n in at.number_input if n.label == "Length").set_value(30)
    at.text_area[0].input("The lighthouse")
    button(at, "Generate").click().run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert "Download report (HTML)" in [b.label for b in at.download_button]
    path = str(app_home_with_run / "runs" / quick_run_dir.name)
    extra = report.session_samples(path, at.session_state["generated"], None)
    assert len(extra) == 1 and extra[0]["text"].startswith("The lighthouse")
    # No seed was typed: the one drawn for it is named, so that the text can be written again.
    seed = at.session_state["generated"]["settings"]["seed"]
    assert isinstance(seed, int) and extra[0]["label"] == f"Generated (temperature 0.8, seed {seed})"
    page = report.build_report(path, extra)
    assert quick_run_dir.name in page and html.escape(extra[0]["text"]) in page


def scored_run(home, name, corpus_name, sha256, loss=2.0, points=((10, 2.4, 2.2), (20, 2.1, 2.0))):
    """A finished run folder as training writes it, without training."""
    from textgen import files, runs

    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "tokenizer": "char",
                                                     "corpus": {"name": corpus_name, "sha256": sha256}})
    runs.write_status(run_dir, state="completed", started_at=1.7e9, best_val_loss=loss)
    for step, train, val in points:
        files.append_jsonl(run_dir / "metrics.jsonl", {"step": step, "time": step / 10, "train_loss": train,
                                                      "val_loss": val})
    return run_dir


def mixed_corpora_caption(at) -> bool:
    return any("learnt different texts" in c.value for c in at.caption)


def test_the_same_text_pasted_and_uploaded_is_one_corpus(open_page, app_home):
    scored_run(app_home, "pasted", "pasted text", "ab" * 32)
    scored_run(app_home, "uploaded", "story.txt", "ab" * 32, loss=2.5)
    at = open_page("runs")
    at.multiselect[0].set_value(["pasted", "uploaded"]).run()
    assert not mixed_corpora_caption(at)


def test_runs_on_different_texts_are_told_apart_even_under_one_name(open_page, app_home):
    scored_run(app_home, "first", "story.txt", "ab" * 32)
    scored_run(app_home, "second", "story.txt", "cd" * 32, loss=2.5)
    at = open_page("runs")
    at.multiselect[0].set_value(["first", "second"]).run()
    assert mixed_corpora_caption(at)


def test_a_run_with_one_held_out_point_is_drawn_around_its_score(open_page, app_home):
    import json
    import math

    scored_run(app_home, "one-point", "story.txt", "ab" * 32, loss=1.2, points=((50, 1.4, 1.2),))
    at = open_page("runs")
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    low, high = figure["layout"]["yaxis"]["range"]
    bits = 1.2 / math.log(2)
    assert 0 <= low < bits < high < 2 * bits


def test_a_job_still_starting_up_is_listed_as_starting(open_page, app_home):
    import os
    import time

    from textgen import runs

    run_dir = app_home / "runs" / "just-started"
    run_dir.mkdir(parents=True)
    runs.write_status(run_dir, state="queued", pid=os.getpid(), queued_at=time.time(), waiting_since=None)
    at = open_page("runs")
    table = at.dataframe[0].value
    assert table[table["Run"] == "just-started"].iloc[0]["State"] == "starting"


def test_a_run_gets_a_title_on_the_runs_page_and_the_lists_show_it(open_page, app_home_with_run, quick_run_dir):
    import json

    name = quick_run_dir.name
    at = open_page("runs")
    key_before = at.multiselect[0].key
    at.text_input(key=f"runs_title_{name}").input("Team notes")
    at.button(key="runs_save_title").click().run()
    assert not at.exception
    config = json.loads((app_home_with_run / "runs" / name / "config.json").read_text(encoding="utf-8"))
    assert config["title"] == "Team notes" and config["arch"] == "gru"
    assert any("Title saved" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert table[table["Run"] == name].iloc[0]["Title"] == "Team notes"
    label = at.selectbox(key="runs_manage").options[0]
    assert label.startswith("Team notes (completed, ") and label.endswith(" bits/char)")
    assert at.multiselect[0].options == [label]
    # The browser sends chips back by their labels, and the label just changed: the widget
    # is a new one, holding the same choice, so no chip can come back under its old label.
    assert at.multiselect[0].value == [name] and at.multiselect[0].key != key_before
    at.switch_page("pages/train.py").run()
    assert label in at.selectbox(key="train_watch").options
    assert label in at.selectbox(key="train_init_from").options
    at.switch_page("pages/runs.py").run()
    button(at, "Delete").click().run()
    assert any(i.value == "Deleted Team notes." for i in at.info)  # by the name people know it by
    button(at, "Undo").click().run()
    assert not at.exception and (app_home_with_run / "runs" / name).exists()


def test_an_active_runs_title_cannot_be_changed(open_page, app_home):
    import os
    import time

    from textgen import files, runs

    run_dir = app_home / "runs" / "busy"
    run_dir.mkdir(parents=True)
    files.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru", "corpus": {"name": "x"}})
    runs.write_status(run_dir, state="running", pid=os.getpid(), started_at=time.time())
    at = open_page("runs")
    assert at.button(key="runs_save_title").disabled and at.text_input(key="runs_title_busy").disabled
    assert any("This run is still training. Change its title once it has stopped." in c.value for c in at.caption)


def test_a_fine_tuned_run_is_marked_as_such_in_every_list(open_page, app_home_with_run, quick_run_dir):
    import json
    import re

    from textgen import files
    from pages._shared import ASSETS_DIR

    run_dir = app_home_with_run / "runs" / quick_run_dir.name
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    files.atomic_write_json(run_dir / "config.json",
                            dict(config, init_from=str(ASSETS_DIR / "base-model"), title="Team notes"))
    at = open_page("runs")
    label = at.selectbox(key="runs_manage").options[0]
    assert re.fullmatch(r"Team notes \(fine-tuned from base-model; completed, \d+\.\d\d bits/char\)", label)
    table = at.dataframe[0].value
    assert table.iloc[0]["Fine-tuned from"] == "base-model"
    at.switch_page("pages/train.py").run()
    assert label in at.selectbox(key="train_watch").options
    assert label in at.selectbox(key="train_init_from").options
    at.switch_page("pages/generate.py").run(timeout=120)
    assert label in at.selectbox(key="generate_model").options
    chinese = open_page("runs", session_state={"lang": "zh"})
    assert re.fullmatch(r"Team notes（由 base-model 微调；已完成，每字符 \d+\.\d\d 比特）",
                        chinese.selectbox(key="runs_manage").options[0])


def test_the_chosen_runs_samples_can_be_watched_from_noise_to_words(open_page, app_home):
    from textgen import files

    run_dir = scored_run(app_home, "watched", "story.txt", "ab" * 32, loss=2.0)
    for sample in ({"step": 5, "time": 0.5, "text": "qxz kvv"}, {"step": 15, "time": 1.5, "text": "the sen"},
                   {"step": 20, "time": 2.0, "text": "The sea", "kept": True}):
        files.append_jsonl(run_dir / "samples.jsonl", sample)
    scored_run(app_home, "silent", "story.txt", "ab" * 32)  # no samples
    at = open_page("runs")
    at.selectbox(key="runs_manage").set_value("watched").run()
    assert "Watch it learn" in [s.value for s in at.subheader]
    slider = at.select_slider(key="watch_learn_watched")
    assert slider.value == 2 and at.code[-1].value == "The sea"
    slider.set_value(0).run()
    assert at.code[-1].value == "qxz kvv"
    assert any(c.value == "Step 5 · after 0 s of training · no held-out loss measured yet" for c in at.caption)
    at.select_slider(key="watch_learn_watched").set_value(1).run()
    assert at.code[-1].value == "the sen"
    assert any(c.value == "Step 15 · after 2 s of training · held-out loss 2.200 nats per character "
               "(measured at step 10)" for c in at.caption)
    at.selectbox(key="runs_manage").set_value("silent").run()
    assert not at.select_slider and "This run wrote no samples while it trained." in [c.value for c in at.caption]
