"""Tokenizers: lossless round trips, unknown characters, vocabulary caps, persistence."""

import json
from pathlib import Path

import numpy as np
import pytest

from textgen.errors import TextgenError
from textgen.tokenizers import (
    BpeTokenizer,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    make_tokenizer,
    save_tokenizer,
    tokenizer_from_dict,
)

SHAKESPEARE = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "tinyshakespeare.txt"
MIXED = "The lamp turns, every 15 seconds!\n\t灯塔每十五秒转一圈。  Ça va? — yes.\n"


# --- character level --------------------------------------------------------------------

def test_char_round_trip_with_chinese():
    tok = CharTokenizer.fit(MIXED)
    assert tok.kind == "char"
    assert tok.tokens == sorted(set(MIXED))
    assert tok.vocab_size == len(set(MIXED))
    ids = tok.encode(MIXED)
    assert ids.dtype == np.int32 and len(ids) == len(MIXED)
    assert tok.decode(ids) == MIXED
    assert tok.decode(ids.tolist()) == MIXED
    assert tok.encode("").size == 0 and tok.decode([]) == ""


def test_char_ids_follow_sorted_vocabulary():
    tok = CharTokenizer.fit("cabbage")
    assert tok.tokens == ["a", "b", "c", "e", "g"]
    assert tok.encode("cab").tolist() == [2, 0, 1]


def test_char_unknown_characters_message():
    tok = CharTokenizer.fit("hello world")
    assert tok.unknown("hello Жорж¤!") == sorted(set("Жорж¤!"))
    with pytest.raises(TextgenError) as info:
        tok.encode("hello Ж¤")
    assert str(info.value) == ('The model has never seen these characters: "¤", "Ж". '
                               "Remove them or train on text that contains them.")


def test_char_unknown_message_shows_at_most_ten_and_names_invisible_ones():
    tok = CharTokenizer.fit("a")
    with pytest.raises(TextgenError) as info:
        tok.encode("bcdefghijklmn\n")
    message = str(info.value)
    assert "line break" in message and "and 4 more" in message
    assert tok.unknown("a") == []


def test_char_extend_keeps_existing_ids():
    old = CharTokenizer.fit("hello")
    new = old.extend("help! 你好")
    assert new.tokens[: old.vocab_size] == old.tokens
    assert set(new.tokens[old.vocab_size:]) == {"p", "!", " ", "你", "好"}
    assert new.encode("hello").tolist() == old.encode("hello").tolist()
    assert new.decode(new.encode("help! 你好")) == "help! 你好"
    assert old.extend("hello") == old


def test_char_decode_rejects_foreign_ids():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(TextgenError):
        tok.decode([0, 3])
    with pytest.raises(TextgenError):
        tok.decode([-1])


def test_char_reference_corpus_round_trip():
    if not SHAKESPEARE.exists():
        pytest.skip("reference corpus not available")
    text = SHAKESPEARE.read_text(encoding="utf-8")
    tok = CharTokenizer.fit(text)
    assert tok.vocab_size == 65
    ids = tok.encode(text)
    assert tok.decode(ids) == text


# --- word level -------------------------------------------------------------------------

def test_word_split_is_lossless():
    pieces = WordTokenizer.split(MIXED)
    assert "".join(pieces) == MIXED
    assert "lamp" in pieces and "," in pieces and "  " in pieces and "\n\t" in pieces
    assert "灯" in pieces and "塔" in pieces and "15" in pieces


def test_word_round_trip_with_punctuation_and_whitespace():
    text = "Hello,  world!\n\nHello again... (world)\t"
    tok = WordTokenizer.fit(text)
    assert tok.kind == "word" and tok.tokens[0] == "<unk>"
    ids = tok.encode(text)
    assert ids.dtype == np.int32
    assert tok.decode(ids) == text


def test_word_vocab_cap_and_unknown():
    text = "a a a a b b b c c d"
    tok = WordTokenizer.fit(text, max_vocab=3)
    # " " appears 9 times, "a" 4: the two most frequent pieces plus <unk>.
    assert tok.tokens == ["<unk>", " ", "a"]
    assert tok.vocab_size == 3
    assert tok.encode("a b").tolist() == [2, 1, 0]
    assert tok.decode(tok.encode("a b")) == "a <unk>"
    assert tok.unknown("a b c") == ["b", "c"]


def test_word_ties_are_deterministic():
    first = WordTokenizer.fit("zeta alpha mid", max_vocab=3)
    second = WordTokenizer.fit("mid zeta alpha", max_vocab=3)
    assert first.tokens == second.tokens == ["<unk>", " ", "alpha"]


def test_word_literal_unk_text_is_not_the_unknown_token():
    tok = WordTokenizer.fit("say <unk> now")
    assert 0 not in tok.encode("<unk>").tolist()
    assert tok.decode(tok.encode("say <unk> now")) == "say <unk> now"


def test_word_extend_is_refused_with_advice():
    with pytest.raises(TextgenError, match="character-level"):
        WordTokenizer.fit("some words").extend("more words")


# --- subword level (byte-pair encoding) ----------------------------------------------------

def test_bpe_round_trip_mixed_text():
    tok = BpeTokenizer.fit(MIXED * 20, max_vocab=80)
    assert tok.kind == "bpe" and tok.tokens[0] == "<unk>"
    assert set(MIXED) <= set(tok.tokens)  # every character of the corpus is a token
    ids = tok.encode(MIXED)
    assert ids.dtype == np.int32 and len(ids) < len(MIXED)
    assert tok.decode(ids) == MIXED
    assert tok.encode("").size == 0 and tok.decode([]) == ""


def test_bpe_vocabulary_is_capped_and_reproducible():
    text = SHAKESPEARE.read_text(encoding="utf-8")[:200_000]
    small, large = BpeTokenizer.fit(text, max_vocab=300), BpeTokenizer.fit(text, max_vocab=1000)
    assert small.vocab_size == 300 and large.vocab_size == 1000
    assert len(large.encode(text)) < len(text) / 2 < len(small.encode(text)) < len(text)
    assert BpeTokenizer.fit(text, max_vocab=300) == small
    assert "the" in small.tokens or " the" in small.tokens


def test_bpe_round_trip_across_encode_chunks():
    # Long texts are encoded in line-aligned chunks; the result must still be lossless.
    text = SHAKESPEARE.read_text(encoding="utf-8")[:300_000]
    tok = BpeTokenizer.fit(text, max_vocab=500)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert sum(tok.token_length(int(i)) for i in ids) == len(text)


def test_bpe_unknown_characters_become_one_unk_each():
    tok = BpeTokenizer.fit("abc abc abc", max_vocab=20)
    ids = tok.encode("ab😀c!")
    assert ids.tolist().count(0) == 2
    assert tok.unknown("ab😀c!") == ["!", "😀"]
    # The text "<unk>" is ordinary text, never the unknown token itself.
    tok = BpeTokenizer.fit("say <unk> now " * 5, max_vocab=40)
    assert 0 not in tok.encode("<unk>").tolist()
    assert tok.decode(tok.encode("say <unk> now")) == "say <unk> now"


def test_bpe_chinese_text():
    zh = "灯塔每十五秒转一圈。灯塔守护着小镇。小镇的人每天看灯塔。\n" * 10
    tok = BpeTokenizer.fit(zh, max_vocab=60)
    assert tok.decode(tok.encode(zh)) == zh
    assert any(len(t) > 1 and "灯" in t for t in tok.tokens)  # frequent characters merge


# --- factory and persistence ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_load_round_trip(tmp_path, kind):
    tok = make_tokenizer(kind, MIXED, max_vocab=50)
    path = tmp_path / "tokenizer.json"
    save_tokenizer(tok, path)
    assert not [p for p in tmp_path.iterdir() if p.name != "tokenizer.json"]
    assert "灯" in path.read_text(encoding="utf-8")  # stored readable, not \\u escapes
    loaded = load_tokenizer(path)
    assert type(loaded) is type(tok) and loaded == tok
    assert loaded.decode(loaded.encode(MIXED)) == tok.decode(tok.encode(MIXED))
    assert tokenizer_from_dict(tok.to_dict()) == tok


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    save_tokenizer(CharTokenizer.fit("ab"), path)
    save_tokenizer(CharTokenizer.fit("xyz"), path)
    assert load_tokenizer(path).tokens == ["x", "y", "z"]


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"kind": "bpe", "tokens": ["a"]}),
    json.dumps({"kind": "bpe", "tokens": ["<unk>", "a"]}),
    json.dumps({"kind": "bpe", "tokens": ["<unk>", "a"], "merges": [["a", "q"]]}),
    json.dumps({"kind": "bpe", "tokens": ["<unk>", "a"], "merges": 5}),
    json.dumps({"kind": "char", "tokens": ["ab", "c"]}),
    json.dumps({"kind": "char"}),
    json.dumps({"kind": "word", "tokens": ["a", "b"]}),
    json.dumps([1, 2, 3]),
])
def test_corrupt_tokenizer_file(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextgenError, match="damaged"):
        load_tokenizer(path)


def test_binary_or_missing_tokenizer_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TextgenError, match="damaged"):
        load_tokenizer(path)
    with pytest.raises(TextgenError, match="No tokenizer file"):
        load_tokenizer(tmp_path / "absent.json")


def test_make_tokenizer_rejects_unknown_kind():
    with pytest.raises(TextgenError, match='"char"'):
        make_tokenizer("sentencepiece", "text")
    with pytest.raises(TextgenError):
        make_tokenizer("char", "")


def test_expected_vocabulary_is_close_to_what_the_tokenizers_make():
    from textgen.config import expected_vocabulary, resolve_config
    from textgen.corpus import corpus_stats
    text = SHAKESPEARE.read_text(encoding="utf-8")[:300_000]
    stats = corpus_stats(text)
    distinct_words = len(set(w.lower() for w in text.split()))
    for kind in ("char", "bpe"):
        settings = resolve_config("quick", tokenizer=kind)
        vocab, tokens = expected_vocabulary(settings, stats, distinct_words)
        made = make_tokenizer(kind, text, settings["max_vocab"])
        assert abs(vocab - made.vocab_size) <= 0.02 * made.vocab_size + 1, kind
        assert abs(tokens - len(made.encode(text))) <= 0.1 * tokens, kind
