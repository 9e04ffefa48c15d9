"""The memorisation meter (textgen.memorisation): n-grams of a sample found in the training text."""

import hashlib
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from textgen import memorisation
from textgen.corpus import builtin_text, split_text
from textgen.errors import TextgenError
from textgen.memorisation import NgramIndex


@pytest.fixture(scope="module")
def corpus():
    return builtin_text("sample")


@pytest.fixture(scope="module")
def char_index(corpus):
    return NgramIndex(corpus)


@pytest.fixture(scope="module")
def word_index(corpus):
    return NgramIndex(corpus, unit="word")


def random_text(length, seed=0, alphabet="abcdefghijklmnopqrstuvwxyz   "):
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(length))


def test_a_verbatim_slice_is_all_copied(corpus, char_index):
    piece = corpus[1000:1400]
    result = char_index.check(piece)
    assert result["share"] == 1.0 and result["unit"] == "character" and result["n"] == 12
    assert result["ngrams"] == result["copied"] == len(piece) - 11
    assert result["passage"] == piece
    assert (result["passage_start"], result["passage_end"]) == (0, len(piece))


def test_random_text_is_not_copied(char_index):
    result = char_index.check(random_text(2000))
    assert result["share"] < 0.01
    assert len(result["passage"]) < 20


def test_the_longest_passage_is_found_inside_new_text(corpus, char_index):
    piece = corpus[2000:2150]
    sample = "§§§ " + random_text(100, 1) + "§" + piece + "§" + random_text(50, 2) + " §§§"
    result = char_index.check(sample)
    assert result["passage"] == piece
    assert sample[result["passage_start"]:result["passage_end"]] == piece
    assert 0.1 < result["share"] < 0.7


def test_matching_ngrams_from_different_places_are_not_one_passage():
    index = NgramIndex("0123456789abcdefghij and ghijKLMNOPQR", n=4)
    result = index.check("cdefghijKLMN")  # every 4-gram occurs, the whole never does
    assert result["share"] == 1.0
    assert result["passage"] in ("cdefghij", "ghijKLMN")


def test_too_short_samples_have_no_share(char_index):
    result = char_index.check("short")
    assert result["share"] is None and result["ngrams"] == 0 and result["passage"] == ""
    assert "Too short" in memorisation.summary(result)
    assert char_index.check("")["share"] is None


def test_word_level_counts_word_four_grams(corpus, word_index):
    spans = [m.span() for m in re.finditer(r"\S+", corpus)]
    piece = corpus[spans[300][0]:spans[339][1]]  # 40 words, with the text's own spacing
    words = piece.split()
    result = word_index.check(piece)
    assert result["unit"] == "word" and result["n"] == 4
    assert result["share"] == 1.0 and result["ngrams"] == 37
    assert result["passage"] == piece
    shuffled = list(words)
    random.Random(3).shuffle(shuffled)
    assert word_index.check(" ".join(shuffled))["share"] < 0.2
    assert word_index.check("zebra quantum marmalade xylophone " * 5)["share"] == 0.0


def test_word_level_handles_chinese_one_character_per_word():
    text = "我们今天去公园散步，然后回家吃饭。" * 3 + "天气很好"
    index = NgramIndex(text, unit="word")
    assert index.check("今天去公园")["share"] == 1.0  # 5 words, 2 four-grams
    assert index.check("公园今天去散步")["share"] == 0.0


@pytest.mark.parametrize("unit", ["char", "word"])
def test_chunked_hashing_gives_the_same_index(monkeypatch, corpus, unit):
    whole = NgramIndex(corpus[:20000], unit=unit).hashes
    monkeypatch.setattr(memorisation, "CHUNK", 777)
    assert np.array_equal(NgramIndex(corpus[:20000], unit=unit).hashes, whole)


def test_the_index_of_a_run_is_its_training_split(tmp_path):
    text = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))
    source = tmp_path / "corpus.txt"
    source.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    config = {"tokenizer": "char", "val_fraction": 0.2,
              "corpus": {"name": "corpus.txt", "sources": [str(source)],
                         "sha256": hashlib.sha256(text.encode()).hexdigest()}}
    (run / "config.json").write_text(json.dumps(config))
    index = memorisation.index_for_run(run)
    assert index.text == split_text(text, 0.2)[0] and index.unit == "char"
    held_out = split_text(text, 0.2)[1]
    assert index.check(held_out[-60:])["share"] < 1.0  # line numbers past the split are new

    (run / "config.json").write_text(json.dumps(dict(config, tokenizer="word")))
    assert memorisation.index_for_run(run).unit == "word"

    source.write_text(text + "more", encoding="utf-8")
    with pytest.raises(TextgenError, match="changed"):
        memorisation.index_for_run(run)
    source.unlink()
    with pytest.raises(TextgenError, match="no longer available"):
        memorisation.index_for_run(run)


def test_captions_quote_the_passage_literally():
    result = {"unit": "character", "n": 12, "ngrams": 50, "copied": 25, "share": 0.5,
              "passage": "a `tick` and\nnew *line*", "passage_start": 0, "passage_end": 20}
    assert memorisation.summary(result).startswith("Copied from the training text: 50%")
    assert memorisation.passage_markdown(result) == \
        " Longest copied passage (23 characters): `` a `tick` and↵ new *line* ``"
    assert memorisation.passage_markdown(dict(result, passage="")) == ""
    assert memorisation.code_span("x" * 500, limit=10) == "` xxxxxxxxxx… `"
    assert memorisation.code_span(")\n        ") == "` )↵ ␣␣␣␣␣␣␣␣ `"


SHAKESPEARE = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "tinyshakespeare.txt"


def test_a_verbatim_slice_is_mostly_copied_and_the_warning_says_so(corpus, char_index):
    result = char_index.check(corpus[1000:1240])
    assert result["passage_share"] == 1.0 and memorisation.mostly_copied(result)
    assert memorisation.copied_warning(result) == (
        "Mostly copied: 100% of this text lies in passages of 24 or more characters found word for "
        "word in the training text. It shows what the model memorised, not what it learnt to write.")


def test_half_a_text_copied_in_one_passage_is_mostly_copied_and_less_is_not(corpus, char_index):
    piece = corpus[3000:3120]
    half = char_index.check(piece + random_text(120, 5))
    assert half["passage_share"] == 0.5 and memorisation.mostly_copied(half)
    less = char_index.check(piece[:100] + random_text(140, 5))
    assert less["passage_share"] == pytest.approx(100 / 240) and not memorisation.mostly_copied(less)
    assert memorisation.copied_warning(less) == ""


def test_short_matches_scattered_through_a_text_are_not_copied_passages(corpus, char_index):
    # Pieces of 20 characters: each holds matching 12-grams, none makes a passage of 24.
    pieces = [corpus[i:i + 20] for i in range(5000, 9000, 400)]
    sample = "§".join(pieces)
    result = char_index.check(sample)
    assert result["share"] > 0.3 and result["passage_share"] == 0.0
    assert not memorisation.mostly_copied(result)


def test_word_passages_count_from_eight_words(corpus, word_index):
    eight = " ".join(corpus.split()[200:208])
    result = word_index.check(eight + " zzqx wvvk qqpz jjxx")
    assert result["passage_share"] == pytest.approx(len(eight) / (len(eight) + 20))
    assert "passages of 8 or more words" in memorisation.copied_warning(result)
    seven = " ".join(corpus.split()[200:207])
    assert word_index.check(seven + " zzqx wvvk qqpz jjxx")["passage_share"] == 0.0


def test_new_text_by_people_is_never_called_mostly_copied():
    """The threshold's calibration (see textgen.memorisation): 240-character pieces of
    tinyshakespeare's held-out split, checked against its training split."""
    train_text, held_out = split_text(SHAKESPEARE.read_text(encoding="utf-8"), 0.1)
    index = NgramIndex(train_text)
    results = [index.check(held_out[i:i + 240]) for i in range(0, len(held_out) - 240, 240)]
    assert len(results) > 400
    assert max(r["passage_share"] for r in results) < 0.3
    assert not any(memorisation.mostly_copied(r) for r in results)
    assert sum(r["share"] > 0 for r in results) > 0.9 * len(results)  # short matches are everywhere
