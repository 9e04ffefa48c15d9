"""Run folders: the one place where training jobs, the CLI and the app meet.

Everything here is plain file IO (no TensorFlow), so pages that only list or
chart runs stay fast. Writers replace files atomically; readers tolerate
half-written or missing files, because a job may be killed at any moment.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

from textgen import capacity
from textgen.errors import TextgenError

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE_STATES = ("queued", "running")
# A job that has not touched its heartbeat for this long is presumed dead even
# if its pid was reused by another process.
HEARTBEAT_TIMEOUT_S = 120
MAX_RUN_NAME_CHARS = 80  # 240 bytes at most in UTF-8, under every file system's 255
# Besides letters, digits and combining marks of any script, a run name may hold these;
# everything else (spaces, slashes, control characters ...) is replaced or refused.
RUN_NAME_PUNCTUATION = "._-"


def textgen_home() -> Path:
    return Path(os.environ.get("TEXTGEN_HOME", ".")).expanduser()


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root) if root is not None else textgen_home() / "runs"


def _run_name_char(char: str) -> bool:
    """A letter, digit or combining mark of any script (春, é, ж, 7, the vowel signs of
    Devanagari), or one of RUN_NAME_PUNCTUATION."""
    return unicodedata.category(char)[0] in "LNM" or char in RUN_NAME_PUNCTUATION


def check_run_name(name: str) -> str:
    """A run name is one safe folder name: it can never point outside the runs root.

    Up to MAX_RUN_NAME_CHARS letters or digits of any script, dots, dashes and
    underscores, starting with a letter or digit. Raises TextgenError otherwise.
    """
    if (not isinstance(name, str) or not 0 < len(name) <= MAX_RUN_NAME_CHARS
            or unicodedata.category(name[0])[0] not in "LN" or not all(map(_run_name_char, name))):
        raise TextgenError(
            "{name!r} is not a usable run name. Use up to 80 letters (of any language), digits, "
            "dots, dashes or underscores, starting with a letter or digit.", name=name,
        )
    return name


def run_path(name: str, root: str | os.PathLike | None = None) -> Path:
    return runs_root(root) / check_run_name(name)


def new_run_name(prefix: str, root: str | os.PathLike | None = None) -> str:
    """A fresh, readable, unique name such as ``gru-sample-20261128-101500`` or
    ``gru-春天-20261128-101500``: the prefix keeps letters of every script, and anything
    a run name cannot hold becomes a dash."""
    prefix = unicodedata.normalize("NFC", str(prefix))[:200]
    prefix = re.sub(r"-{2,}", "-", "".join(c if _run_name_char(c) else "-" for c in prefix))
    start = next((i for i, c in enumerate(prefix) if unicodedata.category(c)[0] in "LN"), len(prefix))
    prefix = prefix[start:start + 50].rstrip("-.") or "run"
    base = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 2
    while (runs_root(root) / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


# --- atomic writes -----------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8"))


def read_json(path: str | os.PathLike, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
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


# --- status ------------------------------------------------------------------


def pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process has exited for all purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def read_status(run_dir: str | os.PathLike) -> dict:
    """status.json, with a job that died without saying so reported as interrupted."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json")
    if not isinstance(status, dict):
        has_model = (run_dir / "model.keras").exists()
        status = {"state": "interrupted" if has_model else "failed",
                  "message": "The run's status file is missing."}
    state = status.get("state")
    if state in ACTIVE_STATES:
        stale = time.time() - float(status.get("updated_at") or 0) > HEARTBEAT_TIMEOUT_S
        if not pid_alive(status.get("pid")) or (state == "running" and stale):
            status = dict(status, state="interrupted",
                          message="The training process ended unexpectedly. "
                                  "The best checkpoint is kept; you can resume the run.")
    return status


def write_status(run_dir: str | os.PathLike, **fields) -> dict:
    path = Path(run_dir) / "status.json"
    status = read_json(path, {}) or {}
    status.update(fields, updated_at=time.time())
    atomic_write_json(path, status)
    return status


# --- listing and housekeeping -----------------------------------------------


def is_run(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").exists() or (path / "status.json").exists())


def run_summary(run_dir: str | os.PathLike) -> dict:
    """What a table of runs shows: name, state, settings, best loss, timing."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json", {}) or {}
    status = read_status(run_dir)
    best = status.get("best_val_loss")
    started, updated = status.get("started_at"), status.get("updated_at")
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "state": status.get("state"),
        # queued, but not yet waiting for a slot: the job is still loading (see jobs.start_training)
        "starting": status.get("state") == "queued" and status.get("waiting_since") is None,
        "message": status.get("message", ""),
        "preset": config.get("preset"),
        "arch": config.get("arch"),
        "tokenizer": config.get("tokenizer"),
        "corpus": (config.get("corpus") or {}).get("name"),
        "corpus_sha256": (config.get("corpus") or {}).get("sha256"),
        "parameters": config.get("parameters"),
        "init_from": config.get("init_from"),
        "step": status.get("step"),
        "best_val_loss": best,
        "best_val_bpc": best / 0.6931471805599453 if isinstance(best, (int, float)) else None,
        "started_at": started,
        "duration_s": (updated - started) if started and updated else None,
        "has_model": (run_dir / "model.keras").exists(),
    }


def list_runs(root: str | os.PathLike | None = None) -> list[dict]:
    root = runs_root(root)
    if not root.is_dir():
        return []
    found = [run_summary(p) for p in root.iterdir() if not p.name.startswith(".") and is_run(p)]
    return sorted(found, key=lambda r: r.get("started_at") or 0, reverse=True)


def delete_run(run_dir: str | os.PathLike) -> Path:
    """Move a run to the trash (so it can be restored) and return where it went."""
    run_dir = Path(run_dir)
    if read_status(run_dir).get("state") in ACTIVE_STATES:
        raise TextgenError("This run is still training. Stop it before deleting it.")
    trash = run_dir.parent / ".trash"
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / f"{run_dir.name}.{int(time.time() * 1000)}"
    os.replace(run_dir, target)
    return target


def restore_run(trashed: str | os.PathLike) -> Path:
    trashed = Path(trashed)
    name = trashed.name.rsplit(".", 1)[0]
    target = trashed.parent.parent / name
    if target.exists():
        raise TextgenError("A run named {name} exists again; rename it before restoring.", name=name)
    os.replace(trashed, target)
    return target


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


def remove_tree(path: str | os.PathLike) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- importing a run from a zip archive ------------------------------------------

MAX_IMPORT_BYTES = 200 * 1024 * 1024           # the upload itself
MAX_IMPORT_UNPACKED = 1024 * 1024 * 1024       # everything it unpacks to
MAX_COMPRESSION_RATIO = 200                    # per member; real run files stay far below
IMPORT_FILES = ("config.json", "tokenizer.json", "model.keras", "metrics.jsonl",
                "samples.jsonl", "status.json")
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
    from textgen.inference import model_config
    from textgen.tokenizers import tokenizer_from_dict

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
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".import-"))
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
