"""Bytes to text: the encoding of a file found and its text decoded, or a sentence saying
why it is not text (a photo renamed .txt, an empty file, binary data).

``read_text`` is the one way file bytes become text; ``Note`` carries what a person should
know about how they were read (bytes left out ...), translatable like a TextgenError.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import charset_normalizer
import numpy as np

from textgen.errors import TextgenError

# Leading bytes of common non-text formats, checked before any decoding so that a renamed
# photo gets a message naming what it really is instead of a page of mojibake.
MAGIC_NUMBERS = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a Word, Excel or other Office document)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", None),  # bzip2 only with its block magic; checked below
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office document (.doc, .xls, .ppt)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x00\x00\x01\x00", "an icon image"),
    (b"wOFF", "a web font"),
    (b"\xca\xfe\xba\xbe", "a compiled Java class or program"),
]

RIFF_KINDS = {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}

# Control characters that never appear in real text (tab, newlines and form feed do).
CONTROL_CHAR_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
MAX_CONTROL_SHARE = 0.05


@dataclass(frozen=True)
class Note:
    """Something a person should know about how a corpus was read (bytes left out ...).

    Like a TextgenError it keeps its English template and params, so the app can show it
    in another language (textgen.i18n.translate_error reads both); str() is the English.
    """

    template: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template.format(**self.params)


@dataclass
class DecodedText:
    """One file's bytes as text: the text, its encoding as people name it, and notes."""

    text: str
    encoding: str
    notes: list[Note] = field(default_factory=list)


def normalize_newlines(text: str) -> str:
    """Windows (\\r\\n) and old Mac (\\r) line endings become \\n."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _binary_kind(data: bytes) -> str | None:
    """What known non-text format the bytes start with, if any."""
    for magic, kind in MAGIC_NUMBERS:
        if data.startswith(magic):
            if magic == b"BZh":
                # 'BZh' alone could begin an ordinary line of text.
                if data[3:4].isdigit() and data[4:10] == b"1AY&SY":
                    return "a bzip2-compressed file"
                continue
            return kind
    if data.startswith(b"RIFF") and data[8:12] in RIFF_KINDS:
        return RIFF_KINDS[data[8:12]]
    if data.startswith(b"BM") and len(data) > 14 and data[6:10] == b"\x00\x00\x00\x00":
        return "a BMP image"
    if data[4:8] == b"ftyp":
        return "an MP4 or other video/audio file"
    if data.startswith(b"MZ") and b"\x00" in data[:512]:
        return "a Windows program"
    return None


def _looks_like_utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when every other byte is NUL, as in BOM-less UTF-16
    of mostly Latin text; None otherwise. The length may be odd: a cut file."""
    if len(data) < 4:
        return None
    sample = data[:4096]
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


# Bytes that do not decode. Each becomes one lone surrogate, U+DC00 + the byte (Python's
# "surrogateescape" does this fast for UTF-8; the handler below does it for any codec and
# any byte). Strictly decoded text never holds a lone surrogate, so afterwards they mark
# exactly the bad bytes: counted, located by line, then left out.
ESCAPED_BYTES = "".join(chr(0xDC00 + byte) for byte in range(256))
ESCAPED_BYTE_RE = re.compile("[\udc00-\udcff]")
ESCAPE_ERRORS = "textgen-escape-bytes"


def _escape_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(ESCAPED_BYTES[byte] for byte in bad), error.end


codecs.register_error(ESCAPE_ERRORS, _escape_bad_bytes)


def _drop_bad_bytes(text: str, encoding: str, name: str) -> tuple[str, list[Note]]:
    """The text without its escaped bad bytes, and a note saying how many there were and
    the line (counted from 1, as an editor does) of the first."""
    first = ESCAPED_BYTE_RE.search(text)
    if first is None:
        return text, []
    count = len(ESCAPED_BYTE_RE.findall(text))
    line = normalize_newlines(text[:first.start()]).count("\n") + 1
    params = {"name": name, "encoding": encoding, "line": line}
    if count == 1:
        note = Note("One byte of {name} was not valid {encoding} and was left out; it is on line {line:,}.",
                    params)
    else:
        note = Note("{count:,} bytes of {name} were not valid {encoding} and were left out; "
                    "the first is on line {line:,}.", {"count": count, **params})
    return ESCAPED_BYTE_RE.sub("", text), [note]


# A file cut with `head -c` (or a download cut short) can lose up to three bytes of a
# character at either end; such bytes say nothing about the encoding.
MAX_CUT_BYTES = 3
# Valid multi-byte UTF-8 characters per bad byte that make "UTF-8 with a few bad bytes"
# the reading. Text in a legacy encoding hardly ever forms valid UTF-8 sequences: Chinese
# in GBK, the worst case, gives about one valid character per four bad bytes, Western and
# Cyrillic single-byte text about none, so four per bad byte leaves a wide margin.
NEARLY_UTF8_RATIO = 4
# A file joined from UTF-8 parts and parts in a single-byte encoding (café saved as Latin-1)
# is UTF-8 with many bad bytes, each standing alone. Legacy multi-byte text read as UTF-8
# gives bad bytes side by side, and single-byte text hardly any valid multi-byte characters,
# so this many valid characters among lone bad bytes make the reading UTF-8 as well.
MIXED_MIN_MULTIBYTE = 8
# A valid three- or four-byte sequence (a dash, a curly quote, an emoji) is what
# single-byte text forms only as mojibake ("â€”"), so where the detector's choice is a
# single-byte encoding, one of them vouches for UTF-8 among up to this many bad bytes (an
# English text with a few dashes and a stray byte or two). Two-byte sequences vouch for
# nothing alone: German in Windows-1252 forms them ("ß“").
BAD_BYTES_PER_WIDE_CHAR = 4
_ADJACENT_BAD_RE = re.compile("[\udc80-\udcff]{2}")


def _cut_bytes(text: str) -> int:
    """Escaped bytes at the very start and the very end of text, where a cut falls."""
    lead = len(text) - len(text.lstrip(ESCAPED_BYTES))
    trail = len(text) - len(text.rstrip(ESCAPED_BYTES))
    return (lead if lead <= MAX_CUT_BYTES else 0) + (trail if trail <= MAX_CUT_BYTES else 0)


def _utf8_reading(data: bytes) -> str | None:
    """The bytes as UTF-8, bad bytes escaped, when UTF-8 is what they are: valid, cut at
    either end, with a few stray bytes among many valid multi-byte characters, or joined
    with parts in a single-byte encoding (lone bad bytes among valid multi-byte characters)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "surrogateescape")
    bad = len(ESCAPED_BYTE_RE.findall(text))
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - bad
    inner_bad = bad - _cut_bytes(text)
    if multibyte > 0 and multibyte >= NEARLY_UTF8_RATIO * inner_bad:
        return text
    if multibyte >= MIXED_MIN_MULTIBYTE and not _ADJACENT_BAD_RE.search(text):
        return text  # UTF-8 joined with single-byte parts: their bytes are the bad ones
    return None


def _wide_utf8_reading(data: bytes) -> str | None:
    """The bytes as UTF-8, bad bytes escaped, when its three- and four-byte characters
    vouch for it (BAD_BYTES_PER_WIDE_CHAR); asked only once a single-byte reading is the
    alternative."""
    text = data.decode("utf-8", "surrogateescape")
    wide = sum(1 for c in text if ord(c) > 0x7FF and not 0xDC80 <= ord(c) <= 0xDCFF)
    inner_bad = len(ESCAPED_BYTE_RE.findall(text)) - _cut_bytes(text)
    return text if wide * BAD_BYTES_PER_WIDE_CHAR >= inner_bad > 0 else None


# Legacy (pre-Unicode) encodings, as Python's codecs name them, with their labels.
# Multi-byte ones are decoded with the codec given; the GB family with GB18030, which
# holds GBK and GB2312.
MULTIBYTE_ENCODINGS = {
    "gb18030": ("gb18030", "GB18030 (Chinese)"),
    "gbk": ("gb18030", "GB18030 (Chinese)"),
    "gb2312": ("gb18030", "GB18030 (Chinese)"),
    "big5": ("big5", "Big5 (Traditional Chinese)"),
    "big5hkscs": ("big5hkscs", "Big5 (Traditional Chinese)"),
    "cp950": ("cp950", "Big5 (Traditional Chinese)"),
    "cp932": ("cp932", "Shift JIS (Japanese)"),
    "shift_jis": ("shift_jis", "Shift JIS (Japanese)"),
    "shift_jis_2004": ("shift_jis_2004", "Shift JIS (Japanese)"),
    "shift_jisx0213": ("shift_jisx0213", "Shift JIS (Japanese)"),
    "euc_jp": ("euc_jp", "EUC-JP (Japanese)"),
    "euc_jis_2004": ("euc_jis_2004", "EUC-JP (Japanese)"),
    "euc_jisx0213": ("euc_jisx0213", "EUC-JP (Japanese)"),
    "cp949": ("cp949", "EUC-KR (Korean)"),
    "euc_kr": ("euc_kr", "EUC-KR (Korean)"),
    "johab": ("johab", "Johab (Korean)"),
}
MULTIBYTE_CODECS = {codec for codec, _ in MULTIBYTE_ENCODINGS.values()}
SINGLE_BYTE_LABELS = {
    "cp1250": "Windows-1250 (Central European)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "cp1252": "Windows-1252",
    "cp1253": "Windows-1253 (Greek)",
    "cp1254": "Windows-1254 (Turkish)",
    "cp1255": "Windows-1255 (Hebrew)",
    "cp1256": "Windows-1256 (Arabic)",
    "cp1257": "Windows-1257 (Baltic)",
    "cp1258": "Windows-1258 (Vietnamese)",
    "cp874": "Windows-874 (Thai)",
    "tis-620": "TIS-620 (Thai)",
    "koi8-r": "KOI8-R (Russian)",
    "koi8-u": "KOI8-U (Ukrainian)",
    "mac-cyrillic": "Mac Cyrillic",
    "mac-roman": "Mac Roman",
}
WESTERN = "cp1252"
CP1252_FALLBACK = ("cp1252", "Windows-1252 (fallback: some characters may be wrong)")
LATIN1_FALLBACK = ("latin-1", "Latin-1 (fallback: some characters may be wrong)")
# The detector's coherence (0-1) from which it has recognised the text's language;
# below it (a short text, a list of names) its choice is close to a guess.
RECOGNISED_LANGUAGE = 0.2
# Latin-script single-byte code pages differ in a few letters only, and detectors tell
# them apart poorly on short text (French read as Mac Latin-2 turns "é" into "ť"), so
# Windows-1252, the most common, is taken whenever its reading looks like Western text:
# accented letters mostly among ASCII ones, at most two in a row as in "ções" (Cyrillic,
# Greek, Hebrew or Arabic read that way turn whole words into runs of accented letters),
# and hardly any symbol squeezed between two letters (Polish read that way gives
# "za¿ó³æ"; "it’s" and "l·l" are fine).
MAX_WESTERN_RUN_SHARE = 0.5
MAX_WESTERN_SQUEEZED_SHARE = 0.02
_NON_ASCII_LETTER = "[^\\W\\d_\x00-\x7f]"
_NON_ASCII_LETTER_RE = re.compile(_NON_ASCII_LETTER)
_LETTER_RUN_RE = re.compile(f"{_NON_ASCII_LETTER}{{3,}}")
_NON_ASCII_RE = re.compile("[^\x00-\x7f]")
_SQUEEZED_SYMBOL_RE = re.compile("(?<=[^\\W\\d_])[^\\w\\s\x00-\x7f\u2019\u2018\u00b7](?=[^\\W\\d_])")


def _single_byte_label(codec: str) -> str:
    if codec in SINGLE_BYTE_LABELS:
        return SINGLE_BYTE_LABELS[codec]
    if codec.startswith("iso8859-"):
        return "ISO-8859-" + codec.split("-")[1]
    if codec.startswith("cp") and codec[2:].isdigit():
        return "Code page " + codec[2:]
    return codec.upper()


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _reads_as_western(data: bytes) -> bool:
    """True when the bytes read as Windows-1252 look like Western European text."""
    try:
        text = data[:200_000].decode(WESTERN)
    except UnicodeDecodeError:
        return False
    letters = len(_NON_ASCII_LETTER_RE.findall(text))
    non_ascii = len(_NON_ASCII_RE.findall(text))
    in_runs = sum(map(len, _LETTER_RUN_RE.findall(text)))
    return (in_runs <= MAX_WESTERN_RUN_SHARE * letters
            and len(_SQUEEZED_SYMBOL_RE.findall(text)) <= MAX_WESTERN_SQUEEZED_SHARE * non_ascii)


def _detect(data: bytes):
    """charset-normalizer's best match for the bytes, or None; a file in a two-byte
    encoding cut inside its last character is detected without that byte."""
    best = charset_normalizer.from_bytes(data).best()
    if best is None and len(data) > 2:
        trimmed = charset_normalizer.from_bytes(data[:-1]).best()
        if trimmed is not None and codecs.lookup(trimmed.encoding).name in MULTIBYTE_ENCODINGS:
            return trimmed
    return best


def _legacy_encoding(data: bytes) -> tuple[str, str]:
    """(codec, label) of bytes that are not UTF-8 or UTF-16.

    The detector decides multi-byte (Chinese, Japanese, Korean) encodings; Windows-1252
    is taken when its reading looks Western; otherwise the detector's single-byte choice,
    unless it recognised no language and the bytes are not even valid Windows-1252
    (then Latin-1, labelled as a fallback). With no choice at all, a fallback label.
    """
    best = _detect(data)
    codec = codecs.lookup(best.encoding).name if best is not None else None
    if codec in MULTIBYTE_ENCODINGS:
        return MULTIBYTE_ENCODINGS[codec]
    if _reads_as_western(data):
        return WESTERN, SINGLE_BYTE_LABELS[WESTERN]
    # UTF-16 and UTF-32 are only trusted with their BOM or their NUL bytes (see _reading).
    if codec is not None and not codec.startswith("utf"):
        if best.coherence >= RECOGNISED_LANGUAGE or _decodes(data, WESTERN):
            return codec, _single_byte_label(codec)
    return CP1252_FALLBACK if _decodes(data, WESTERN) else LATIN1_FALLBACK


def _reading(data: bytes, name: str) -> tuple[str, str]:
    """(text with bad bytes escaped, encoding label) of bytes known not to be empty or a
    known binary format."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "surrogateescape"), "UTF-8 (with BOM)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", ESCAPE_ERRORS), "UTF-16"
    utf16 = _looks_like_utf16_without_bom(data)
    if utf16:
        return data.decode(utf16, ESCAPE_ERRORS), "UTF-16"
    if b"\x00" in data:
        # Real text in a single-byte encoding or UTF-8 never contains NUL bytes.
        raise _binary_error(name)
    text = _utf8_reading(data)
    if text is not None:
        return text, "UTF-8"
    codec, label = _legacy_encoding(data)
    if codec not in MULTIBYTE_CODECS:
        text = _wide_utf8_reading(data)
        if text is not None:
            return text, "UTF-8"
    return data.decode(codec, ESCAPE_ERRORS), label


def read_text(data: bytes, name: str = "the file") -> DecodedText:
    """Turn raw file bytes into text, with its encoding and notes for the user.

    UTF-8 (also cut inside a character at either end, or with a few stray bytes), UTF-16
    (with or without a BOM) and legacy encodings (found by charset-normalizer) are read;
    bytes that do not decode are left out and a Note says how many and where. The
    encoding is a label for people ("UTF-8", "GB18030 (Chinese)" ...). Line endings are
    normalised to \\n. Binary or empty data raises TextgenError.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TextgenError("{name} could not be read as a file. Please choose a text file.", name=name)
    data = bytes(data)
    if not data.strip():
        raise TextgenError("{name} is empty. Choose a file that contains text.", name=name)
    kind = _binary_kind(data)
    if kind:
        raise TextgenError("{name} looks like {kind}, not text. Please choose a plain-text file "
                           "(.txt, .md, .csv ...).", name=name, kind=kind)
    text, label = _reading(data, name)
    text, notes = _drop_bad_bytes(text, label.split(" (")[0], name)
    text = normalize_newlines(text.lstrip("\ufeff"))
    if not text.strip():
        raise TextgenError("{name} is empty. Choose a file that contains text.", name=name)
    if len(CONTROL_CHAR_RE.findall(text)) > MAX_CONTROL_SHARE * len(text):
        raise _binary_error(name)
    return DecodedText(text, label, notes)


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """(text, encoding label) of raw file bytes: read_text without its notes."""
    decoded = read_text(data, name)
    return decoded.text, decoded.encoding


def _binary_error(name: str) -> TextgenError:
    return TextgenError("{name} looks like binary data, not text. Please choose a plain-text file "
                        "(.txt, .md, .csv ...).", name=name)


def code_points(text: str) -> np.ndarray:
    """The text's code points, shape (len(text),), uint32 (lone surrogates kept): numpy looks
    them up in bulk, far faster than a Python loop over a multi-megabyte string."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
