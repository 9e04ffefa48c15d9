"""Corpus input: bytes from a file, a folder or a built-in name, turned into clean text.

Everything a person can get wrong here (a photo renamed .txt, an empty file, an odd
encoding, a typo in a path) ends in a TextgenError whose message says what to do next.
"""

from __future__ import annotations

import codecs
import csv
import glob
import hashlib
import io
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import charset_normalizer
import numpy as np

from textgen.errors import TextgenError
from textgen.runs import atomic_write_bytes

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

# Extensions skipped when a whole folder is loaded: a folder of notes often also holds
# pictures or archives, and those should not stop the load.
BINARY_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ico", ".svgz",
    ".pdf", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar",
    ".pyc", ".pyo", ".so", ".dll", ".dylib", ".exe", ".bin", ".o", ".a", ".class", ".jar",
    ".whl", ".egg", ".npy", ".npz", ".pkl", ".pickle", ".h5", ".keras", ".pt", ".onnx",
    ".db", ".sqlite", ".mp3", ".wav", ".ogg", ".flac", ".mp4", ".mov", ".avi", ".mkv",
    ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".epub",
    ".woff", ".woff2", ".ttf", ".otf", ".DS_Store",
}

# Ranges of CJK ideographs; used to count Chinese words (one character, one word).
CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
WORD_RE = re.compile(f"[{CJK_IDEOGRAPHS}]|[^\\W{CJK_IDEOGRAPHS}]+")

# Control characters that never appear in real text (tab, newlines and form feed do).
CONTROL_CHAR_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
MAX_CONTROL_SHARE = 0.05

BUILTIN_PREFIX = "builtin:"
BUILTIN_CORPORA = {
    "sample": "A small original collection of fables, letters, recipes and dialogues "
    "about a lighthouse town, with a few paragraphs in Chinese (about 60 KB).",
    "python-docs": "The English reference documentation that ships with Python "
    "(language and library topics, about 450 KB).",
    "python-code": "Source code of Python's standard library, capped at about "
    "1,000,000 characters.",
    "sample-zh": "An original collection in Simplified Chinese: fables, letters and short "
    "essays about a mountain village (about 20 KB).",
}
PYTHON_CODE_CAP = 1_000_000
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
SAMPLE_PATH = ASSETS_DIR / "sample.txt"
# Built-in corpora that are text files shipped under assets/.
ASSET_CORPORA = {"sample": SAMPLE_PATH, "sample-zh": ASSETS_DIR / "sample-zh.txt"}


# ---------------------------------------------------------------------------------------
# Decoding


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


def _cut_bytes(text: str) -> int:
    """Escaped bytes at the very start and the very end of text, where a cut falls."""
    lead = len(text) - len(text.lstrip(ESCAPED_BYTES))
    trail = len(text) - len(text.rstrip(ESCAPED_BYTES))
    return (lead if lead <= MAX_CUT_BYTES else 0) + (trail if trail <= MAX_CUT_BYTES else 0)


def _utf8_reading(data: bytes) -> str | None:
    """The bytes as UTF-8, bad bytes escaped, when UTF-8 is what they are: valid, cut at
    either end, or with a few stray bytes among many valid multi-byte characters."""
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
    return None


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


# ---------------------------------------------------------------------------------------
# The Corpus object and its statistics


def corpus_stats(text: str) -> dict:
    """Counts shown to people on the Corpus page.

    words: runs of letters/digits, with each Chinese character counted as one word
    (Chinese is written without spaces). lines: like a text editor, a last line without
    a trailing newline still counts.
    """
    distinct = np.count_nonzero(np.bincount(_code_points(text))) if text else 0
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return {
        "chars": len(text),
        "distinct_chars": int(distinct),
        "words": sum(1 for _ in WORD_RE.finditer(text)),
        "lines": lines,
    }


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@dataclass
class Corpus:
    """A loaded corpus. ``warnings`` are Notes on how its files were read (bytes left
    out ...), for the CLI and the Corpus page to pass on."""

    name: str
    text: str
    encoding: str
    sources: list[str] = field(default_factory=list)
    warnings: list[Note] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def stats(self) -> dict:
        return corpus_stats(self.text)


# ---------------------------------------------------------------------------------------
# Built-in corpora


def builtin_text(name: str) -> str:
    """Text of a corpus that ships with the project or with Python itself."""
    if name in ASSET_CORPORA:
        return _asset_text(name)
    loaders = {"python-docs": _python_docs_text, "python-code": _python_code_text}
    if name not in loaders:
        available = ", ".join(f"builtin:{n}" for n in BUILTIN_CORPORA)
        raise TextgenError(
            'There is no built-in corpus called "{name}". Choose one of: {available}.',
            name=name, available=available,
        )
    return loaders[name]()


@lru_cache(maxsize=None)
def _asset_text(name: str) -> str:
    path = ASSET_CORPORA[name]
    try:
        data = path.read_bytes()
    except OSError:
        raise TextgenError(
            "The {name} corpus is missing from {folder}. "
            "Reinstall TextGen Studio or choose another corpus.",
            name=name, folder=path.parent,
        ) from None
    return decode_bytes(data, name=f"The {name} corpus")[0]


@lru_cache(maxsize=None)
def _python_docs_text() -> str:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise TextgenError(
            "This Python installation does not include its reference documentation "
            "(pydoc_data). Choose another corpus."
        ) from None
    return normalize_newlines("\n\n".join(topics[key] for key in sorted(topics)))


@lru_cache(maxsize=None)
def _python_code_text() -> str:
    # Top-level modules of the standard library only: site-packages and test folders
    # are subfolders, so they are left out, and sorting keeps the slice reproducible.
    stdlib_dir = os.path.dirname(os.__file__)
    pieces, total = [], 0
    for path in sorted(glob.glob(os.path.join(stdlib_dir, "*.py"))):
        try:
            with open(path, encoding="utf-8") as handle:
                source = normalize_newlines(handle.read())
        except (OSError, UnicodeDecodeError):
            continue
        pieces.append(source)
        total += len(source) + 2
        if total >= PYTHON_CODE_CAP:
            break
    if not pieces:
        raise TextgenError(
            "Python's standard library source files could not be found on this machine. "
            "Choose another corpus."
        )
    return "\n\n".join(pieces)[:PYTHON_CODE_CAP]


# ---------------------------------------------------------------------------------------
# Loading from files, folders, built-in names or a list of those


def load_corpus(spec) -> Corpus:
    """Load a corpus from a file path, a folder of text files, "builtin:NAME", or a list
    of any of these (their texts joined by a blank line)."""
    if isinstance(spec, (list, tuple)):
        return _load_many(list(spec))
    if isinstance(spec, str) and spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX):]
        return Corpus(name=spec, text=builtin_text(name), encoding="UTF-8", sources=[spec])
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise TextgenError("No corpus was given. Choose a file, a folder or a built-in corpus.")

    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path)
    if path.is_file():
        decoded = read_text(_read_bytes(path), name=path.name)
        return Corpus(name=path.name, text=decoded.text, encoding=decoded.encoding,
                      sources=[str(path)], warnings=decoded.notes)
    raise TextgenError('No file or folder named "{spec}". Check the path.', spec=spec)


def _load_many(specs: list) -> Corpus:
    if not specs:
        raise TextgenError("No corpus was given. Choose a file, a folder or a built-in corpus.")
    if len(specs) == 1:
        return load_corpus(specs[0])
    parts = [load_corpus(spec) for spec in specs]
    return Corpus(
        name=" + ".join(part.name for part in parts),
        text="\n\n".join(part.text for part in parts),
        encoding=_join_labels(part.encoding for part in parts),
        sources=[source for part in parts for source in part.sources],
        warnings=[note for part in parts for note in part.warnings],
    )


def _join_labels(labels) -> str:
    unique = []
    for label in labels:
        for single in label.split(", "):
            if single not in unique:
                unique.append(single)
    return ", ".join(unique)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError:
        raise TextgenError("{path} cannot be opened: permission denied. "
                           "Check the file's permissions.", path=path) from None
    except OSError as exc:
        raise TextgenError("{path} could not be read ({reason}). "
                           "Check that the file is available.", path=path, reason=exc.strerror or exc) from None


def _folder_files(folder: Path) -> list[Path]:
    """Text-looking files under folder, recursively and in a stable order; hidden files
    and folders (.git, .DS_Store ...) and known binary extensions are skipped."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if "__pycache__" in relative.parts or path.suffix.lower() in BINARY_EXTENSIONS:
            continue
        if path.is_file():
            files.append(path)
    return files


def _load_folder(folder: Path) -> Corpus:
    texts, labels, sources, notes = [], [], [], []
    for path in _folder_files(folder):
        data = _read_bytes(path)
        if not data.strip():
            continue  # an empty file in a folder adds nothing; no need to stop the load
        name = str(path.relative_to(folder))
        decoded = read_text(data, name=f"{name} (in the folder {folder.name})")
        texts.append(decoded.text)
        labels.append(decoded.encoding)
        sources.append(str(path))
        notes.extend(decoded.notes)
    if not texts:
        raise TextgenError(
            'The folder "{folder}" contains no text files. '
            "Add .txt or .md files to it, or choose a single file.",
            folder=folder,
        )
    return Corpus(name=folder.name or str(folder), text="\n\n".join(texts),
                  encoding=_join_labels(labels), sources=sources, warnings=notes)


# ---------------------------------------------------------------------------------------
# Train / held-out split


def _training_chars(length: int, val_fraction: float) -> int:
    # nanoGPT's convention, train = data[:int(0.9 * n)], so results compare with its
    # reference numbers; the tiny epsilon stops float noise (10 * 0.7 = 7.000000000000001,
    # 100 * 0.09 = 8.999999999999998) from moving the cut by one character.
    return math.floor(length * (1 - val_fraction) + 1e-6)


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """(training text, held-out text): the held-out part is the last val_fraction of the
    characters, so it is text the model never saw, not a random sample of it."""
    if not 0 <= val_fraction < 1:
        raise TextgenError(
            "The held-out share must be at least 0 and below 1 (it is {value:g}). "
            "A value like 0.1 keeps the last tenth of the text for evaluation.",
            value=val_fraction,
        )
    cut = _training_chars(len(text), val_fraction)
    return text[:cut], text[cut:]


def _splits_long_enough(length: int, need: int, val_fraction: float) -> bool:
    train = _training_chars(length, val_fraction)
    return train >= need and length - train >= need


def min_corpus_length(seq_len: int, val_fraction: float) -> int:
    """Smallest text length whose two splits each hold at least seq_len + 1 characters
    (one window of inputs plus its shifted targets)."""
    if not 0 < val_fraction < 1:
        raise TextgenError(
            "The held-out share must be above 0 and below 1 (it is {value:g}). "
            "A value like 0.1 keeps the last tenth of the text for evaluation.",
            value=val_fraction,
        )
    need = seq_len + 1
    # Both split sizes grow with the length, so a binary search finds the exact minimum.
    low, high = 2 * need - 1, math.ceil(need / min(val_fraction, 1 - val_fraction)) + 2
    while high - low > 1:
        middle = (low + high) // 2
        if _splits_long_enough(middle, need, val_fraction):
            high = middle
        else:
            low = middle
    return high


def require_min_length(text: str, seq_len: int, val_fraction: float) -> None:
    """Raise TextgenError naming the minimum size when the corpus is too short to make
    even one training window and one held-out window."""
    minimum = min_corpus_length(seq_len, val_fraction)
    if not _splits_long_enough(len(text), seq_len + 1, val_fraction):
        raise TextgenError(
            "The corpus has {chars:,} characters; with a sequence length of {seq_len} "
            "and a held-out share of {val_fraction:g} it needs at least {minimum:,}. "
            "Add more text or lower the sequence length.",
            chars=len(text), seq_len=seq_len, val_fraction=val_fraction, minimum=minimum,
        )


# ---------------------------------------------------------------------------------------
# Is the held-out part like the training part?

# When the held-out part holds characters or a script that training barely saw, its loss
# stays high however well the model learns, and the gap between the curves looks like
# memorising. Two findings count as "unlike", each large enough to move the score:
# - Unseen characters: a character never seen in training costs the model many nats (it
#   learnt to give it almost no chance), so 2 % of them add about 0.2 nats per character,
#   more than separates a good model from a mediocre one. Small texts, Chinese above all,
#   always meet some new characters, so the share must also be over twice what text like
#   the training part would hold: the Good-Turing estimate, the share of training
#   characters whose character occurs there only once.
# - A script (Latin, Cyrillic, Chinese ...) that makes at least 1 in 20 held-out characters
#   while training holds under a fifth of that share: too little to learn it as well.
UNSEEN_MIN_SHARE = 0.02
UNSEEN_OVER_EXPECTED = 2.0
SCRIPT_MIN_SHARE = 0.05
SCRIPT_TRAIN_RATIO = 0.2
NOVELTY_CHUNK = 1 << 22  # characters converted to code points at a time (bounds memory)

# Unicode blocks grouped into the scripts people name; everything else (digits,
# punctuation, symbols, spaces) belongs to no script here.
SCRIPT_RANGES = {
    "Latin letters": [(0x41, 0x5B), (0x61, 0x7B), (0xC0, 0xD7), (0xD8, 0xF7), (0xF8, 0x250),
                      (0x1E00, 0x1F00)],
    "Greek letters": [(0x370, 0x400), (0x1F00, 0x2000)],
    "Cyrillic letters": [(0x400, 0x530)],
    "Armenian letters": [(0x530, 0x590)],
    "Hebrew letters": [(0x590, 0x600)],
    "Arabic letters": [(0x600, 0x700), (0x750, 0x780), (0xFB50, 0xFE00), (0xFE70, 0xFF00)],
    "Indic letters": [(0x900, 0xE00)],
    "Thai and Lao letters": [(0xE00, 0xF00)],
    "Georgian letters": [(0x10A0, 0x1100)],
    "Korean Hangul": [(0x1100, 0x1200), (0x3130, 0x3190), (0xAC00, 0xD7B0)],
    "Japanese kana": [(0x3040, 0x3100), (0x31F0, 0x3200), (0xFF66, 0xFFA0)],
    "Chinese characters": [(0x2E80, 0x2FE0), (0x3000, 0x3040), (0x3400, 0x4DC0), (0x4E00, 0xA000),
                           (0xF900, 0xFB00), (0xFF00, 0xFF66), (0x20000, 0x30000)],
    "emoji": [(0x1F300, 0x1FB00)],
}
SCRIPT_NAMES = list(SCRIPT_RANGES)
_HELD_OUT_HEAD = ("The held-out part at the end of the text, on which the model is scored, holds much "
                  "that the training part lacks: ")
_HELD_OUT_TAIL = (". Its loss stays high on these however well the model learns, so it is no fair "
                  "measure of the model. Spread such passages through the whole text, or train on "
                  "them separately.")
_UNSEEN = ("{unseen:.1%} of its characters never occur in the training part (in text like the "
           "training part, about {expected:.1%} would)")
_SCRIPT = "{script} make up {held_out:.0%} of it but {train:.1%} of the training part"
HELD_OUT_UNSEEN = _HELD_OUT_HEAD + _UNSEEN + _HELD_OUT_TAIL
HELD_OUT_SCRIPT = _HELD_OUT_HEAD + _SCRIPT + _HELD_OUT_TAIL
HELD_OUT_BOTH = _HELD_OUT_HEAD + _UNSEEN + ", and " + _SCRIPT + _HELD_OUT_TAIL


@lru_cache(maxsize=1)
def _script_table() -> np.ndarray:
    """Script number of every code point (len(SCRIPT_NAMES) for none), 1.1 MB."""
    table = np.full(0x110000, len(SCRIPT_NAMES), dtype=np.uint8)
    for number, name in enumerate(SCRIPT_NAMES):
        for start, end in SCRIPT_RANGES[name]:
            table[start:end] = number
    return table


def _char_counts(text: str) -> np.ndarray:
    """How often each code point occurs in ``text``: shape (0x110000,), int64."""
    counts = np.zeros(0x110000, dtype=np.int64)
    for start in range(0, len(text), NOVELTY_CHUNK):
        counts += np.bincount(_code_points(text[start:start + NOVELTY_CHUNK]), minlength=0x110000)
    return counts


def held_out_novelty(train_text: str, held_out_text: str) -> dict:
    """How much of the held-out part the training part lacks, measured on characters.

    Returns a JSON-ready dict: ``held_out_chars``; ``unseen_chars`` and ``unseen_share``
    (held-out characters, counted with repeats, whose character never occurs in training);
    ``expected_unseen_share`` (the Good-Turing estimate of that share for text like the
    training part); ``unseen_examples`` (up to 10 such characters, most frequent first);
    ``scripts``: the scripts that make at least SCRIPT_MIN_SHARE of the held-out part but
    under SCRIPT_TRAIN_RATIO of that share of training, as dicts ``script`` (an English
    name from SCRIPT_NAMES), ``held_out_share``, ``train_share``; and ``unlike`` (True when
    any finding crosses its threshold). Shares are fractions from 0 to 1. Linear in the
    text's length and chunked, so a 50 MB text takes about a second.
    """
    train, held = _char_counts(train_text), _char_counts(held_out_text)
    n_train, n_held = int(train.sum()), int(held.sum())
    unseen_by_char = np.where(train == 0, held, 0)
    unseen = int(unseen_by_char.sum())
    unseen_share = unseen / n_held if n_held else 0.0
    expected = int(np.count_nonzero(train == 1)) / n_train if n_train else 1.0
    order = np.argsort(-unseen_by_char, kind="stable")[:10]
    examples = "".join(chr(c) for c in order if unseen_by_char[c] > 0)
    table = _script_table()
    train_scripts = np.bincount(table, weights=train, minlength=len(SCRIPT_NAMES) + 1) / max(n_train, 1)
    held_scripts = np.bincount(table, weights=held, minlength=len(SCRIPT_NAMES) + 1) / max(n_held, 1)
    scripts = [{"script": name, "held_out_share": round(float(held_scripts[i]), 6),
                "train_share": round(float(train_scripts[i]), 6)}
               for i, name in enumerate(SCRIPT_NAMES)
               if held_scripts[i] >= SCRIPT_MIN_SHARE and train_scripts[i] < SCRIPT_TRAIN_RATIO * held_scripts[i]]
    scripts.sort(key=lambda s: s["train_share"] - s["held_out_share"])
    unseen_unlike = unseen_share > UNSEEN_MIN_SHARE and unseen_share > UNSEEN_OVER_EXPECTED * expected
    return {"held_out_chars": n_held, "unseen_chars": unseen, "unseen_share": round(unseen_share, 6),
            "expected_unseen_share": round(expected, 6), "unseen_examples": examples,
            "scripts": scripts, "unseen_unlike": bool(unseen_unlike),
            "unlike": bool(unseen_unlike or scripts)}


def held_out_warning(novelty) -> TextgenError | None:
    """The sentence saying how the held-out part is unlike the training part, as a
    TextgenError to show (not raise), or None when it is alike. ``novelty`` is what
    held_out_novelty returned, perhaps read back from a run's config.json: anything
    malformed there gives None rather than a broken sentence."""
    try:
        if not novelty.get("unlike"):
            return None
        unseen = dict(unseen=float(novelty["unseen_share"]), expected=float(novelty["expected_unseen_share"]))
        first = (novelty.get("scripts") or [None])[0]  # the one training lacks most
        script = first and dict(script=str(first["script"]), held_out=float(first["held_out_share"]),
                                train=float(first["train_share"]))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if novelty.get("unseen_unlike") and script:
        return TextgenError(HELD_OUT_BOTH, **unseen, **script)
    if script:
        return TextgenError(HELD_OUT_SCRIPT, **script)
    return TextgenError(HELD_OUT_UNSEEN, **unseen)


def run_held_out_warning(config) -> TextgenError | None:
    """held_out_warning for a run, from the record its config.json keeps (None without one)."""
    record = config.get("held_out") if isinstance(config, dict) else None
    return held_out_warning(record.get("novelty")) if isinstance(record, dict) else None


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def held_out_record(train_text: str, held_out_text: str) -> dict:
    """What a run keeps about its held-out part: its length in characters and SHA-256
    fingerprint (so it can be scored again exactly), and held_out_novelty."""
    return {"chars": len(held_out_text), "sha256": _text_sha256(held_out_text),
            "novelty": held_out_novelty(train_text, held_out_text)}


def rebuild_held_out(config: dict) -> str:
    """The held-out text a run was scored on, rebuilt from its config.json.

    The corpus is loaded from the recorded sources. It is the same text when the whole
    corpus has the recorded fingerprint, or, for a run that records its held-out part, when
    the corpus still ends with exactly that part (text before it may have changed: the
    trained model is the same, and so is what it is scored on). Raises TextgenError otherwise.
    """
    record = config.get("corpus") or {}
    corpus = load_corpus(record.get("sources"))
    held_out = split_text(corpus.text, float(config.get("val_fraction", 0.1)))[1]
    if corpus.sha256 == record.get("sha256"):
        return held_out
    kept = config.get("held_out") or {}
    chars = kept.get("chars")
    if isinstance(chars, int) and 0 < chars <= len(corpus.text):
        tail = corpus.text[len(corpus.text) - chars:]
        if _text_sha256(tail) == kept.get("sha256"):
            return tail
    raise TextgenError("The run's corpus has changed since training, so its "
                       "held-out split cannot be rebuilt. Score a corpus file instead.")


# ---------------------------------------------------------------------------------------
# Keeping uploads


# Characters that some file system cannot hold in a name: the path separators and those
# Windows forbids. Control characters and lone surrogates are caught by their category.
UNSAFE_FILENAME_CHARS = set('<>:"/\\|?*')
UNSAFE_FILENAME_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
# File systems allow 255 bytes in a name; this leaves room for the prefix and suffix of
# the temporary file that an atomic write puts beside it.
MAX_FILENAME_BYTES = 120
MAX_EXTENSION_CHARS = 9


def _filename_char(char: str) -> str:
    if char in UNSAFE_FILENAME_CHARS or unicodedata.category(char) in UNSAFE_FILENAME_CATEGORIES:
        return "_"
    return char


def _cut_utf8(text: str, max_bytes: int) -> str:
    """The longest start of text that is at most max_bytes in UTF-8, whole characters only."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def sanitize_filename(filename: str) -> str:
    """A safe base name that keeps the letters of every script ("春天.txt" stays).

    Folders are dropped; characters a file system cannot hold (control characters, the
    path separators and Windows' < > : " | ? *) become "_"; leading dots (hidden files)
    and trailing dots and spaces (which Windows drops) go; the result is at most
    MAX_FILENAME_BYTES in UTF-8, keeping a short extension. "corpus.txt" when nothing is left.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", str(filename)))[-1]
    safe = "".join(map(_filename_char, base)).lstrip(". ").rstrip(". ")
    if not safe.strip("_ "):
        return "corpus.txt"
    if len(safe.encode("utf-8")) > MAX_FILENAME_BYTES:
        stem, dot, ext = safe.rpartition(".")
        if dot and stem and len(ext) <= MAX_EXTENSION_CHARS:
            tail = dot + ext
            safe = _cut_utf8(stem, MAX_FILENAME_BYTES - len(tail.encode("utf-8"))).rstrip(". ") + tail
        else:
            safe = _cut_utf8(safe, MAX_FILENAME_BYTES).rstrip(". ")
    return safe


# The most a corpus upload may hold; the same as server.maxUploadSize (in MB) in
# .streamlit/config.toml, so the page and the core agree.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def _size_text(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{n:,} bytes"


def check_upload_size(data: bytes, filename: str = "The file") -> None:
    """Refuse an upload over MAX_UPLOAD_BYTES with a sentence naming the limit."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise TextgenError(
            "{name} is {size}; an upload may be at most {limit}. Choose a smaller file or a part of it.",
            name=sanitize_filename(filename), size=_size_text(len(data)), limit=_size_text(MAX_UPLOAD_BYTES),
        )


def store_corpus(data: bytes, filename: str, home: Path) -> Path:
    """Keep uploaded bytes under home/corpora/<content hash>/<safe name>, so every run can
    find its corpus again. Writing is atomic and storing the same bytes twice is a no-op."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TextgenError("The upload could not be read as a file. Please choose a text file.")
    data = bytes(data)
    check_upload_size(data, filename)
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(home) / "corpora" / digest
    target = folder / sanitize_filename(filename)
    if target.is_file() and target.stat().st_size == len(data):
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise TextgenError(
            "The corpus could not be saved in {folder} ({reason}). "
            "Check that the folder is writable and the disk is not full.",
            folder=folder, reason=exc.strerror or exc,
        ) from None
    return target


# ---------------------------------------------------------------------------------------
# CSV files: choose one column of text


# A header cell names a column: short, not a number, not a sentence.
_HEADER_CELL_MAX_CHARS = 40
_SENTENCE_END = tuple(".!?。！？…")
_SNIFF_ROWS = 50


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def _name_like(cells: list[str]) -> bool:
    """Whether a row could be a row of column names."""
    named = [c.strip() for c in cells if c.strip()]
    return bool(named) and len(set(named)) == len(named) and all(
        len(c) <= _HEADER_CELL_MAX_CHARS and not _is_number(c) and not c.endswith(_SENTENCE_END)
        for c in named)


def _column_tells_header(first: str, rest: list[str]) -> bool:
    """A column whose first cell differs in kind from the cells below it: a name above
    numbers, or a short name above much longer text."""
    cells = [c.strip() for c in rest if c.strip()]
    if not first.strip() or not cells:
        return False
    if all(_is_number(c) for c in cells):
        return True
    lengths = sorted(len(c) for c in cells)
    return lengths[len(lengths) // 2] >= 3 * len(first.strip())


def _has_header(text: str, separator: str) -> bool:
    """Whether the first row of a table names its columns (else it is the first row of data).

    A header row is taken to hold short, distinct names, none of them a number or a
    sentence, and to stand out from the rows below it (csv.Sniffer's test, or a name
    above a column of numbers or of much longer text). A table of one row is all data.
    """
    rows = []
    try:
        for row in csv.reader(io.StringIO(text[:65536]), delimiter=separator):
            rows.append(row)
            if len(rows) > _SNIFF_ROWS:
                break
    except csv.Error:
        return True
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2 or not _name_like(rows[0]):
        return False
    first, rest = rows[0], rows[1:]
    if any(_column_tells_header(cell, [row[i] for row in rest if i < len(row)])
           for i, cell in enumerate(first)):
        return True
    try:
        return csv.Sniffer().has_header(text[:65536])
    except csv.Error:
        return False


def _read_csv(data: bytes, name: str):
    import pandas as pd  # imported here: only CSV uploads need it

    text, _ = decode_bytes(data, name=name)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    header = _has_header(text, separator)
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, header=0 if header else None,
                            keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error):
        raise TextgenError(
            "{name} could not be read as a table. Check that it is a CSV file, "
            "or upload it as plain text instead.", name=name,
        ) from None
    if table.columns.empty:
        raise TextgenError("{name} has no columns. Check that it is a CSV file.", name=name)
    # Columns the file leaves unnamed are numbered as people count them.
    table.columns = [str(column) if header and not re.fullmatch(r"Unnamed: \d+", str(column))
                     else f"Column {i + 1}" for i, column in enumerate(table.columns)]
    return table


def csv_columns(data: bytes, name: str = "the CSV file") -> list[str]:
    """Column names of a CSV file, in file order."""
    return list(_read_csv(data, name).columns)


def csv_text(data: bytes, column: str, name: str = "the CSV file") -> str:
    """The cells of one column, one per line; empty cells are skipped."""
    table = _read_csv(data, name)
    if column not in table.columns:
        available = ", ".join(f'"{c}"' for c in table.columns)
        raise TextgenError('{name} has no column "{column}". Choose one of: {available}.',
                           name=name, column=column, available=available)
    cells = [normalize_newlines(cell) for cell in table[column].dropna().tolist() if cell.strip()]
    if not cells:
        raise TextgenError('The column "{column}" in {name} is empty. Choose a column with text.',
                           column=column, name=name)
    return "\n".join(cells)
