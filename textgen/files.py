"""Files written whole or not at all, and read back tolerantly: the one atomic writer.

A training job may be killed at any moment while the app reads its files, so every
file is written to a temporary name beside its target, flushed to disk and renamed
into place (a reader sees the old file or the new one, never half of one); readers
return a default for a missing or half-written file instead of failing. Plain file
IO only: this module imports nothing else from textgen.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def textgen_home() -> Path:
    """The workspace every part of the product keeps its files in: $TEXTGEN_HOME, default
    the current folder (runs/, corpora/, speeds.json, app-state.json)."""
    return Path(os.environ.get("TEXTGEN_HOME", ".")).expanduser()


# The process's umask, read once (reading it means setting it): files written here get
# the permissions any new file would, not mkstemp's owner-only ones.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` to write in whole (by any library: Keras,
    numpy ...); on success it is flushed to disk and renamed to ``path`` in one step, on
    any error (or a kill) it is removed and ``path`` is left as it was.

    The temporary name is ``.<name>.<random>.tmp<suffix>``: hidden, recognisable as
    torn by ``.tmp``, and with the target's suffix, which some writers require.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see atomic_path)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> None:
    """``obj`` as UTF-8 JSON (non-ASCII kept as is), written atomically. An object JSON
    cannot hold raises (TypeError, ValueError) before anything is written."""
    atomic_write_bytes(path, json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8"))


def read_json(path: str | os.PathLike, default=None):
    """The JSON in ``path``, or ``default`` when it is missing, unreadable or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Add one record as a line of JSON (a log: readers skip a torn last line)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()


def read_jsonl(path: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int]:
    """Records from byte ``offset`` on, and the offset to continue from.

    A last line without its newline is still being written (or was cut off by
    a crash): it is left for the next call instead of being misread.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, offset + end
