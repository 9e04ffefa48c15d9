"""Corpus input: encodings, refusals, built-ins, folders, splits, uploads, CSV."""

import os
import struct
import zlib
from pathlib import Path

import pytest

from textgen.corpus import (
    BUILTIN_CORPORA,
    PYTHON_CODE_CAP,
    Corpus,
    builtin_text,
    corpus_stats,
    csv_columns,
    csv_text,
    decode_bytes,
    load_corpus,
    min_corpus_length,
    normalize_newlines,
    require_min_length,
    split_text,
    store_corpus,
)
from textgen.errors import TextgenError

SHAKESPEARE = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "tinyshakespeare.txt"
CHINESE = "灯塔每十五秒转一圈，船长们靠数秒来认出它。这里的人很友善。"


def tiny_png() -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


# --- decoding ---------------------------------------------------------------------------

def test_plain_utf8():
    assert decode_bytes("héllo wörld\n".encode("utf-8")) == ("héllo wörld\n", "UTF-8")


def test_utf8_with_bom_drops_the_bom():
    text, label = decode_bytes(b"\xef\xbb\xbf" + "café\n".encode("utf-8"))
    assert (text, label) == ("café\n", "UTF-8 (with BOM)")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec):
    bom = b"\xff\xfe" if codec.endswith("le") else b"\xfe\xff"
    text, label = decode_bytes(bom + f"Hello {CHINESE}\r\nbye".encode(codec))
    assert text == f"Hello {CHINESE}\nbye"
    assert label == "UTF-16"


def test_utf16_without_bom_is_not_mistaken_for_binary():
    text, label = decode_bytes("plain old text\nline two\n".encode("utf-16-le"))
    assert text == "plain old text\nline two\n" and label == "UTF-16"


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_chinese_gb_encodings(codec):
    text, label = decode_bytes((CHINESE + "\nabc\n").encode(codec))
    assert text == CHINESE + "\nabc\n"
    assert label == "GB18030 (Chinese)"


def test_latin1_prose_is_not_mistaken_for_chinese():
    prose = "Le café était fermé. Résumé: naïve déjà-vu, señor año über Öl.\n" * 5
    text, label = decode_bytes(prose.encode("latin-1"))
    assert text == prose
    assert label.startswith("Windows-1252")


def test_cp1252_smart_quotes():
    text, label = decode_bytes("\u201cQuoted\u201d \u2013 it\u2019s \u20ac5".encode("cp1252"))
    assert text == "\u201cQuoted\u201d \u2013 it\u2019s \u20ac5"
    assert label == "Windows-1252 (fallback: some characters may be wrong)"


def test_latin1_when_cp1252_cannot_decode():
    text, label = decode_bytes(b"caf\xe9 \x81 ok, a longer line of text")
    assert text == "caf\xe9 \x81 ok, a longer line of text"
    assert label == "Latin-1 (fallback: some characters may be wrong)"


def test_mixed_line_endings_are_normalised():
    text, _ = decode_bytes(b"one\r\ntwo\rthree\nfour\r\n")
    assert text == "one\ntwo\nthree\nfour\n"
    assert normalize_newlines("a\r\r\nb") == "a\n\nb"


def test_png_renamed_txt_is_refused_by_name():
    with pytest.raises(TextgenError, match=r"photo\.txt looks like a PNG image, not text"):
        decode_bytes(tiny_png(), name="photo.txt")


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP"),
])
def test_other_binary_formats_are_named(data, kind):
    with pytest.raises(TextgenError, match=kind):
        decode_bytes(data, name="x.txt")


def test_nul_bytes_are_refused():
    with pytest.raises(TextgenError, match="data.bin looks like binary data"):
        decode_bytes(b"abc\x00def\x00\x01\x02 some text here", name="data.bin")


def test_many_control_characters_are_refused():
    data = bytes(range(1, 9)) * 20 + b"some words"
    with pytest.raises(TextgenError, match="binary data"):
        decode_bytes(data)


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", b"\xef\xbb\xbf", b"\xff\xfe \x00\n\x00"])
def test_empty_or_blank_is_refused(data):
    with pytest.raises(TextgenError, match="notes.txt is empty. Choose a file that contains text."):
        decode_bytes(data, name="notes.txt")


# --- stats ------------------------------------------------------------------------------

def test_stats_counts_chinese_characters_as_words():
    stats = corpus_stats("Hello, world!\n" + CHINESE)
    assert stats["words"] == 2 + sum(1 for c in CHINESE if "\u4e00" <= c <= "\u9fff")
    assert stats["lines"] == 2
    assert stats["chars"] == len("Hello, world!\n" + CHINESE)
    assert stats["distinct_chars"] == len(set("Hello, world!\n" + CHINESE))
    assert corpus_stats("") == {"chars": 0, "distinct_chars": 0, "words": 0, "lines": 0}


def test_corpus_sha256_and_stats():
    corpus = Corpus(name="x", text="abc", encoding="UTF-8", sources=[])
    assert corpus.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert corpus.stats["chars"] == 3


# --- built-ins --------------------------------------------------------------------------

def test_builtin_names_are_described():
    assert set(BUILTIN_CORPORA) == {"sample", "python-docs", "python-code", "sample-zh"}


def test_builtin_python_docs():
    corpus = load_corpus("builtin:python-docs")
    assert corpus.name == "builtin:python-docs"
    assert len(corpus.text) > 100_000
    assert corpus.text == builtin_text("python-docs")


def test_builtin_python_code_is_capped_and_deterministic():
    text = builtin_text("python-code")
    assert 100_000 < len(text) <= PYTHON_CODE_CAP
    assert "def " in text and "import " in text
    from textgen import corpus as module
    module._python_code_text.cache_clear()
    assert builtin_text("python-code") == text


def test_builtin_sample():
    corpus = load_corpus("builtin:sample")
    assert len(corpus.text) > 50_000
    assert "\r" not in corpus.text
    assert any("\u4e00" <= c <= "\u9fff" for c in corpus.text)


def test_builtin_chinese_sample():
    corpus = load_corpus("builtin:sample-zh")
    assert corpus.name == "builtin:sample-zh" and corpus.sources == ["builtin:sample-zh"]
    assert corpus.text == builtin_text("sample-zh")
    assert sum("\u4e00" <= c <= "\u9fff" for c in corpus.text) > 5_000


def test_unknown_builtin_lists_the_choices():
    with pytest.raises(TextgenError, match="builtin:sample, builtin:python-docs, builtin:python-code"):
        load_corpus("builtin:nope")


# --- files, folders, lists --------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(TextgenError, match="No file or folder named .* Check the path."):
        load_corpus(tmp_path / "missing.txt")


def test_single_file(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(CHINESE.encode("gb18030"))
    corpus = load_corpus(str(path))
    assert corpus == Corpus(name="story.txt", text=CHINESE, encoding="GB18030 (Chinese)",
                            sources=[str(path)])


def test_folder_is_read_recursively_in_order_skipping_hidden_and_binary(tmp_path):
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / "a.md").write_text("first", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_bytes("third é".encode("cp1252"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / ".hidden.txt").write_text("secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: main")
    (tmp_path / "photo.png").write_bytes(tiny_png())
    corpus = load_corpus(tmp_path)
    assert corpus.text == "first\n\nsecond\n\nthird é"
    assert corpus.name == tmp_path.name
    assert corpus.encoding == "UTF-8, Windows-1252 (fallback: some characters may be wrong)"
    assert [Path(s).name for s in corpus.sources] == ["a.md", "b.txt", "c.txt"]


def test_folder_with_a_disguised_binary_names_the_file(tmp_path):
    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "holiday.txt").write_bytes(tiny_png())
    with pytest.raises(TextgenError, match="holiday.txt .*looks like a PNG image"):
        load_corpus(tmp_path)


def test_folder_without_text(tmp_path):
    (tmp_path / "x.png").write_bytes(tiny_png())
    with pytest.raises(TextgenError, match="contains no text files"):
        load_corpus(tmp_path)


def test_list_concatenates(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("alpha", encoding="utf-8")
    two.write_text("beta", encoding="utf-8")
    corpus = load_corpus([one, str(two)])
    assert corpus.text == "alpha\n\nbeta"
    assert corpus.name == "one.txt + two.txt"
    assert corpus.encoding == "UTF-8"
    mixed = load_corpus([one, "builtin:sample"])
    assert mixed.text.startswith("alpha\n\n") and len(mixed.text) > 50_000
    with pytest.raises(TextgenError):
        load_corpus([])


# --- split and minimum length -----------------------------------------------------------

def test_split_is_the_last_fraction():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, held_out = split_text(text, 0.1)
    assert train + held_out == text
    assert held_out == text[-100:]
    assert split_text("abcdefghij", 0.3) == ("abcdefg", "hij")
    with pytest.raises(TextgenError):
        split_text(text, 1.5)


def test_split_of_reference_corpus():
    if not SHAKESPEARE.exists():
        pytest.skip("reference corpus not available")
    text = SHAKESPEARE.read_text(encoding="utf-8")
    train, held_out = split_text(text, 0.1)
    assert len(train) == int(len(text) * 0.9)
    assert held_out == text[len(train):]


@pytest.mark.parametrize("seq_len, fraction", [(64, 0.1), (100, 0.5), (7, 0.25), (256, 0.05)])
def test_min_length_is_exact(seq_len, fraction):
    minimum = min_corpus_length(seq_len, fraction)
    require_min_length("x" * minimum, seq_len, fraction)
    with pytest.raises(TextgenError):
        require_min_length("x" * (minimum - 1), seq_len, fraction)


def test_too_short_message():
    with pytest.raises(TextgenError) as info:
        require_min_length("x" * 100, 64, 0.1)
    message = str(info.value)
    assert message.startswith("The corpus has 100 characters; with a sequence length of 64 "
                              "and a held-out share of 0.1 it needs at least ")
    assert message.endswith("Add more text or lower the sequence length.")


# --- uploads ----------------------------------------------------------------------------

def test_store_corpus_is_idempotent_and_safe(tmp_path):
    data = b"To be kept.\n"
    first = store_corpus(data, "../../etc/passwd", tmp_path)
    assert first.parent.parent == tmp_path / "corpora"
    assert first.name == "passwd"
    assert first.read_bytes() == data
    mtime = first.stat().st_mtime_ns
    second = store_corpus(data, "../../etc/passwd", tmp_path)
    assert second == first and second.stat().st_mtime_ns == mtime
    assert [p.name for p in first.parent.iterdir()] == ["passwd"]  # no temp files left


@pytest.mark.parametrize("name, expected", [
    ("my notes (v2).txt", "my_notes__v2_.txt"),
    (".bashrc", "bashrc"),
    ("C:\\Users\\me\\story.md", "story.md"),
    ("故事.txt", "__.txt"),
    ("...", "corpus.txt"),
    ("", "corpus.txt"),
])
def test_store_corpus_sanitises_names(tmp_path, name, expected):
    path = store_corpus(b"text", name, tmp_path)
    assert path.name == expected
    assert not path.name.startswith(".")


# --- CSV --------------------------------------------------------------------------------

CSV = "id,quote,author\n1,\"Hello, sea\",Ada\n2,,Harry\n3,\"Two\nlines\",Nell\n".encode("utf-8")


def test_csv_columns_and_text():
    assert csv_columns(CSV) == ["id", "quote", "author"]
    assert csv_text(CSV, "quote") == "Hello, sea\nTwo\nlines"
    assert csv_text(CSV, "author") == "Ada\nHarry\nNell"


def test_csv_semicolons_and_encoding():
    data = "name;text\na;café\nb;thé\n".encode("cp1252")
    assert csv_columns(data) == ["name", "text"]
    assert csv_text(data, "text") == "café\nthé"


def test_csv_errors():
    with pytest.raises(TextgenError, match='no column "nope"'):
        csv_text(CSV, "nope")
    with pytest.raises(TextgenError, match="is empty"):
        csv_text(b"a,b\n1,\n2,\n", "b")
    with pytest.raises(TextgenError, match="PNG"):
        csv_columns(tiny_png())
