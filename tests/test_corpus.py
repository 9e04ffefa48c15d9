"""Corpus input: encodings, refusals, built-ins, folders, splits, uploads, CSV."""

import re
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
    load_corpus,
    length_problem,
    longest_fitting_seq_len,
    min_corpus_length,
    require_min_length,
    require_min_tokens,
    split_text,
)
from textgen.encodings import MULTIBYTE_ENCODINGS, SINGLE_BYTE_LABELS, decode_bytes, normalize_newlines, read_text
from textgen.tables import csv_columns, csv_text
from textgen.uploads import store_corpus, store_titled, titled_filename
from textgen.errors import TextgenError
from textgen.i18n import catalog, translate_error

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
    assert label == "Windows-1252"


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


# --- nearly-valid UTF-8, legacy encodings found by the detector -------------------------

ACCENTED = "Café naïve résumé — “quoted”. "
RUSSIAN = "Ёлка стояла в углу, а за окном шёл снег. Дети читали книгу о дальних странах.\n"
TRADITIONAL = "臺灣的春天很溫暖，山上的櫻花開了。我們一起去看燈塔吧。\n"


def one_bad_byte_file() -> bytes:
    """The report's repro: UTF-8 prose with a stray 0x92 (a Windows-1252 apostrophe) inside."""
    text = (ACCENTED * 200).encode("utf-8")
    return text[:3000] + b"\x92" + text[3000:]


def test_a_utf8_file_with_one_stray_byte_is_read_as_utf8(tmp_path):
    path = tmp_path / "one-bad-byte.txt"
    path.write_bytes(one_bad_byte_file())
    loaded = load_corpus(path)
    assert loaded.encoding == "UTF-8"
    assert loaded.text == ACCENTED * 200
    assert "é" in loaded.text and not set("Ãâ\x80\x92\x9d\ufffd") & set(loaded.text)
    assert [str(note) for note in loaded.warnings] == [
        "One byte of one-bad-byte.txt was not valid UTF-8 and was left out; it is on line 1."]


@pytest.mark.parametrize("stray", [b"\xff", b"\xff\xfe", b"\x80"])
def test_english_with_a_few_dashes_and_a_stray_byte_or_two_is_read_as_utf8(stray):
    # Mostly ASCII, so few valid multi-byte characters; a dash is three bytes that
    # Windows-1252 text forms only as mojibake ("â€”"), so it vouches for UTF-8.
    prose = "The team met on Monday \u2014 the caf\u00e9 was closed \u2014 and planned the week.\r\n"
    text = "".join(f"Line {i}. " + "We shipped the first draft and read it again.\r\n" for i in range(60))
    data = (prose + text).encode("utf-8")
    cut = data.index(b"first draft", 2000)
    decoded = read_text(data[:cut] + stray + data[cut:], "team.txt")
    assert decoded.encoding == "UTF-8"
    assert decoded.text == (prose + text).replace("\r\n", "\n")
    line = data[:cut].count(b"\n") + 1
    count = "One byte" if len(stray) == 1 else f"{len(stray)} bytes"
    assert str(decoded.notes[0]).startswith(f"{count} of team.txt") and f"line {line}." in str(decoded.notes[0])


def test_windows_1252_german_with_a_two_byte_utf8_lookalike_stays_windows_1252():
    text = "\u201eDer Fu\u00df\u201c, sagte er. Sch\u00f6ne Gr\u00fc\u00dfe aus M\u00fcnchen, bis bald.\n" * 3
    assert "\u00df\u201c".encode("cp1252").decode("utf-8")  # "ß“" is a valid UTF-8 pair
    assert decode_bytes(text.encode("cp1252")) == (text, "Windows-1252")


def test_the_note_counts_the_bad_bytes_and_names_the_line_of_the_first():
    lines = [f"Ligne {i} : déjà vu, café crème.\r\n".encode("utf-8") for i in range(1, 41)]
    for index in (11, 11, 29):  # lines 12 (twice) and 30
        lines[index] = lines[index][:6] + b"\x92" + lines[index][6:]
    decoded = read_text(b"".join(lines), "notes.txt")
    assert decoded.encoding == "UTF-8"
    assert decoded.text == "".join(f"Ligne {i} : déjà vu, café crème.\n" for i in range(1, 41))
    [note] = decoded.notes
    assert str(note) == ("3 bytes of notes.txt were not valid UTF-8 and were left out; "
                         "the first is on line 12.")
    assert note.params == {"count": 3, "name": "notes.txt", "encoding": "UTF-8", "line": 12}
    assert translate_error(note, "zh") == "notes.txt 中有 3 个字节不是有效的 UTF-8，已略去；第一个在第 12 行。"


def test_a_file_cut_inside_a_multibyte_character_is_read_as_utf8():
    text = "Grüße aus Köln, sagte die Möwe.\n" * 3 + "Schöne Grüß"
    assert text.encode("utf-8")[-2:] == "ß".encode("utf-8")
    decoded = read_text(text.encode("utf-8")[:-1], "cut.txt")  # half of the "ß" is left
    assert (decoded.text, decoded.encoding) == (text[:-1], "UTF-8")
    assert [note.params["line"] for note in decoded.notes] == [4]


def test_a_file_starting_with_a_lone_continuation_byte_is_read_as_utf8():
    data = ("é" + RUSSIAN * 3).encode("utf-8")[1:]
    assert data[0] == 0xA9
    decoded = read_text(data, "tail.txt")
    assert (decoded.text, decoded.encoding) == (RUSSIAN * 3, "UTF-8")
    assert str(decoded.notes[0]) == "One byte of tail.txt was not valid UTF-8 and was left out; it is on line 1."


def test_a_russian_text_cut_with_head_c_is_read_as_utf8(tmp_path):
    whole = ("Глава первая\n" + RUSSIAN * 2000).encode("utf-8")
    head = whole[:100_000]  # what `head -c 100000` keeps
    assert head[-1] & 0xC0 == 0xC0  # the cut falls inside a two-byte letter
    path = tmp_path / "war-and-peace.txt"
    path.write_bytes(head)
    loaded = load_corpus(path)
    assert loaded.encoding == "UTF-8"
    assert loaded.text == head[:-1].decode("utf-8")
    last_line = head.count(b"\n") + 1
    assert last_line == 726
    assert [str(note) for note in loaded.warnings] == [
        "One byte of war-and-peace.txt was not valid UTF-8 and was left out; it is on line 726."]


def test_many_bad_bytes_among_few_utf8_characters_are_not_read_as_utf8():
    # Windows-1252 text that happens to hold one valid UTF-8 pair ("Ã©") among many
    # accented letters is Windows-1252, not damaged UTF-8.
    text = "Ã© " + "Le café était fermé, déjà vu à la plage.\n" * 5
    assert decode_bytes(text.encode("cp1252")) == (text, "Windows-1252")


def test_a_big5_file_is_read_as_big5_not_windows_1252(tmp_path):
    path = tmp_path / "春天.txt"
    path.write_bytes((TRADITIONAL * 10).encode("big5"))
    loaded = load_corpus(path)
    assert (loaded.text, loaded.encoding) == (TRADITIONAL * 10, "Big5 (Traditional Chinese)")
    assert loaded.warnings == []
    assert decode_bytes(TRADITIONAL.encode("big5")) == (TRADITIONAL, "Big5 (Traditional Chinese)")


@pytest.mark.parametrize("text, codec, label", [
    (RUSSIAN * 20, "cp1251", "Windows-1251 (Cyrillic)"),
    (RUSSIAN * 20, "koi8-r", "KOI8-R (Russian)"),
    ("Привет, как дела? Всё хорошо.", "cp1251", "Windows-1251 (Cyrillic)"),
    ("Καλημέρα σας, πώς είστε; Αυτό είναι ένα ελληνικό κείμενο.\n" * 5, "cp1253", "Windows-1253 (Greek)"),
    ("Wszystkie dzieci w szkole mówią, że zażółć gęślą jaźń to trudne zdanie.\n" * 10, "cp1250",
     "Windows-1250 (Central European)"),
    ("日本語のテキストです。東京は大きな都市です。\n" * 10, "shift_jis", "Shift JIS (Japanese)"),
    ("한국어 텍스트입니다. 서울은 큰 도시입니다.\n" * 10, "euc-kr", "EUC-KR (Korean)"),
])
def test_other_legacy_encodings_are_found_by_the_detector(text, codec, label):
    assert decode_bytes(text.encode(codec)) == (text, label)


@pytest.mark.parametrize("data", [
    "Le café était fermé. Résumé: naïve déjà-vu, señor año über Öl.\n".encode("cp1252") * 5,
    "Grüße aus Köln, sagte die Möwe.\n".encode("cp1252") * 40,
    "name;text\na;café\nb;thé\n".encode("cp1252"),
    "As informações não estão disponíveis para a população.\n".encode("cp1252") * 10,
    "She said \u201cit\u2019s fine\u201d \u2013 and left for \u20ac5.\n".encode("cp1252"),
])
def test_windows_1252_text_is_recognised_without_a_garbled_warning(data):
    decoded = read_text(data)
    assert decoded.encoding == "Windows-1252" and "fallback" not in decoded.encoding
    assert decoded.text == data.decode("cp1252") and decoded.notes == []


def test_a_gbk_file_cut_inside_its_last_character_is_still_gb18030():
    whole = (CHINESE * 20).encode("gbk")
    decoded = read_text(whole[:-1], "cut.txt")
    assert (decoded.text, decoded.encoding) == ((CHINESE * 20)[:-1], "GB18030 (Chinese)")
    assert str(decoded.notes[0]) == "One byte of cut.txt was not valid GB18030 and was left out; it is on line 1."


def test_a_cut_utf16_file_keeps_its_text():
    data = ("hello world\n" * 10).encode("utf-16")[:-1]
    decoded = read_text(data, "cut.txt")
    assert (decoded.text, decoded.encoding) == ("hello world\n" * 9 + "hello world", "UTF-16")
    assert decoded.notes[0].params["line"] == 10


def test_warnings_of_every_file_travel_with_a_folder_or_a_list(tmp_path):
    (tmp_path / "a.txt").write_bytes(one_bad_byte_file())
    (tmp_path / "b.txt").write_bytes(b"\xa9" + RUSSIAN.encode("utf-8"))
    folder = load_corpus(tmp_path)
    assert [note.params["name"] for note in folder.warnings] == [
        f"a.txt (in the folder {tmp_path.name})", f"b.txt (in the folder {tmp_path.name})"]
    listed = load_corpus([tmp_path / "a.txt", "builtin:sample", tmp_path / "b.txt"])
    assert [note.params["name"] for note in listed.warnings] == ["a.txt", "b.txt"]
    assert load_corpus("builtin:sample").warnings == []


def test_every_encoding_label_and_note_has_a_chinese_entry_with_the_same_fields():
    labels = {label for _, label in MULTIBYTE_ENCODINGS.values()} | set(SINGLE_BYTE_LABELS.values())
    notes = {read_text(b"caf\xc3\xa9 \xc3\xa9t\xc3\xa9 " * 10 + b"\x92", "x").notes[0].template,
             read_text(b"\x92" + "café été ".encode() * 10 + b"\x92", "x").notes[0].template}
    assert len(notes) == 2
    zh = catalog("zh")
    for english in labels | notes:
        assert english in zh, english
        assert set(re.findall(r"{(\w+)", english)) == set(re.findall(r"{(\w+)", zh[english]))


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
    assert corpus.encoding == "UTF-8, Windows-1252"
    assert corpus.warnings == []
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


def one_window_length(seq_len, fraction):
    """A run's settings that train on windows of ``seq_len`` throughout (no warm-up)."""
    return {"arch": "gru", "seq_len": seq_len, "val_fraction": fraction}


@pytest.mark.parametrize("seq_len, fraction", [(64, 0.1), (100, 0.5), (7, 0.25), (256, 0.05)])
def test_min_length_is_exact(seq_len, fraction):
    minimum = min_corpus_length(seq_len, fraction)
    require_min_length("x" * minimum, one_window_length(seq_len, fraction))
    with pytest.raises(TextgenError):
        require_min_length("x" * (minimum - 1), one_window_length(seq_len, fraction))


@pytest.mark.parametrize("chars, fraction", [(311, 0.1), (400, 0.1), (51, 0.1), (1000, 0.5), (90, 0.25)])
def test_the_longest_fitting_sequence_length_fits_and_one_more_does_not(chars, fraction):
    longest = longest_fitting_seq_len(chars, fraction)
    assert min_corpus_length(longest, fraction) <= chars < min_corpus_length(longest + 1, fraction)


def test_a_text_too_small_for_any_window_fits_no_sequence_length():
    assert longest_fitting_seq_len(5, 0.1) == 0 and longest_fitting_seq_len(0, 0.1) == 0


def test_too_short_message():
    with pytest.raises(TextgenError) as info:
        require_min_length("x" * 100, one_window_length(64, 0.1))
    message = str(info.value)
    assert message.startswith("The corpus has 100 characters; with a sequence length of 64 "
                              "and a held-out share of 0.1 it needs at least ")
    assert message.endswith("Add more text or set a sequence length of 9 or less.")
    assert min_corpus_length(9, 0.1) <= 100 < min_corpus_length(10, 0.1)


def test_the_too_short_message_of_a_warm_up_names_its_first_windows_and_a_length_that_fits():
    # 311 characters: windows of 32 need 321, so lowering the length "below 64" is not enough.
    warm_up = {"arch": "gru", "seq_len": 256, "short_seq_len": 64, "val_fraction": 0.1}
    message = str(length_problem(311, warm_up))
    assert ("this run's windows start at 64 tokens and grow to its sequence length of 256, so "
            "with a held-out share of 0.1 it needs at least 641.") in message
    assert message.endswith("set a sequence length of 31 or less.")
    assert length_problem(311, dict(warm_up, seq_len=31)) is None  # the advice taken
    assert "of 31 or less" in str(length_problem(311, dict(warm_up, seq_len=32)))
    assert length_problem(641, warm_up) is None  # the long windows shrink to what the text holds


def test_the_too_short_message_of_a_text_no_window_fits_asks_only_for_more_text():
    message = str(length_problem(20, one_window_length(64, 0.1)))
    assert message == ("The corpus has 20 characters; even windows of 4 tokens, the shortest a run can "
                       "read, need at least 41 with a held-out share of 0.1. Add more text.")


def test_too_few_tokens_names_the_longest_sequence_length_the_training_part_holds():
    require_min_tokens(66, 64, 5)  # a window of 64 and its next token, with one to spare
    with pytest.raises(TextgenError) as info:
        require_min_tokens(40, 64, 5)
    assert str(info.value) == ("The corpus is too short for a sequence length of 64 tokens: its training "
                               "part has 40 tokens. Add more text or set a sequence length of 38 or less.")
    require_min_tokens(40, 38, 5)  # the advice taken


def test_too_few_held_out_tokens_asks_only_for_more_text():
    with pytest.raises(TextgenError) as info:
        require_min_tokens(400, 64, 1)
    assert str(info.value).endswith("its held-out part 1. Add more text.")


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
    ("my notes (v2).txt", "my notes (v2).txt"),
    (".bashrc", "bashrc"),
    ("C:\\Users\\me\\story.md", "story.md"),
    ("故事.txt", "故事.txt"),
    ("春天.txt", "春天.txt"),
    ("Привет, мир.md", "Привет, мир.md"),
    ('a<b>:c"d|e?f*.txt', "a_b__c_d_e_f_.txt"),
    ("tab\there\n.txt", "tab_here_.txt"),
    ("notes. . ", "notes"),
    ("...", "corpus.txt"),
    ("", "corpus.txt"),
])
def test_store_corpus_sanitises_names(tmp_path, name, expected):
    path = store_corpus(b"text", name, tmp_path)
    assert path.name == expected
    assert not path.name.startswith(".")


def test_a_long_name_in_any_script_is_cut_to_whole_characters_keeping_its_extension(tmp_path):
    path = store_corpus(b"text", "春" * 100 + ".txt", tmp_path)
    assert path.name == "春" * 38 + ".txt" and len(path.name.encode("utf-8")) <= 120


def test_a_chinese_file_name_names_the_corpus(tmp_path):
    path = store_corpus("春天来了，花儿都开了。".encode("utf-8"), "春天.txt", tmp_path)
    assert path.name == "春天.txt"
    assert load_corpus(path).name == "春天.txt"


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


def test_a_csv_without_a_header_row_keeps_its_first_row_and_numbers_its_columns():
    data = (b'"The quick brown fox jumps over the lazy dog.",positive\n'
            b'"Another sentence, quite a bit longer than a name.",negative\n'
            b'"A third line of text.",positive\n')
    assert csv_columns(data) == ["Column 1", "Column 2"]
    assert csv_text(data, "Column 1").splitlines()[0] == "The quick brown fox jumps over the lazy dog."
    assert csv_text(data, "Column 2") == "positive\nnegative\npositive"


def test_a_csv_whose_first_row_holds_numbers_is_read_as_data():
    data = b"1,first line of text\n2,second line\n3,third\n"
    assert csv_columns(data) == ["Column 1", "Column 2"]
    assert csv_text(data, "Column 2") == "first line of text\nsecond line\nthird"


def test_a_csv_with_a_header_above_longer_text_keeps_its_names():
    data = "标题,正文\n春天,春天来了，花儿都开了。\n夏天,夏天很热，我们去游泳。\n".encode()
    assert csv_columns(data) == ["标题", "正文"]
    assert csv_text(data, "正文") == "春天来了，花儿都开了。\n夏天很热，我们去游泳。"


def test_a_csv_column_with_a_blank_name_is_numbered():
    assert csv_columns(b",text\n0,hello there\n1,world\n") == ["Column 1", "text"]


def test_a_csv_of_one_row_is_data():
    assert csv_text(b"only,one row\n", "Column 2") == "one row"


def test_csv_errors():
    with pytest.raises(TextgenError, match='no column "nope"'):
        csv_text(CSV, "nope")
    with pytest.raises(TextgenError, match="is empty"):
        csv_text(b"a,b\n1,\n2,\n", "b")
    with pytest.raises(TextgenError, match="PNG"):
        csv_columns(tiny_png())


@pytest.mark.parametrize("title, filename", [
    ("Team notes", "Team notes.txt"), ("春天的信", "春天的信.txt"), ("  Letters  ", "Letters.txt"),
    ("report.txt", "report.txt"), ("Q1/Q2: notes?", "Q1_Q2_ notes_.txt"),
    ("", None), ("   ", None), ("...", None), (" / \\ ", None)])
def test_a_corpus_title_becomes_its_file_name_or_none(title, filename):
    assert titled_filename(title) == filename


def test_titled_uploads_are_kept_under_their_title(tmp_path):
    one = store_corpus("Le café était fermé.\n".encode("cp1252") * 50, "cafe.txt", tmp_path)
    two = store_corpus(b"Second file.\n" * 50, "two.txt", tmp_path)
    single = store_titled([str(one)], "Caf\u00e9 notes", tmp_path)
    assert (single.name, single.read_bytes()) == ("Café notes.txt", one.read_bytes())
    joined = store_titled([str(one), str(two)], "Both", tmp_path)
    assert joined.name == "Both.txt"
    assert joined.read_text(encoding="utf-8") == load_corpus([str(one), str(two)]).text
    assert load_corpus(str(joined)).name == "Both.txt"
    assert store_titled([str(one)], " / ", tmp_path) is None


def test_utf8_joined_with_latin1_lines_is_read_as_utf8_with_the_latin1_bytes_left_out():
    utf8 = "Décisions — ½ résumé, “quoted” café.\n".encode("utf-8") * 20
    data = utf8 + b"caf\xe9 ok\n" * 500 + utf8
    decoded = read_text(data, "notes.txt")
    assert decoded.encoding == "UTF-8"
    assert decoded.text.startswith("Décisions — ½ résumé, “quoted” café.\n")
    assert "Ã" not in decoded.text and "Ă" not in decoded.text
    assert decoded.text.count("caf ok\n") == 500
    (note,) = decoded.notes
    assert str(note) == "500 bytes of notes.txt were not valid UTF-8 and were left out; the first is on line 21."
