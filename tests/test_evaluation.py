"""Held-out scoring follows the evaluation protocol in design.md."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops

import textgen
from textgen.config import resolve_config
from textgen.corpus import load_corpus
from textgen.evaluation import HeldOutText, Scorer, score_text, target_chars, windows
from textgen.units import LN2
from textgen.inference import Run
from textgen.models import build_model
from textgen.tokenizers import (BpeTokenizer, CharTokenizer, WordTokenizer, load_tokenizer, save_tokenizer,
                                tokenizer_from_dict)
from textgen.unknowns import (UNICODE_CHARACTERS, SpellingModel, spelling_counts, unknown_pieces,
                              unknown_prompt_warning, unknown_text_warning)

ROOT = Path(__file__).resolve().parent.parent
PATTERN = "the cat sat on the mat. a dog ran to the log. "


# --- windows ---------------------------------------------------------------------------


@pytest.mark.parametrize("n,seq_len,batch", [(2, 4, 1), (9, 4, 2), (17, 4, 2), (100, 8, 4),
                                             (101, 8, 4), (257, 16, 3), (1000, 7, 64)])
def test_windows_cover_every_target_exactly_once(n, seq_len, batch):
    ids = np.random.default_rng(n).integers(0, 50, size=n).astype(np.int32)
    xs, ys, masks = [], [], []
    for x, y, mask in windows(ids, seq_len, batch):
        assert x.shape == y.shape == mask.shape == (batch, seq_len)
        xs.append(x.reshape(-1)), ys.append(y.reshape(-1)), masks.append(mask.reshape(-1))
    x, y, mask = np.concatenate(xs), np.concatenate(ys), np.concatenate(masks)
    assert mask.sum() == n - 1
    assert set(np.unique(mask)) <= {0.0, 1.0}
    on = mask == 1
    # Under the mask, in order: exactly the consecutive pairs (ids[i], ids[i + 1]).
    np.testing.assert_array_equal(x[on], ids[:-1])
    np.testing.assert_array_equal(y[on], ids[1:])
    # The padding sits at the end only, so every window starts at a multiple of seq_len.
    assert on[: n - 1].all() and not on[n - 1:].any()


def test_windows_do_not_overlap():
    ids = np.arange(50, dtype=np.int32)
    firsts = [row[0] for x, _, m in windows(ids, 8, 2) for row, mrow in zip(x, m) if mrow[0]]
    assert firsts == list(range(0, 49, 8))


# --- Scorer -------------------------------------------------------------------------------


def tiny_config(arch="gru", tokenizer="char", seq_len=8):
    return resolve_config("quick", arch=arch, tokenizer=tokenizer, layers=1, units=16,
                          embedding_dim=8, seq_len=seq_len)


def uniform_model(config, vocab):
    """A model whose logits are all zero: every next token has probability 1 / vocab."""
    model = build_model(config, vocab)
    head = model.get_layer("logits")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return model


def reference_nats(model, ids, seq_len):
    """Summed loss over non-overlapping windows, each run from a fresh state, computed plainly."""
    total = 0.0
    for start in range(0, len(ids) - 1, seq_len):
        x = np.asarray(ids[start:start + seq_len], np.int32)
        y = np.asarray(ids[start + 1:start + seq_len + 1])
        x = x[: len(y)]
        logits = ops.convert_to_numpy(model(x[None], training=False))[0].astype(np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        total -= log_probs[np.arange(len(y)), y].sum()
    return total


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_equal_logits_score_exactly_ln_vocab_per_character(arch):
    text = PATTERN * 7 + "the end"
    tokenizer = CharTokenizer.fit(text)
    config = tiny_config(arch)
    scorer = Scorer(uniform_model(config, tokenizer.vocab_size), config, batch_size=4)
    result = score_text(scorer, tokenizer, text)
    assert result["nats_per_char"] == pytest.approx(math.log(tokenizer.vocab_size), rel=1e-6)
    assert result["bits_per_char"] == pytest.approx(math.log2(tokenizer.vocab_size), rel=1e-6)
    assert result["perplexity"] == pytest.approx(tokenizer.vocab_size, rel=1e-5)
    assert result["chars"] == len(text) - 1
    assert result["tokens"] == len(text)


def test_scorer_matches_a_plain_window_by_window_computation():
    text = PATTERN * 5 + "a cat"
    tokenizer = CharTokenizer.fit(text)
    config = tiny_config("lstm", seq_len=8)
    model = build_model(config, tokenizer.vocab_size)  # random weights: uneven probabilities
    ids = tokenizer.encode(text)
    scorer = Scorer(model, config, batch_size=3)
    assert scorer.total_nats(ids) == pytest.approx(reference_nats(model, ids, 8), rel=1e-5)
    result = score_text(scorer, tokenizer, text)
    assert result["nats_per_char"] == pytest.approx(reference_nats(model, ids, 8) / (len(text) - 1),
                                                    rel=1e-5)
    assert result["bits_per_char"] == pytest.approx(result["nats_per_char"] / math.log(2))


def test_word_level_loss_is_divided_by_the_characters_the_targets_cover(tmp_path):
    text = ("the cat sat on the mat, and the dog ran to the log!\n" * 6
            + "a zebra arrived unexpectedly.")
    train_text = text[:200]
    tokenizer = WordTokenizer.fit(train_text)  # later words are unknown: <unk>
    config = tiny_config("gru", tokenizer="word", seq_len=8)
    config["vocab_size"] = tokenizer.vocab_size
    model = build_model(config, tokenizer.vocab_size)
    run = Run(tmp_path, config, tokenizer, model)
    result = run.evaluate(text)

    pieces = tokenizer.split(text)
    ids = tokenizer.encode(text)
    covered = len(text) - len(pieces[0])  # every piece but the first is a target
    assert target_chars(tokenizer, text, ids) == covered
    assert result["chars"] == covered and result["tokens"] == len(pieces) == len(ids)
    # The unknown pieces ("a", "zebra", ...) are charged for their spelling on top.
    unknown = [p for p in pieces[1:] if p not in tokenizer.tokens]
    assert unknown == ["a", "zebra", "arrived", "unexpectedly", "."]
    spelling = SpellingModel.for_tokenizer(tokenizer).total_nats(unknown)
    nats = reference_nats(model, ids, 8) + spelling
    assert result["nats_per_char"] == pytest.approx(nats / covered, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(nats / (len(ids) - 1)), rel=1e-4)
    assert result["unknown_share"] == pytest.approx(len("azebraarrivedunexpectedly.") / covered)

    # With equal logits the total is (tokens - 1) ln(vocab) plus the spelling, over the covered characters.
    flat = Run(tmp_path, config, tokenizer, uniform_model(config, tokenizer.vocab_size))
    expected = ((len(ids) - 1) * math.log(tokenizer.vocab_size) + spelling) / covered
    assert flat.evaluate(text)["nats_per_char"] == pytest.approx(expected, rel=1e-6)


def test_subword_loss_is_divided_by_the_characters_the_targets_cover(tmp_path):
    train_text = "the cat sat on the mat, and the dog ran to the log!\n" * 8
    text = train_text[:120] + "a zebra?"  # "z", "b" and "?" are unknown: one <unk> character each
    tokenizer = BpeTokenizer.fit(train_text, max_vocab=60)
    config = tiny_config("gru", tokenizer="bpe", seq_len=8)
    config["vocab_size"] = tokenizer.vocab_size
    model = build_model(config, tokenizer.vocab_size)
    result = Run(tmp_path, config, tokenizer, model).evaluate(text)

    ids = tokenizer.encode(text)
    assert len(ids) < len(text) / 2  # merges made tokens of several characters
    covered = len(text) - len(tokenizer.decode(ids[:1]))  # every token but the first is a target
    assert target_chars(tokenizer, text, ids) == covered
    assert result["chars"] == covered and result["tokens"] == len(ids)
    assert unknown_pieces(tokenizer, text) == ["z", "b", "?"] and list(ids).count(0) == 3
    spelling = SpellingModel.for_tokenizer(tokenizer).total_nats(["z", "b", "?"])
    assert result["nats_per_char"] == pytest.approx((reference_nats(model, ids, 8) + spelling) / covered,
                                                    rel=1e-5)
    assert result["unknown_share"] == pytest.approx(3 / covered)

    # A text starting with an unknown character: its <unk> stands for that one character.
    start_unknown = "?" + text
    unknown_ids = tokenizer.encode(start_unknown)
    assert unknown_ids[0] == 0
    assert target_chars(tokenizer, start_unknown, unknown_ids) == len(start_unknown) - 1


def test_too_little_text_is_refused(tmp_path):
    tokenizer = CharTokenizer.fit(PATTERN)
    config = tiny_config()
    run = Run(tmp_path, config, tokenizer, build_model(config, tokenizer.vocab_size))
    with pytest.raises(textgen.TextgenError):
        run.evaluate("t")
    with pytest.raises(textgen.TextgenError, match='"Z"'):
        run.evaluate("the Zoo")


# --- the run's own held-out split ------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from textgen.training import train
    folder = tmp_path_factory.mktemp("evaluation")
    corpus = folder / "corpus.txt"
    # 5,523 characters: the 0.85 cut (4,694.55) is not a whole number, so an off-by-one shows.
    body = (PATTERN * 121)[:5500] + "\nthe end of the story.\n"
    corpus.write_text(body, encoding="utf-8")
    config = resolve_config("quick", layers=1, units=32, embedding_dim=16, seq_len=16,
                            batch_size=16, learning_rate=1e-2, seed=3, epochs=1, time_budget=0,
                            val_fraction=0.15)
    status = train([str(corpus)], folder / "run", config, log=lambda m: None)
    assert status["state"] == "completed"
    return folder / "run", corpus


def test_evaluate_scores_the_last_val_fraction_of_the_corpus(trained):
    run_dir, corpus = trained
    text = load_corpus(str(corpus)).text
    assert len(text) == 5523
    cut = math.floor(len(text) * (1 - 0.15))
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    done = subprocess.run([sys.executable, "-m", "textgen", "evaluate", str(run_dir)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cli = json.loads(done.stdout)

    run = textgen.load_run(run_dir)
    held_out = run.evaluate(text[cut:])
    assert cli["chars"] == len(text) - cut - 1 == held_out["chars"]
    assert cli["tokens"] == len(text) - cut
    assert cli["nats_per_char"] == pytest.approx(held_out["nats_per_char"], rel=1e-5)
    assert run.evaluate() == pytest.approx(held_out, rel=1e-6)  # the API agrees with the CLI
    # The split moved by one character scores differently: the comparison can tell.
    assert run.evaluate(text[cut - 1:])["chars"] != cli["chars"]


def test_the_final_status_loss_is_the_held_out_score(trained):
    run_dir, _ = trained
    status = json.loads((run_dir / "status.json").read_text())
    score = textgen.load_run(run_dir).evaluate()
    assert status["best_val_loss"] == pytest.approx(score["nats_per_char"], rel=1e-4)
    assert score["bits_per_char"] == pytest.approx(score["nats_per_char"] / LN2)


# --- unknown tokens are charged for spelling out what they stand for -------------------------


def hand_word_tokenizer():
    """Trained on "ab ba ab": pieces ab, " ", ba, " ", ab; the vocabulary keeps " " and "ab"."""
    train_text = "ab ba ab"
    tokenizer = WordTokenizer.fit(train_text, max_vocab=3)
    assert tokenizer.tokens == ["<unk>", " ", "ab"]
    tokenizer.spelling_counts = spelling_counts(train_text)
    return tokenizer


def test_the_spelling_charge_of_an_unknown_word_matches_a_hand_computation():
    tokenizer = hand_word_tokenizer()
    assert tokenizer.spelling_counts == {"chars": {" ": 2, "a": 3, "b": 3}, "pieces": 5}
    # 8 characters and 5 ends counted (n = 13) of 4 kinds (q = 4): each costs ln(17 / count);
    # a character never seen costs the escape ln(17 / 4) and one of the other Unicode characters.
    model = SpellingModel.for_tokenizer(tokenizer)
    assert model.piece_nats("ba") == pytest.approx(2 * math.log(17 / 3) + math.log(17 / 5))
    unseen = math.log(17 / 4) + math.log(UNICODE_CHARACTERS - 3)
    assert model.piece_nats("c") == pytest.approx(unseen + math.log(17 / 5))
    assert model.piece_nats("cab") == pytest.approx(unseen + 2 * math.log(17 / 3) + math.log(17 / 5))


def test_a_held_out_text_is_charged_for_its_unknown_words_and_reports_their_share():
    tokenizer = hand_word_tokenizer()
    text = "ab ba c"  # tokens ab, " ", <unk> (ba), " ", <unk> (c): the first one is not scored
    held_out = HeldOutText(tokenizer, text)
    assert list(held_out.ids) == [2, 1, 0, 1, 0]
    assert held_out.chars == 5 and held_out.unknown_chars == 3
    assert held_out.unknown_share == pytest.approx(3 / 5)
    spelling = (2 * math.log(17 / 3) + math.log(17 / 5)
                + math.log(17 / 4) + math.log(UNICODE_CHARACTERS - 3) + math.log(17 / 5))
    assert held_out.spelling_nats == pytest.approx(spelling)

    # With equal logits over the 3 tokens: 4 predictions of ln 3 each, plus the spelling.
    config = tiny_config("gru", tokenizer="word", seq_len=8)
    scorer = Scorer(uniform_model(config, tokenizer.vocab_size), config, batch_size=2)
    scores = held_out.scores(scorer)
    assert scores["nats_per_char"] == pytest.approx((4 * math.log(3) + spelling) / 5, rel=1e-6)
    assert scores["unknown_share"] == pytest.approx(0.6)
    assert scores["chars"] == 5 and scores["tokens"] == 5

    # An unknown first token is not scored, so it is not charged either.
    first = HeldOutText(tokenizer, "c ab")
    assert first.unknown_chars == 0 and first.spelling_nats == 0.0 and first.unknown_share == 0.0


def test_a_subword_unknown_character_is_charged_without_an_end_of_spelling():
    train_text = "ab ab ba"
    tokenizer = BpeTokenizer.fit(train_text, max_vocab=10)
    tokenizer.spelling_counts = spelling_counts(train_text)
    # a: 3, b: 3, " ": 2 (n = 8, q = 3): each <unk> stands for exactly one character.
    model = SpellingModel.for_tokenizer(tokenizer)
    assert model.piece_nats("a") == pytest.approx(math.log(11 / 3))
    assert model.piece_nats("z") == pytest.approx(math.log(11 / 3) + math.log(UNICODE_CHARACTERS - 3))
    text = "ab zz"
    assert unknown_pieces(tokenizer, text) == ["z", "z"]
    held_out = HeldOutText(tokenizer, text)
    assert held_out.unknown_chars == 2 and held_out.spelling_nats == pytest.approx(2 * model.piece_nats("z"))


def test_the_spelling_counts_are_saved_with_the_tokenizer(tmp_path):
    tokenizer = hand_word_tokenizer()
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert loaded.spelling_counts == tokenizer.spelling_counts
    assert HeldOutText(loaded, "ab ba c").spelling_nats == pytest.approx(
        HeldOutText(tokenizer, "ab ba c").spelling_nats)


def test_a_run_saved_without_spelling_counts_is_charged_by_its_vocabulary():
    old = tokenizer_from_dict({"kind": "word", "tokens": ["<unk>", " ", "ab"], "max_vocab": 3})
    assert old.spelling_counts is None
    # The vocabulary's characters stand in: " ", a, b once each, 2 ends (n = 5, q = 4).
    model = SpellingModel.for_tokenizer(old)
    assert model.piece_nats("ba") == pytest.approx(2 * math.log(9) + math.log(9 / 2))
    held_out = HeldOutText(old, "ab ba c")
    assert math.isfinite(held_out.spelling_nats) and held_out.spelling_nats > 0
    damaged = tokenizer_from_dict({"kind": "word", "tokens": ["<unk>", " ", "ab"],
                                   "spelling_counts": {"chars": {"ab": -1}, "pieces": "x"}})
    assert SpellingModel.for_tokenizer(damaged).piece_nats("ba") == pytest.approx(model.piece_nats("ba"))


def test_a_character_model_still_refuses_unknown_characters(tmp_path):
    tokenizer = CharTokenizer.fit(PATTERN)
    config = tiny_config()
    run = Run(tmp_path, config, tokenizer, build_model(config, tokenizer.vocab_size))
    assert unknown_pieces(tokenizer, "the Zoo") == [] and run.unknown_in("the Zoo") == []
    with pytest.raises(textgen.TextgenError, match='"Z"'):
        run.evaluate("the Zoo")
    assert run.evaluate(PATTERN)["unknown_share"] == 0.0


def test_a_prompt_names_the_words_the_model_does_not_know(tmp_path):
    run = Run(tmp_path, {}, hand_word_tokenizer(), None)
    assert run.unknown_in("ab ba c ba") == ["ba", "c"]
    assert run.unknown_in("ab ab") == []
    assert unknown_prompt_warning(run.unknown_in("ab ba c ba")) == (
        'The model does not know these parts of the prompt and reads each as <unk>: "ba", "c".')
    many = [f"w{i}" for i in range(12)]
    assert unknown_prompt_warning(many).endswith('"w9" and 2 more.')
    assert unknown_prompt_warning([]) is None
    assert "<unk>" in unknown_prompt_warning(["ba"], lambda text, **p: text.format(**p))
    with pytest.raises(textgen.TextgenError):
        run.unknown_in(None)


def test_a_few_percent_unknown_is_said_and_a_fine_tune_names_its_base():
    assert unknown_text_warning({"training": 0.01, "held_out": 0.02}) is None
    said = unknown_text_warning({"training": 0.7, "held_out": 0.72})
    assert said.startswith("70% of the training text and 72% of the held-out text") and "subword" in said
    base = unknown_text_warning({"training": 0.8, "held_out": 0.8}, base_name="english-words")
    assert "english-words" in base and "80%" in base


RUSSIAN = ("Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный — пора, красавица, "
           "проснись: открой сомкнуты негой взоры навстречу северной Авроры, звездою севера явись!\n"
           "Вечор, ты помнишь, вьюга злилась, на мутном небе мгла носилась; луна, как бледное пятно, "
           "сквозь тучи мрачные желтела, и ты печальная сидела.\n")


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    """A word-level run with 20 tokens on the first 150 KB of Tiny Shakespeare (a few seconds)."""
    from textgen.training import train
    folder = tmp_path_factory.mktemp("word-run")
    corpus = folder / "shakespeare.txt"
    text = (ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    corpus.write_text(text[:150_000], encoding="utf-8")
    config = resolve_config("quick", tokenizer="word", max_vocab=20, layers=1, units=64, embedding_dim=16,
                            seq_len=32, batch_size=32, learning_rate=1e-2, seed=1, epochs=3, time_budget=0)
    said = []
    status = train([str(corpus)], folder / "run", config, log=said.append)
    assert status["state"] == "completed"
    return folder / "run", corpus, said


def test_a_word_model_that_knows_few_words_is_charged_for_them(word_run):
    run_dir, corpus, said = word_run
    run = textgen.load_run(run_dir)
    assert run.tokenizer.spelling_counts["pieces"] > 10_000  # counted from the training split
    scores = run.evaluate()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["best_val_loss"] == pytest.approx(scores["nats_per_char"], rel=1e-4)
    # Most characters are in words outside the 19 known ones...
    assert 0.5 < scores["unknown_share"] < 0.9
    # ... and the score holds at least what spelling them out costs: not the 0.35 nats per
    # character of a model that only predicts "<unk>", and above a character model's 2.16.
    text = load_corpus(str(corpus)).text
    held_out = HeldOutText(run.tokenizer, text[math.floor(len(text) * 0.9):])
    assert scores["nats_per_char"] >= held_out.spelling_nats / held_out.chars > 2.16
    # The training curve charges the same spelling, so it sits on the held-out scale.
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["train_loss"] > 2.16 for r in metrics)
    assert abs(metrics[-1]["train_loss"] - metrics[-1]["val_loss"]) < 1.0
    # Training said so before it started, suggesting other tokens.
    assert any("of the held-out text are outside the vocabulary" in line and "subword" in line
               for line in said)


def test_a_word_run_scored_on_russian_text_is_not_scored_better(word_run):
    run_dir, _, _ = word_run
    run = textgen.load_run(run_dir)
    own = run.evaluate()
    russian = run.evaluate(RUSSIAN * 4)
    assert russian["unknown_share"] > 0.75
    assert russian["nats_per_char"] > own["nats_per_char"]


def test_a_word_fine_tune_onto_text_its_base_does_not_know_says_so(word_run, tmp_path):
    from textgen.training import train
    run_dir, _, _ = word_run
    corpus = tmp_path / "russian.txt"
    corpus.write_text(RUSSIAN * 12, encoding="utf-8")
    config = resolve_config("quick", seq_len=16, batch_size=16, epochs=1, time_budget=0, seed=1,
                            init_from=str(run_dir))
    said = []
    status = train([str(corpus)], tmp_path / "fine-tune", config, explicit={"epochs": 1, "seq_len": 16,
                                                                            "batch_size": 16},
                   log=said.append)
    assert status["state"] == "completed"
    assert any(line.startswith(f"The base model {run_dir.name} does not know") for line in said)
    tokenizer = load_tokenizer(tmp_path / "fine-tune" / "tokenizer.json")
    assert "д" in tokenizer.spelling_counts["chars"]  # refreshed from the fine-tune's own text
    scores = textgen.load_run(tmp_path / "fine-tune").evaluate()
    assert scores["unknown_share"] > 0.75
    # Runs, the comparison and the report rank by this status score: it carries the spelling too.
    text = (RUSSIAN * 12)[math.floor(len(RUSSIAN * 12) * 0.9):]
    held_out = HeldOutText(tokenizer, text)
    status = json.loads((tmp_path / "fine-tune" / "status.json").read_text())
    assert status["best_val_loss"] == pytest.approx(scores["nats_per_char"], rel=1e-4)
    assert status["best_val_loss"] >= held_out.spelling_nats / held_out.chars > 2.0


def test_a_character_run_says_nothing_about_unknown_text(trained):
    assert textgen.load_run(trained[0]).evaluate()["unknown_share"] == 0.0
