"""What a loss means: the character n-gram reference, the reference lines and the loss in words."""

from __future__ import annotations

import ast
import json
import math
import shutil
import time
from pathlib import Path

import pytest

from textgen import charts, files, ngram, references
from textgen.corpus import load_corpus, split_text
from textgen.errors import TextgenError
from textgen.i18n import catalog, translate
from textgen.tokenizers import CharTokenizer, WordTokenizer, save_tokenizer
from textgen.unknowns import UNICODE_CHARACTERS
from textgen.units import LN2

TINY_SHAKESPEARE = Path("/work/shared/corpora/tinyshakespeare.txt")
REFS = {"uniform": 4.17, "ngram": 1.67, "ngram_order": 5, "vocab_size": 65}


# --- the n-gram model ------------------------------------------------------------------------


def test_the_ngram_model_matches_a_hand_computation_on_a_tiny_text():
    """Interpolated Witten-Bell on "abab": P(c|h) = (C(hc) + T(h) P(c|h')) / (C(h) + T(h))."""
    model = ngram.fit("abab", order=2)
    # Order 0: the V = 2 training characters and the escape, 1/3 each.
    p0 = 1 / 3
    # Order 1 (empty context): C(a) = C(b) = 2, N = 4 characters, T = 2 kinds.
    p1_a = (2 + 2 * p0) / (4 + 2)  # = 4/9
    p1_escape = (0 + 2 * p0) / (4 + 2)  # = 1/9
    assert model.probability("", "a") == pytest.approx(p1_a) == pytest.approx(4 / 9)
    assert model.probability("", None) == pytest.approx(1 / 9)
    # Order 2, context "a": "ab" twice, so C(a) = 2 and T(a) = 1 (only b follows a).
    assert model.probability("a", "b") == pytest.approx((2 + 1 * p1_a) / (2 + 1)) == pytest.approx(22 / 27)
    assert model.probability("a", "a") == pytest.approx((0 + 1 * p1_a) / 3) == pytest.approx(4 / 27)
    assert model.probability("a", None) == pytest.approx(p1_escape / 3) == pytest.approx(1 / 27)
    # Context "b": "ba" once (the last b is followed by nothing), so C(b) = 1, T(b) = 1.
    assert model.probability("b", "a") == pytest.approx((1 + p1_a) / 2) == pytest.approx(13 / 18)
    assert model.probability("b", None) == pytest.approx(1 / 18)
    # A whole text: "a" (no context), "b" after "a", then "z", never seen: the escape after
    # "b" and a uniform choice among the 1,112,064 - 2 other Unicode characters.
    expected = [math.log(9 / 4), math.log(27 / 22), math.log(18) + math.log(UNICODE_CHARACTERS - 2)]
    assert list(model.char_nats("abz")) == pytest.approx(expected)
    assert model.nats_per_char("abz") == pytest.approx(sum(expected) / 3)
    # Order 3 on the same text: context "ab" is followed once, by "a": C(ab) = 1, T(ab) = 1.
    assert ngram.fit("abab", order=3).probability("ab", "a") == pytest.approx((1 + 13 / 18) / 2)


def test_the_probabilities_over_the_vocabulary_and_the_escape_sum_to_one_in_every_context():
    text = TINY_SHAKESPEARE.read_text(encoding="utf-8")[:20_000]
    model = ngram.fit(text)
    contexts = {text[i:i + 4] for i in range(0, 4_000, 97)} | {"", "e", "th", "zzzz", "€€€€", "Q\n\nX"}
    for context in contexts:
        total = sum(model.probability(context, c) for c in model.alphabet()) + model.probability(context, None)
        assert total == pytest.approx(1.0, abs=1e-9), repr(context)


def test_characters_never_seen_in_training_cost_a_finite_escape():
    model = ngram.fit("hello world")
    nats = model.char_nats("hello €")
    assert all(math.isfinite(n) for n in nats)
    assert nats[-1] > math.log(UNICODE_CHARACTERS - model.vocab_size)  # the escape on top


def test_a_5_gram_beats_the_uniform_guess_on_tinyshakespeare_in_the_measured_band():
    """Measured 2026-12-01: 1.669 nats (2.41 bits) per character on the held-out 10%."""
    train, held_out = split_text(TINY_SHAKESPEARE.read_text(encoding="utf-8"), 0.1)
    began = time.perf_counter()
    score = ngram.fit(train).nats_per_char(held_out)
    took = time.perf_counter() - began
    assert score < math.log(65) - 2
    assert 1.64 < score < 1.70
    assert took < 10  # about 0.6 s on the project's machine


# --- references.json -------------------------------------------------------------------------


def fake_run(folder: Path, text: str, tokenizer, val_fraction: float = 0.1, **settings) -> Path:
    """A run folder with just what the references need: the corpus file, config.json and
    tokenizer.json."""
    folder.mkdir(parents=True)
    corpus_file = folder.parent / f"{folder.name}.txt"
    corpus_file.write_text(text, encoding="utf-8")
    corpus = load_corpus(str(corpus_file))
    files.atomic_write_json(folder / "config.json", {"val_fraction": val_fraction, **settings, "corpus": {
        "sources": corpus.sources, "sha256": corpus.sha256, "name": corpus.name}})
    save_tokenizer(tokenizer, folder / "tokenizer.json")
    return folder


def test_a_real_training_run_writes_its_references(quick_run_dir):
    kept = files.read_json(quick_run_dir / references.REFERENCES_FILE)
    config = files.read_json(quick_run_dir / "config.json")
    assert kept["ngram_order"] == 5 and kept["vocab_size"] == config["vocab_size"]
    assert kept["uniform"] == pytest.approx(math.log(config["vocab_size"]))
    assert 0 < kept["ngram"] < kept["uniform"]
    assert references.reference_losses(quick_run_dir) == {k: kept[k] for k in references.KEYS}


def test_the_references_score_the_held_out_characters_the_curve_is_scored_on(tmp_path):
    text = TINY_SHAKESPEARE.read_text(encoding="utf-8")[:60_000]
    run = fake_run(tmp_path / "run", text, CharTokenizer.fit(text), eval_max_chars=2_000)
    train, held_out = split_text(text, 0.1)
    assert references.reference_losses(run)["ngram"] == pytest.approx(
        ngram.fit(train).nats_per_char(held_out[:2_000]))


def test_a_damaged_references_file_is_worked_out_again(tmp_path):
    text = "the quick brown fox jumps over the lazy dog\n" * 40
    run = fake_run(tmp_path / "run", text, CharTokenizer.fit(text))
    (run / references.REFERENCES_FILE).write_text("{not json", encoding="utf-8")
    found = references.reference_losses(run)
    assert found["uniform"] == pytest.approx(math.log(len(set(text))))
    assert files.read_json(run / references.REFERENCES_FILE)["ngram"] == found["ngram"]


def test_a_run_folder_that_cannot_be_written_still_gets_its_references(tmp_path, monkeypatch):
    text = "abc abd abe " * 50
    run = fake_run(tmp_path / "run", text, CharTokenizer.fit(text))

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(files, "atomic_write_json", refuse)
    found = references.reference_losses(run)
    assert not (run / references.REFERENCES_FILE).exists()
    assert references.cached_references(run) == found  # not worked out again on the next call


def test_a_word_level_runs_uniform_guess_is_converted_to_per_character(tmp_path):
    text = "the cat sat on the mat and the dog sat on the log " * 30
    tokenizer = WordTokenizer.fit(text, max_vocab=100)
    run = fake_run(tmp_path / "words", text, tokenizer)
    _, held_out = split_text(text, 0.1)
    found = references.reference_losses(run)
    tokens = len(tokenizer.encode(held_out))
    assert tokenizer.unknown(held_out) == []  # no spelling charge here
    assert found["uniform"] == pytest.approx(math.log(tokenizer.vocab_size) * tokens / len(held_out))
    assert found["uniform"] < math.log(tokenizer.vocab_size)  # a token covers several characters


def test_a_run_whose_corpus_is_gone_raises_a_sentence(tmp_path):
    text = "some text to learn from " * 40
    run = fake_run(tmp_path / "run", text, CharTokenizer.fit(text))
    (tmp_path / "run.txt").unlink()
    with pytest.raises(TextgenError, match="no longer where it was read from"):
        references.reference_losses(run)
    assert references.cached_references(run) is None


# --- the loss in words ----------------------------------------------------------------------


def test_the_sentence_says_where_the_loss_stands_in_each_of_the_three_regimes():
    above = references.loss_in_words(4.3, REFS, [])
    assert above["regime"] == "uniform" and "0.13 above the uniform guess" in above["sentence"]
    between = references.loss_in_words(2.0, REFS, [])
    assert between["regime"] == "ngram"
    assert "2.17 below the uniform guess but 0.33 above a 5-gram model" in between["sentence"]
    assert "not yet better than counting letter sequences" in between["sentence"]
    below = references.loss_in_words(1.5, REFS, [])
    assert below["regime"] == "beyond"
    assert below["sentence"] == ("Held-out loss now 1.50 nats per character: 2.67 below the uniform guess and "
                                 "0.17 below a 5-gram model of your text, so the network has learnt more "
                                 "than which letters follow which.")


def test_the_sentence_says_whose_loss_it_is_and_drops_yet_once_the_run_ended():
    kept = references.loss_in_words(2.0, REFS, [], kept=True, ended=True)["sentence"]
    assert kept.startswith("The kept model's held-out loss 2.00 nats per character: ")
    assert "yet" not in kept and "did not beat counting letter sequences" in kept
    failed = references.loss_in_words(4.3, REFS, [], kept=True, ended=True)["sentence"]
    assert "yet" not in failed and "did no better than guessing blindly" in failed
    assert "yet" in references.loss_in_words(4.3, REFS, [])["sentence"]


def test_a_loss_within_a_twentieth_of_the_uniform_guess_is_about_the_same_as_it():
    for loss in (4.13, 4.17, 4.21):
        said = references.loss_in_words(loss, REFS, [])["sentence"]
        assert "about the same as the uniform guess (4.17)" in said, loss
        assert "0.00" not in said and "below the uniform" not in said
    assert "0.10 below the uniform guess" in references.loss_in_words(4.07, REFS, [])["sentence"]


def test_the_examples_leave_out_the_samples_shown_as_the_latest():
    timeline = [{"step": 100 * i, "text": f"sample {i}", "kept": False, "val_loss": loss, "time": None,
                 "val_step": 100 * i} for i, loss in enumerate([4.0, 3.0, 1.68, 1.5])]
    examples = references.loss_in_words(1.5, REFS, timeline, leave_out={"sample 3"})["examples"]
    assert "sample 3" not in [e["text"] for e in examples] and [e["step"] for e in examples][-1] == 200
    only = references.loss_in_words(1.5, REFS, timeline[-1:], leave_out={"sample 3"})["examples"]
    assert only == []


def test_the_sentence_is_in_chinese_too():
    said = references.loss_in_words(1.5, REFS, [], lambda text, **p: translate(text, "zh", **p))
    assert "5 元语法模型" in said["sentence"] and "1.50" in said["sentence"]


def test_the_examples_are_the_samples_nearest_the_ngram_midway_and_latest():
    losses = [4.0, 3.0, 1.68, 1.6, 1.55, 1.5, 1.45]
    timeline = [{"step": 100 * i, "text": f"sample {i}", "kept": False, "val_loss": loss, "time": None,
                 "val_step": 100 * i} for i, loss in enumerate(losses)]
    timeline.insert(0, {"step": 0, "text": "no score yet", "kept": False, "val_loss": None, "time": None,
                        "val_step": None})
    examples = references.loss_in_words(1.45, REFS, timeline)["examples"]
    # nearest 1.67: step 200 (1.68); latest: step 600; midway, (1.68 + 1.45) / 2: step 400 (1.55)
    assert [e["step"] for e in examples] == [200, 400, 600]
    assert examples[0]["label"] == "Step 200, held-out loss 1.68"


# --- the chart -------------------------------------------------------------------------------


def curve_records():
    return [{"step": s, "train_loss": 1.4 + 2.8 * math.exp(-s / 300), "val_loss": 1.5 + 2.7 * math.exp(-s / 300)}
            for s in range(0, 2001, 100)]


def test_the_loss_chart_has_the_uniform_and_ngram_lines_in_its_units():
    nats = charts.loss_figure(curve_records(), references=REFS)
    lines = {t.name: t for t in nats.data if t.line.dash == "dash"}
    assert set(lines) == {"uniform guess (4.17)", "5-gram model (1.67)"}
    assert list(lines["uniform guess (4.17)"].y) == [4.17, 4.17]
    assert list(lines["5-gram model (1.67)"].x) == [0, 2000]
    bits = charts.loss_figure(curve_records(), bits=True, references=REFS)
    assert {t.name for t in bits.data if t.line.dash == "dash"} == {
        f"uniform guess ({4.17 / LN2:.2f})", f"5-gram model ({1.67 / LN2:.2f})"}
    assert [t.name for t in charts.loss_figure(curve_records()).data] == ["training", "held-out"]


def test_a_reference_far_from_the_curve_is_named_with_its_value_but_not_drawn():
    late = [r for r in curve_records() if r["step"] >= 1500]  # about 1.4-1.6 nats
    fig = charts.loss_figure(late, references={**REFS, "uniform": 9.9})
    uniform = next(t for t in fig.data if t.name == "uniform guess (9.90)")
    assert list(uniform.y) == [None]  # the axis still opens on the curve


# --- the pages ---------------------------------------------------------------------------------


def test_train_and_runs_show_the_loss_in_words_under_a_finished_run(open_page, app_home_with_run):
    for page in ("train", "runs"):
        at = open_page(page)
        said = [m.value for m in at.markdown if m.value.startswith("The kept model's held-out loss ")]
        assert said and "5-gram model of your text" in said[0], page
        assert not at.exception


def test_a_run_whose_corpus_is_gone_shows_why_its_reference_lines_are_left_out(open_page, app_home_with_run,
                                                                                quick_run_dir):
    run = app_home_with_run / "runs" / quick_run_dir.name
    config = files.read_json(run / "config.json")
    config["corpus"]["sources"] = [str(app_home_with_run / "gone.txt")]
    files.atomic_write_json(run / "config.json", config)
    (run / references.REFERENCES_FILE).unlink()
    at = open_page("runs")
    assert any(c.value.startswith("The reference lines are left out: The text this run learnt from is no "
                                  "longer where it was read from") for c in at.caption)


def test_every_sentence_of_the_references_is_in_the_chinese_catalog():
    source = Path(references.__file__).read_text(encoding="utf-8")
    texts = {node.args[0].value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id in ("translate", "TextgenError") and node.args
             and isinstance(node.args[0], ast.Constant)}
    assert len(texts) >= 8
    assert texts <= set(catalog("zh")), texts - set(catalog("zh"))


def test_the_report_says_what_the_loss_means_and_draws_the_lines(quick_run_dir, tmp_path):
    from textgen import report

    run = tmp_path / quick_run_dir.name
    shutil.copytree(quick_run_dir, run)
    page = report.build_report(run)
    assert "5-gram model of your text" in page and "uniform guess (" in page
    assert json.loads(json.dumps(references.cached_references(run)))["ngram_order"] == 5


def test_the_page_leaves_out_the_latest_live_sample_and_the_kept_models():
    from pages._train_progress import latest_texts

    timeline = [{"step": 100, "text": "early", "kept": False}, {"step": 200, "text": "latest", "kept": False},
                {"step": 150, "text": "kept one", "kept": True}]
    assert latest_texts(timeline) == {"latest", "kept one"}
    assert latest_texts(timeline[:2]) == {"latest"} and latest_texts([]) == set()


def test_the_sentence_speaks_in_bits_beside_a_chart_in_bits():
    timeline = [{"step": 100 * i, "text": f"sample {i}", "kept": False, "val_loss": loss, "time": None,
                 "val_step": 100 * i} for i, loss in enumerate([4.0, 3.0, 1.68, 1.5])]
    said = references.loss_in_words(1.5, REFS, timeline, bits=True)
    # 1.5 / ln 2 = 2.164; (4.17 - 1.5) / ln 2 = 3.85 below the uniform guess; 0.17 / ln 2 = 0.25
    uniform_bits = (REFS["uniform"] - 1.5) / math.log(2)
    assert said["sentence"].startswith("Held-out loss now 2.16 bits per character: "
                                       f"{uniform_bits:.2f} below the uniform guess and "
                                       f"{(REFS['ngram'] - 1.5) / math.log(2):.2f} below a 5-gram model")
    assert said["examples"][0]["label"] == f"Step 200, held-out loss {1.68 / math.log(2):.2f}"
    assert said["regime"] == references.loss_in_words(1.5, REFS, timeline)["regime"]
