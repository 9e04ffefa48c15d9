"""Run folders: the one place where training jobs, the CLI and the app meet.

Everything here is plain file IO (no TensorFlow), so pages that only list or
chart runs stay fast. Writers replace files atomically; readers tolerate
half-written or missing files, because a job may be killed at any moment.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path

from textgen.errors import TextgenError
from textgen.files import atomic_write_json, read_json, textgen_home
from textgen.units import LN2

STATES = ("queued", "running", "paused", "completed", "stopped", "failed", "interrupted")
ACTIVE_STATES = ("queued", "running", "paused")
# States of a job that holds a training slot; a paused job keeps its slot and its heartbeat.
TRAINING_STATES = ("running", "paused")
# A job that has not touched its heartbeat for this long is presumed dead even
# if its pid was reused by another process.
HEARTBEAT_TIMEOUT_S = 120
MAX_RUN_NAME_CHARS = 80  # 240 bytes at most in UTF-8, under every file system's 255
# Besides letters, digits and combining marks of any script, a run name may hold these;
# everything else (spaces, slashes, control characters ...) is replaced or refused.
RUN_NAME_PUNCTUATION = "._-"
MAX_TITLE_CHARS = 120  # a title is read in lists and as the report's heading: one line


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root) if root is not None else textgen_home() / "runs"


def workspace_problem(home: str | os.PathLike | None = None) -> TextgenError | None:
    """Why the workspace (``home``, default TEXTGEN_HOME) cannot keep runs, or None: it must be
    a folder this process can write in (a missing one is made). A workspace set to a file or
    to a read-only folder then gets this sentence, not a traceback at Start training."""
    home = Path(home if home is not None else textgen_home())
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError:
        return TextgenError("The workspace {path} is not a folder this app can write in, so it cannot keep runs "
                            "or choices. Set TEXTGEN_HOME to a folder you can write to and restart the app.",
                            path=str(home.absolute()))
    return None


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
        if not pid_alive(status.get("pid")) or (state in TRAINING_STATES and stale):
            status = dict(status, state="interrupted",
                          message="The training process ended unexpectedly. "
                                  "The best checkpoint is kept; you can resume the run.")
    return status


def write_status(run_dir: str | os.PathLike, **fields) -> dict:
    """Update the run's status.json with ``fields`` (atomically) and return it. A
    ``message`` that is an i18n.Message also keeps its ``message_template`` and
    ``message_params``, so pages show it in their language; any other replaces them."""
    path = Path(run_dir) / "status.json"
    status = read_json(path, {}) or {}
    if "message" in fields:
        message = fields["message"]
        fields["message_template"] = getattr(message, "template", None)
        fields["message_params"] = getattr(message, "params", None)
    status.update(fields, updated_at=time.time())
    atomic_write_json(path, status)
    return status


def check_title(title) -> str | None:
    """A run's title as typed, with the blanks around it dropped; None when empty.
    Raises TextgenError for a title that is not text, holds a line break or a control
    character, or is longer than MAX_TITLE_CHARS characters."""
    if title is None:
        return None
    if not isinstance(title, str):
        raise TextgenError("A run's title must be text.")
    title = title.strip()
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in title):
        raise TextgenError("A run's title must be one line of text, without line breaks or control characters.")
    if len(title) > MAX_TITLE_CHARS:
        raise TextgenError("This title has {length} characters; a run's title may have at most {limit}.",
                           length=len(title), limit=MAX_TITLE_CHARS)
    return title or None


def run_title(config: dict) -> str | None:
    """The title saved in a run's settings (config.json), or None when it has none."""
    title = config.get("title") if isinstance(config, dict) else None
    return (title.strip() or None) if isinstance(title, str) else None


def set_title(run_dir: str | os.PathLike, title) -> str | None:
    """Give the run at ``run_dir`` a new title (None or blank: no title) by rewriting its
    config.json atomically; returns the title kept. Raises TextgenError for a run that is
    training or waiting to train (its job still writes config.json), a run without
    settings, or a title check_title refuses."""
    run_dir = Path(run_dir)
    title = check_title(title)
    if read_status(run_dir).get("state") in ACTIVE_STATES:
        raise TextgenError("This run is still training. Change its title once it has stopped.")
    config = read_json(run_dir / "config.json")
    if not isinstance(config, dict):
        raise TextgenError("This run has no saved settings, so its title cannot be changed.")
    config.pop("title", None)
    if title:
        config["title"] = title
    atomic_write_json(run_dir / "config.json", config)
    return title


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
        "title": run_title(config),
        "path": str(run_dir),
        "state": status.get("state"),
        # queued, but not yet waiting for a slot: the job is still loading (see jobs.start_training)
        "starting": status.get("state") == "queued" and status.get("waiting_since") is None,
        "message": status.get("message", ""),
        "message_template": status.get("message_template"),
        "message_params": status.get("message_params"),
        "preset": config.get("preset"),
        "arch": config.get("arch"),
        "tokenizer": config.get("tokenizer"),
        "corpus": (config.get("corpus") or {}).get("name"),
        "corpus_sha256": (config.get("corpus") or {}).get("sha256"),
        "parameters": config.get("parameters"),
        "init_from": config.get("init_from"),
        "base_name": Path(str(config["init_from"])).name if config.get("init_from") else None,
        "step": status.get("step"),
        "best_val_loss": best,
        "best_val_bpc": best / LN2 if isinstance(best, (int, float)) else None,
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


def remove_tree(path: str | os.PathLike) -> None:
    shutil.rmtree(path, ignore_errors=True)
