"""The loss-curve doctor: its rules on made-up curves, and its notes on real runs made to
overfit, diverge and plateau, as the job writes them and as Train, Runs and the report show them."""

from __future__ import annotations

import json
import math
import shutil
import string
from pathlib import Path

import pytest

from textgen import charts, doctor, files, report
from textgen.config import resolve_config
from textgen.i18n import catalog, translate
from textgen.training import train

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"


def replay(records, config=None):
    """The notes a job writes as these records arrive one by one (callbacks.Doctor)."""
    notes = []
    for i in range(len(records)):
        notes += doctor.diagnose(records[:i + 1], config or {}, notes)
    return notes


def make_records(train_losses, val_every=5, val=None, lr=5e-3, step_every=10):
    """Records every ``step_every`` steps with the given training losses; a held-out score
    (``val(i)``) on every ``val_every``-th record."""
    records = []
    for i, loss in enumerate(train_losses):
        record = {"step": (i + 1) * step_every, "time": (i + 1) * 0.5, "train_loss": loss, "lr": lr}
        if val is not None and i % val_every == val_every - 1:
            record["val_loss"] = val(i)
        records.append(record)
    return records


def falling(n, start=3.0, end=1.5):
    return [end + (start - end) * math.exp(-4 * i / n) for i in range(n)]


def zh(text, **params):
    return translate(text, "zh", **params)


# --- the rules on made-up curves ------------------------------------------------------------


def test_a_healthy_falling_curve_gets_no_notes():
    train_losses = falling(200)
    records = make_records(train_losses, val=lambda i: train_losses[i] + 0.1)
    assert replay(records, {"learning_rate": 5e-3}) == []


def test_a_held_out_loss_that_rises_while_training_falls_is_noted_once_as_overfitting():
    train_losses = falling(200, end=0.5)
    # Held-out falls to its best at record 80, then climbs steadily.
    records = make_records(train_losses, val=lambda i: 2.0 - i / 200 if i < 80 else 1.6 + (i - 80) / 150)
    notes = replay(records)
    assert [n["kind"] for n in notes] == ["overfitting"]
    (note,) = notes
    assert note["params"]["best_step"] == 800
    assert "started memorising" in note["message"] and "more dropout" in note["message"]
    assert "best checkpoint is already kept" in note["message"]
    assert note["message"] == note["template"].format(**note["params"])


def test_overfitting_needs_a_falling_training_loss_and_a_real_rise():
    rising = [{"step": s, "train_loss": t, "val_loss": v}
              for s, t, v in [(1, 3.0, 2.5), (2, 2.0, 2.0), (3, 1.5, 2.2), (4, 1.0, 2.4)]]
    assert doctor.overfitting(rising)["params"] == {"best": 2.0, "best_step": 2, "latest": 2.4}
    improving = [dict(r, val_loss=3 - r["step"] * 0.1) for r in rising]
    assert doctor.overfitting(improving) is None
    flat_training = [dict(r, train_loss=2.0) for r in rising]
    assert doctor.overfitting(flat_training) is None
    noise = [dict(r, val_loss=2.0 + 0.01 * (r["step"] > 2)) for r in rising]  # 0.5 % above the best
    assert doctor.overfitting(noise) is None


def test_overfitting_is_noted_again_only_after_the_held_out_loss_improved_again():
    train_losses = falling(300, end=0.5)

    def val(i):
        if i < 60:
            return 2.0 - i / 100          # best 1.41 at record 59
        if i < 120:
            return 1.41 + (i - 60) / 200  # rises: the first note
        if i < 200:
            return 1.71 - (i - 120) / 100  # falls to a new best 0.92: cleared
        return 0.92 + (i - 200) / 200     # rises again: the second note

    notes = replay(make_records(train_losses, val=val))
    assert [n["kind"] for n in notes] == ["overfitting", "overfitting"]
    assert 600 < notes[0]["step"] < 1200 < 2000 < notes[1]["step"]


def test_a_training_loss_that_runs_away_is_noted_as_diverging_with_a_third_of_the_rate():
    train_losses = falling(60, end=2.0) + [2.0 + 0.15 * i for i in range(1, 30)]
    notes = replay(make_records(train_losses, lr=0.01))
    assert [n["kind"] for n in notes] == ["diverging"]
    message = notes[0]["message"]
    assert "rising" in message and "0.003" in message and "--learning-rate 0.003" in message
    assert notes[0]["params"]["lower"] == doctor.lower_learning_rate(0.01) == 0.003


def test_noisy_training_loss_is_not_diverging():
    train_losses = [2.0 + (0.15 if i % 2 else -0.15) for i in range(200)]
    assert doctor.diverging(make_records(train_losses), {}) is None
    assert [n["kind"] for n in replay(make_records(train_losses))] == []


def test_a_nan_loss_is_diverging():
    records = make_records(falling(20)) + [{"step": 500, "train_loss": float("nan"), "lr": 0.5}]
    note = doctor.diverging(records, {})
    assert note["kind"] == "diverging" and note["step"] == 500 and "NaN" in note["message"]
    assert note["params"]["lower"] == 0.2


def test_flat_curves_are_a_plateau_unless_the_rate_has_decayed():
    n = 300
    train_losses = falling(60, end=1.8) + [1.8 + 0.01 * math.sin(i) for i in range(n - 60)]
    records = make_records(train_losses, val=lambda i: train_losses[i] + 0.1)
    notes = replay(records, {"learning_rate": 5e-3})
    assert [n["kind"] for n in notes] == ["plateau"]
    assert "learnt what it can" in notes[0]["message"] and "stop here" in notes[0]["message"]
    decayed = [dict(r, lr=2e-4) for r in records]
    assert replay(decayed, {"learning_rate": 5e-3}) == []


def test_a_model_stuck_at_a_blind_guess_is_told_its_rate_is_too_low():
    uniform = math.log(65)
    records = make_records([uniform + 0.01] * 100, val=lambda i: uniform, lr=1e-6)
    notes = replay(records, {"learning_rate": 1e-6, "tokenizer": "char", "vocab_size": 65})
    assert [n["kind"] for n in notes] == ["plateau"]
    assert "too low" in notes[0]["message"] and "1e-05" in notes[0]["message"]


def test_a_run_that_ended_diverged_gets_its_own_note():
    note = doctor.diverged_note(42, 0.9, 0.002)
    assert note["kind"] == "diverging" and note["step"] == 42 and "0.002" in note["message"]


def test_every_sentence_the_doctor_says_has_a_chinese_translation_with_the_same_fields():
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}  # noqa: E731
    for template in doctor.MESSAGES.values():
        assert template in catalog("zh"), template
        assert fields(catalog("zh")[template]) == fields(template)
    note = doctor.make_note(10, "plateau", doctor.MESSAGES["plateau"], since=3, before=1.5, now=1.49)
    assert "停滞" not in doctor.note_text(note, zh) and "模型能学的已经学到了" in doctor.note_text(note, zh)
    assert doctor.note_text({"message": "An old note."}, zh) == "An old note."


def test_notes_are_marked_on_the_loss_chart_and_follow_a_fine_tunes_steps():
    records = make_records(falling(20), val=lambda i: 2.5)
    note = doctor.make_note(100, "plateau", doctor.MESSAGES["plateau"], since=50, before=2.5, now=2.5)
    fig = charts.loss_figure(records, notes=[note])
    mark = next(t for t in fig.data if t.name == "plateau")
    assert list(mark.x) == [100] and list(mark.y) == [2.5] and "learnt what it can" in mark.text[0].replace("<br>", " ")
    base = [{"step": 1000, "train_loss": 2.0}]
    fig = charts.loss_figure(records, base_records=base, notes=[note], translate=zh)
    mark = next(t for t in fig.data if t.name == "停滞")
    assert list(mark.x) == [1100] and "模型能学的已经学到了" in mark.text[0].replace("<br>", "")
    fig = charts.loss_figure(records, x="time", notes=[note])
    assert list(next(t for t in fig.data if t.name == "plateau").x) == [5.0]


# --- real runs made to overfit, diverge and plateau -----------------------------------------

TINY_GRU = dict(arch="gru", layers=1, embedding_dim=16, seq_len=32, batch_size=16, dropout=0.0,
                time_budget=0, eval_every_s=0.5, sample_every_s=0, seed=1)
# Each made to show one kind in seconds, by steps (epochs) rather than the clock, so a busy
# machine changes how often they are scored, not what they learn.
MADE_TO = {
    # 2,700 characters of training text, a model big enough to learn them by heart.
    "overfit": (3000, dict(units=128, embedding_dim=32, learning_rate=4e-3, epochs=80, patience=60)),
    # The top of the learning-rate range on a wide model: the loss runs away in a few steps.
    "diverge": (20_000, dict(units=256, embedding_dim=64, learning_rate=1.0, epochs=6)),
    # A learning rate so small that nothing moves, held there (no decay to fall under
    # doctor.TINY_LR_SHARE however late a busy machine scores it), and no early stop: on a
    # quiet machine six scores without improvement come within the first hundred steps,
    # before a plateau is long enough to be one. By the clock, not by steps: a plateau must
    # span a fifth of the steps and four scores, and scores come by the clock, so a fast
    # machine would run a fixed number of steps in too few scores.
    "plateau": (20_000, dict(units=32, learning_rate=1e-6, min_lr_ratio=1.0, epochs=1000, time_budget=15,
                             eval_every_s=0.25, patience=1000)),
}


@pytest.fixture(scope="module")
def made_runs(tmp_path_factory):
    """{"overfit" | "diverge" | "plateau": run folder} of real runs, trained once for this module."""
    root = tmp_path_factory.mktemp("doctor-runs")
    text = CORPUS.read_text(encoding="utf-8")
    found = {}
    for name, (chars, settings) in MADE_TO.items():
        corpus = root / f"{name}.txt"
        corpus.write_text(text[:chars], encoding="utf-8")
        config = resolve_config("quick", **{**TINY_GRU, **settings})
        train([str(corpus)], root / name, config, log=lambda m: None)
        found[name] = root / name
    return found


def notes_of(run_dir):
    return files.read_jsonl(Path(run_dir) / doctor.NOTES_FILE)[0]


def test_a_run_made_to_overfit_notes_overfitting(made_runs):
    notes = notes_of(made_runs["overfit"])
    assert [n["kind"] for n in notes] == ["overfitting"]
    assert "started memorising" in notes[0]["message"]
    assert files.read_json(made_runs["overfit"] / "status.json")["state"] == "completed"


def test_a_run_made_to_diverge_notes_diverging_and_what_to_train_with(made_runs):
    status = files.read_json(made_runs["diverge"] / "status.json")
    assert status["state"] == "failed" and status["message"].startswith("Training diverged")
    notes = notes_of(made_runs["diverge"])
    assert {n["kind"] for n in notes} == {"diverging"}
    assert notes[-1]["params"]["lower"] == 0.01 and "Train again with 0.01 or lower" in notes[-1]["message"]
    assert notes[-1]["step"] == status["step"]


def test_a_run_made_to_plateau_notes_a_plateau(made_runs):
    notes = notes_of(made_runs["plateau"])
    assert [n["kind"] for n in notes] == ["plateau"]
    assert "too low to learn anything" in notes[0]["message"]


def test_a_resumed_run_keeps_its_notes_up_to_where_it_continues(made_runs, tmp_path):
    run = tmp_path / "plateau"
    shutil.copytree(made_runs["plateau"], run)
    kept = notes_of(run)
    step = files.read_json(run / "status.json")["step"]
    files.append_jsonl(run / doctor.NOTES_FILE, doctor.diverged_note(step + 1000, 0.1, 0.01))  # after the checkpoint
    config = resolve_config("quick", **{**TINY_GRU, **MADE_TO["plateau"][1], "time_budget": 17})
    train([], run, config, explicit={"time_budget": 17}, resume=True, log=lambda m: None)
    assert files.read_json(run / "status.json")["step"] > step
    notes = notes_of(run)
    assert notes[:len(kept)] == kept and all(n["step"] < step + 1000 for n in notes)


def test_the_report_tells_what_the_doctor_saw_in_both_languages(made_runs):
    english = report.build_report(made_runs["overfit"])
    assert "What the doctor saw" in english and "started memorising" in english
    assert '"name":"overfitting"' in english.replace(" ", "")  # the mark on the chart
    chinese = report.build_report(made_runs["overfit"], language="zh")
    assert "损失曲线诊断" in chinese and "模型开始死记硬背了" in chinese


def test_a_report_of_a_run_without_notes_has_no_doctor_section(made_runs, tmp_path):
    run = tmp_path / "quiet"
    shutil.copytree(made_runs["plateau"], run)
    (run / doctor.NOTES_FILE).unlink(missing_ok=True)
    assert "What the doctor saw" not in report.build_report(run)


# --- the pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang, expected", [("en", "started memorising"), ("zh", "模型开始死记硬背了")])
def test_runs_shows_the_chosen_runs_notes(open_page, app_home, made_runs, lang, expected):
    shutil.copytree(made_runs["overfit"], app_home / "runs" / "overfit")
    # A busy machine's first Runs page of a process (its charts and the doctor's notes) took over 30 s once.
    at = open_page("runs", session_state={"lang": lang})
    assert not at.exception
    assert ("What the doctor saw" if lang == "en" else "损失曲线诊断") in [s.value for s in at.subheader]
    assert any(expected in w.value for w in at.warning)


@pytest.mark.parametrize("lang, expected", [("en", "Training diverged and was stopped"),
                                            ("zh", "训练发散了，已在第")])
def test_train_shows_the_notes_under_the_chart_and_on_it(open_page, app_home, made_runs, lang, expected):
    shutil.copytree(made_runs["diverge"], app_home / "runs" / "diverge")
    at = open_page("train", session_state={"lang": lang})
    assert not at.exception
    assert any(expected in e.value for e in at.error)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert ("diverging" if lang == "en" else "发散") in [trace.get("name") for trace in figure["data"]]
