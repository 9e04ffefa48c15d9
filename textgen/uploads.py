"""Keeping uploaded corpora: a safe file name of any script, a size limit, and storage
under the home folder by content hash, so every run can find its corpus again."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from textgen.corpus import load_corpus
from textgen.errors import TextgenError
from textgen.files import atomic_write_bytes

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


def titled_filename(title: str) -> str | None:
    """The file name a corpus titled ``title`` is kept under, so that the title names it
    wherever the corpus is named ("Team notes" -> "Team notes.txt", "春天" -> "春天.txt");
    None when the title holds nothing a file name can keep (blank, only dots or slashes)."""
    # A slash in a title is part of its words ("Q1/Q2 notes"), not a folder to drop.
    title = re.sub(r"[\\/]", "_", unicodedata.normalize("NFC", str(title)).strip())
    name = sanitize_filename(title if title.lower().endswith(".txt") else f"{title}.txt")
    stem = name[:-len(".txt")] if name.lower().endswith(".txt") else ""
    return name if stem.strip("_ .") else None


def store_titled(paths: list, title: str, home: Path) -> Path | None:
    """The corpus of ``paths`` kept again as one file named by ``title`` (titled_filename):
    one file's bytes as they are, several files' texts joined as load_corpus joins them.
    None when the title gives no usable name; the files then keep their own names.
    Raises TextgenError when the files cannot be read or the copy cannot be saved."""
    filename = titled_filename(title)
    if filename is None or not paths:
        return None
    if len(paths) == 1:
        try:
            data = Path(paths[0]).read_bytes()
        except OSError as exc:
            raise TextgenError('No file or folder named "{spec}". Check the path.', spec=paths[0]) from exc
    else:
        data = load_corpus(list(paths)).text.encode("utf-8")
    return store_corpus(data, filename, home)


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
