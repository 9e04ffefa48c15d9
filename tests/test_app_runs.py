"""AppTest: the Runs page (table, curves, download, delete + undo, fine-tune)."""

import zipfile
import io


def button(at, label):
    return next(b for b in at.button if b.label == label)


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
    from textgen import runs

    names = zipfile.ZipFile(io.BytesIO(runs.zip_run(app_home_with_run / "runs" / quick_run_dir.name))).namelist()
    assert f"{quick_run_dir.name}/model.keras" in names


def test_delete_and_undo(open_page, app_home_with_run, quick_run_dir):
    at = open_page("runs")
    button(at, "Delete").click().run()
    assert not at.exception
    assert not (app_home_with_run / "runs" / quick_run_dir.name).exists()
    assert any(f"Deleted {quick_run_dir.name}" in i.value for i in at.info)
    button(at, "Undo").click().run()
    assert (app_home_with_run / "runs" / quick_run_dir.name).exists()
    assert quick_run_dir.name in list(at.dataframe[0].value["Run"])


def test_fine_tune_from_this_run_opens_train_with_it_selected(open_page, app_home_with_run, quick_run_dir):
    at = open_page("runs")
    button(at, "Fine-tune from this run").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_init_from").value == str(app_home_with_run / "runs" / quick_run_dir.name)


def test_resume_restarts_a_stopped_run_on_its_own_corpus(open_page, app_home, monkeypatch):
    import os

    from textgen import jobs, runs

    run_dir = app_home / "runs" / "stopped-run"
    (run_dir / "checkpoint").mkdir(parents=True)
    runs.atomic_write_json(run_dir / "config.json", {"preset": "quick", "arch": "gru",
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
