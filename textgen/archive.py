"""A run folder as a zip archive, and back: ``zip_run`` and ``import_run_zip``.

An archive may come from anywhere, so importing trusts nothing in it: sizes, paths and
the run's settings are checked before anything is written, and only known run files
are kept. Plain file IO (no TensorFlow), like textgen.runs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from textgen import capacity
from textgen.config import model_config
from textgen.errors import TextgenError
from textgen.runs import ACTIVE_STATES, STATES, check_run_name, runs_root
from textgen.tokenizers import tokenizer_from_dict


def zip_run(run_dir: str | os.PathLike) -> bytes:
    """The run folder as a zip archive (the latest resume checkpoint left out: it can be big)."""
    run_dir = Path(run_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir)
            if path.is_file() and rel.parts[0] != "checkpoint" and not path.name.startswith("."):
                zf.write(path, f"{run_dir.name}/{rel.as_posix()}")
    return buf.getvalue()


# --- importing ----------------------------------------------------------------------------

MAX_IMPORT_BYTES = 200 * 1024 * 1024           # the upload itself
MAX_IMPORT_UNPACKED = 1024 * 1024 * 1024       # everything it unpacks to
MAX_COMPRESSION_RATIO = 200                    # per member; real run files stay far below
IMPORT_FILES = ("config.json", "tokenizer.json", "model.keras", "metrics.jsonl",
                "samples.jsonl", "notes.jsonl", "status.json")
REQUIRED_IMPORT_FILES = ("config.json", "tokenizer.json", "model.keras")
_S_IFMT, _S_IFLNK = 0o170000, 0o120000
IMPORT_ERROR_PREFIX = "This archive cannot be imported: "


def _size(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:,.0f} {unit}"
    return f"{n:,} bytes"


def _import_error(reason: str, /, **params) -> TextgenError:
    # One template per reason, so each whole sentence can be translated.
    return TextgenError(IMPORT_ERROR_PREFIX + reason, **params)


def _check_members(infos, what: str) -> None:
    """Refuse zip bombs: too much unpacked data in all, or a member packed too tightly."""
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise _import_error("{what} is compressed suspiciously well (a 'zip bomb'?).", what=what)
    if total > MAX_IMPORT_UNPACKED:
        raise _import_error("{what} would unpack to more than {limit}.", what=what,
                            limit=_size(MAX_IMPORT_UNPACKED))


def _member_parts(info) -> list[str]:
    """The member's path as folder names, refusing anything that could leave the run folder."""
    name = info.filename
    if ((info.external_attr >> 16) & _S_IFMT) == _S_IFLNK:
        raise _import_error("it holds a link ({name!r}); a run folder holds plain files only.", name=name)
    if "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _import_error("it holds a file with an unsafe path ({name!r}).", name=name)
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise _import_error("it holds a file with an unsafe path ({name!r}).", name=name)
    return parts


def _read_member(zf, info, limit: int) -> bytes:
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _import_error("{name} is larger than it claims.", name=info.filename)
    return data


def import_run_zip(data: bytes, root: str | os.PathLike | None = None) -> Path:
    """Unpack a run downloaded as a zip (``zip_run``) into the runs root; returns its folder.

    Nothing in the archive is executed or deserialised here: only the known run files are
    copied, after checking sizes and paths, and config.json must pass the same validation
    as any run's: model.keras must hold exactly the weights it describes (shapes read from the
    file's metadata), of a size this machine can load (textgen.capacity). Loading it later
    rebuilds the model from that config and reads weights only.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _import_error("it could not be read as a file.")
    data = bytes(data)
    if len(data) > MAX_IMPORT_BYTES:
        raise _import_error("it is larger than {limit}.", limit=_size(MAX_IMPORT_BYTES))
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise _import_error("it is not a zip archive. Choose a .zip file downloaded from the Runs page.") from None
    with zf:
        _check_members(infos, "it")
        top, chosen = None, {}
        for info in infos:
            parts = _member_parts(info)
            if top is None:
                top = parts[0]
            elif parts[0] != top:
                raise _import_error("its files must all be inside one folder, the run's.")
            if info.is_dir() or len(parts) != 2 or parts[1] not in IMPORT_FILES:
                continue  # folders and files a run does not need are left out
            if parts[1] in chosen:
                raise _import_error("it holds {name} twice.", name=parts[1])
            chosen[parts[1]] = info
        if top is None:
            raise _import_error("it is empty.")
        missing = [name for name in REQUIRED_IMPORT_FILES if name not in chosen]
        if missing:
            raise _import_error("the run folder lacks {missing}; only finished runs "
                                "with a saved model can be imported.", missing=", ".join(missing))
        try:
            check_run_name(top)
        except TextgenError as e:
            raise _import_error("{reason}", reason=e) from None
        contents = {name: _read_member(zf, info, info.file_size) for name, info in chosen.items()}

    try:
        config = json.loads(contents["config.json"])
        tokenizer = tokenizer_from_dict(json.loads(contents["tokenizer.json"]))
    except (ValueError, UnicodeDecodeError):
        raise _import_error("its config.json or tokenizer.json is damaged.") from None
    try:
        config = model_config(config)  # the same validation as loading any run
    except TextgenError as e:
        raise _import_error("{reason}", reason=e) from None
    if tokenizer.vocab_size != config.get("vocab_size"):
        raise _import_error("its tokenizer does not match its model.")
    try:
        with zipfile.ZipFile(io.BytesIO(contents["model.keras"])) as model_zip:
            _check_members(model_zip.infolist(), "its model.keras")
            if "model.weights.h5" not in model_zip.namelist():
                raise _import_error("its model.keras holds no weights.")
    except zipfile.BadZipFile:
        raise _import_error("its model.keras is damaged.") from None
    try:  # before anything is built from it: it fits in memory, its weights match its settings
        capacity.check_run_model(contents["model.keras"], config, tokenizer.vocab_size)
    except TextgenError as e:
        raise _import_error("{reason}", reason=e) from None

    # A job is never imported as running: its process lives on another machine, if at all.
    try:
        status = json.loads(contents.get("status.json", b"{}"))
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    status.pop("pid", None)
    if status.get("state") not in STATES or status.get("state") in ACTIVE_STATES:
        status["state"] = "interrupted"
    status["message"] = "Imported from a zip archive."
    contents["status.json"] = json.dumps(status, indent=2).encode("utf-8")

    root = runs_root(root)
    # The whole folder appears at once: written in a hidden staging folder, then renamed
    # (textgen.files.atomic_path does the same for one file).
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".import-"))
    except OSError:
        raise _import_error("the runs folder {folder} cannot be written to. Set TEXTGEN_HOME to a folder you "
                            "can write to and restart the app.", folder=str(root.absolute())) from None
    try:
        for name, content in contents.items():
            (staging / name).write_bytes(content)
        base, n = top[:70], 1
        while True:
            name = top if n == 1 else f"{base}-{n}"
            target = root / name
            if not target.exists():
                try:
                    os.rename(staging, target)
                    return target
                except OSError:
                    if not target.exists():
                        raise
            n += 1
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
