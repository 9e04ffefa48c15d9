"""Corpus input: bytes from a file, a folder or a built-in name, turned into clean text.

Everything a person can get wrong here (a photo renamed .txt, an empty file, an odd
encoding, a typo in a path) ends in a TextgenError whose message says what to do next.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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

# Ranges of CJK ideographs, CJK punctuation and full-width forms; used to count Chinese
# words and to decide whether bytes really are GB18030-encoded Chinese.
CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uffef"
CJK_CHAR_RE = re.compile(f"[{CJK_IDEOGRAPHS}{CJK_PUNCTUATION}]")
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
    of mostly Latin text; None otherwise."""
    if len(data) < 4 or len(data) % 2:
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


def _looks_chinese(text: str) -> bool:
    """True when most non-ASCII characters are common Chinese characters or CJK
    punctuation. Latin-1 text decoded as GB18030 also yields ideographs (an accented
    letter plus the next ASCII letter form one two-byte character), but those pairs fall
    outside GB2312, the set of common simplified characters, so they fail this test."""
    non_ascii = [c for c in text[:200_000] if ord(c) > 127]  # a sample is plenty
    if not non_ascii:
        return False
    cjk = 0
    for char in non_ascii:
        if CJK_CHAR_RE.match(char):
            try:
                char.encode("gb2312")
            except UnicodeEncodeError:
                continue
            cjk += 1
    return cjk >= 0.6 * len(non_ascii)


def _decode_candidates(data: bytes):
    """(codec, label) pairs to try in order; the first that decodes cleanly wins."""
    if data.startswith(b"\xef\xbb\xbf"):
        yield "utf-8-sig", "UTF-8 (with BOM)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        yield "utf-16", "UTF-16"
    utf16 = _looks_like_utf16_without_bom(data)
    if utf16:
        yield utf16, "UTF-16"
    yield "utf-8", "UTF-8"
    yield "gb18030", "GB18030 (Chinese)"
    yield "cp1252", "Windows-1252 (fallback: some characters may be wrong)"
    yield "latin-1", "Latin-1 (fallback: some characters may be wrong)"


def _is_utf16(codec: str) -> bool:
    return codec.startswith("utf-16")


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """Turn raw file bytes into text. Returns (text, encoding label).

    The label is meant for people ("UTF-8", "GB18030 (Chinese)" ...). Line endings are
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

    for codec, label in _decode_candidates(data):
        if not _is_utf16(codec) and b"\x00" in data:
            # Real text in a single-byte or UTF-8 encoding never contains NUL bytes.
            raise _binary_error(name)
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec == "gb18030" and not _looks_chinese(text):
            continue
        break
    else:  # pragma: no cover - latin-1 decodes any bytes
        raise _binary_error(name)

    text = normalize_newlines(text.lstrip("\ufeff"))
    if not text.strip():
        raise TextgenError("{name} is empty. Choose a file that contains text.", name=name)
    if len(CONTROL_CHAR_RE.findall(text)) > MAX_CONTROL_SHARE * len(text):
        raise _binary_error(name)
    return text, label


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
    name: str
    text: str
    encoding: str
    sources: list[str] = field(default_factory=list)

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
        text, encoding = decode_bytes(_read_bytes(path), name=path.name)
        return Corpus(name=path.name, text=text, encoding=encoding, sources=[str(path)])
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
    texts, labels, sources = [], [], []
    for path in _folder_files(folder):
        data = _read_bytes(path)
        if not data.strip():
            continue  # an empty file in a folder adds nothing; no need to stop the load
        name = str(path.relative_to(folder))
        text, label = decode_bytes(data, name=f"{name} (in the folder {folder.name})")
        texts.append(text)
        labels.append(label)
        sources.append(str(path))
    if not texts:
        raise TextgenError(
            'The folder "{folder}" contains no text files. '
            "Add .txt or .md files to it, or choose a single file.",
            folder=folder,
        )
    return Corpus(name=folder.name or str(folder), text="\n\n".join(texts),
                  encoding=_join_labels(labels), sources=sources)


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
# Keeping uploads


def sanitize_filename(filename: str) -> str:
    """A safe base name: no folders, only letters, digits, '.', '_' and '-', never hidden."""
    base = re.split(r"[\\/]", str(filename))[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    if not safe.strip("_"):
        safe = "corpus.txt"
    if len(safe) > 120:
        stem, dot, ext = safe.rpartition(".")
        safe = (stem[: 110] + dot + ext[:9]) if dot and len(ext) < 10 else safe[:120]
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


def _read_csv(data: bytes, name: str):
    import pandas as pd  # imported here: only CSV uploads need it

    text, _ = decode_bytes(data, name=name)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
        separator = dialect.delimiter
    except csv.Error:
        separator = ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str,
                            keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error):
        raise TextgenError(
            "{name} could not be read as a table. Check that it is a CSV file with a "
            "header row, or upload it as plain text instead.", name=name,
        ) from None
    if table.columns.empty:
        raise TextgenError("{name} has no columns. Check that it is a CSV file with a header row.", name=name)
    table.columns = [str(column) for column in table.columns]
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
