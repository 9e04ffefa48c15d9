"""Corpus input: a file, a folder, a built-in name or a list of these, loaded as one
``Corpus``, its statistics, and its split into training and held-out text.

Everything a person can get wrong here (a photo renamed .txt, an empty file, an odd
encoding, a typo in a path) ends in a TextgenError whose message says what to do next.
Decoding bytes is textgen.encodings; CSV tables textgen.tables; keeping uploads
textgen.uploads; whether the held-out part is like the rest textgen.heldout.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from textgen.config import RANGES, short_window
from textgen.encodings import Note, code_points, decode_bytes, normalize_newlines, read_text
from textgen.errors import TextgenError
from textgen.i18n import english
from textgen.words import WORD_RE

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


# Built-in corpora as run settings and older pages name them, each part of a joined name.
_BUILTIN_NAMES = ("builtin:", "built-in ")


def builtin_title(name: str, translate=english) -> str:
    """A built-in corpus's name in the interface language: in English the name the command
    line takes (``sample``), in another language a name in it (the catalog's entry for it)."""
    return translate(name) if name in BUILTIN_CORPORA else name


def shown_corpus_name(name: str | None, translate=english) -> str | None:
    """A corpus name as people read it in the interface language: ``builtin:sample`` and
    ``built-in sample`` as "built-in sample" (translated); file names and titles unchanged.
    Joined corpora ("builtin:sample + notes.txt") are named part by part."""
    if not name:
        return name
    parts = []
    for part in name.split(" + "):
        prefix = next((p for p in _BUILTIN_NAMES if part.startswith(p)), None)
        parts.append(translate("built-in {name}", name=builtin_title(part[len(prefix):], translate))
                     if prefix else part)
    return " + ".join(parts)


# ---------------------------------------------------------------------------------------
# The Corpus object and its statistics


def corpus_stats(text: str) -> dict:
    """Counts shown to people on the Corpus page.

    words: as textgen.words defines them (runs of letters and digits; each Chinese
    character is a word, as Chinese is written without spaces). lines: like a text editor, a last line without
    a trailing newline still counts.
    """
    distinct = np.count_nonzero(np.bincount(code_points(text))) if text else 0
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return {
        "chars": len(text),
        "distinct_chars": int(distinct),
        "words": sum(1 for _ in WORD_RE.finditer(text)),
        "lines": lines,
    }


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


def require_min_tokens(train_tokens: int, seq_len: int, held_out_tokens: int = 2) -> None:
    """Raise TextgenError when ``train_tokens`` training tokens make no training window of
    ``seq_len`` (plus the next token), or ``held_out_tokens`` none to score: a word or
    subword tokenizer can leave too few tokens of a text long enough in characters."""
    if train_tokens > seq_len + 1 and held_out_tokens >= 2:
        return
    longest = train_tokens - 2  # a window and its next token
    if held_out_tokens < 2 or longest < RANGES["seq_len"][1]:
        raise TextgenError("The corpus is too short for a sequence length of {seq_len} tokens: its "
                           "training part has {train:,} tokens and its held-out part {held_out:,}. "
                           "Add more text.", seq_len=seq_len, train=train_tokens, held_out=held_out_tokens)
    raise TextgenError("The corpus is too short for a sequence length of {seq_len} tokens: its "
                       "training part has {train:,} tokens. Add more text or set a sequence length "
                       "of {longest} or less.", seq_len=seq_len, train=train_tokens, longest=longest)


def longest_fitting_seq_len(chars: int, val_fraction: float) -> int:
    """The longest sequence length (in characters) whose windows a text of ``chars``
    characters holds in both its splits (min_corpus_length); 0 when not even 1 fits.
    Raises TextgenError for a held-out share outside 0 to 1, as min_corpus_length does."""
    # min_corpus_length grows with the sequence length: a binary search between one that
    # fits (0, trivially) and one that cannot (a window as long as the whole text).
    fits, too_long = 0, max(1, chars)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if min_corpus_length(middle, val_fraction) <= chars:
            fits = middle
        else:
            too_long = middle
    return fits


def length_problem(chars: int, config: dict) -> TextgenError | None:
    """None when a text of ``chars`` characters holds the first windows of a run of
    ``config`` (its arch, seq_len, short_seq_len and val_fraction; config.short_window) in
    both splits; else the TextgenError saying how many characters it needs, for the windows
    the run really starts on, and the longest sequence length that would fit (or that none
    does, when not even config.RANGES' shortest fits)."""
    first, val_fraction = short_window(config), config["val_fraction"]
    minimum = min_corpus_length(first, val_fraction)
    if chars >= minimum:
        return None
    longest, least = longest_fitting_seq_len(chars, val_fraction), RANGES["seq_len"][1]
    if longest < least:
        return TextgenError(
            "The corpus has {chars:,} characters; even windows of {least} tokens, the shortest "
            "a run can read, need at least {minimum:,} with a held-out share of {val_fraction:g}. "
            "Add more text.",
            chars=chars, least=least, minimum=min_corpus_length(least, val_fraction),
            val_fraction=val_fraction)
    if first < config["seq_len"]:  # a warm-up: the person set the longer length they end on
        return TextgenError(
            "The corpus has {chars:,} characters; this run's windows start at {first} tokens and "
            "grow to its sequence length of {seq_len}, so with a held-out share of "
            "{val_fraction:g} it needs at least {minimum:,}. Add more text or set a sequence "
            "length of {longest} or less.",
            chars=chars, first=first, seq_len=config["seq_len"], val_fraction=val_fraction,
            minimum=minimum, longest=longest)
    return TextgenError(
        "The corpus has {chars:,} characters; with a sequence length of {seq_len} and a "
        "held-out share of {val_fraction:g} it needs at least {minimum:,}. Add more text or "
        "set a sequence length of {longest} or less.",
        chars=chars, seq_len=first, val_fraction=val_fraction, minimum=minimum, longest=longest)


def require_min_length(text: str, config: dict) -> None:
    """Raise length_problem's TextgenError when ``text`` is too short to make even one
    training window and one held-out window of the run ``config`` describes."""
    problem = length_problem(len(text), config)
    if problem is not None:
        raise problem
