"""Training jobs: the CLI ``train`` command run as a detached subprocess.

The app never trains in its own process. It starts a job, and from then on
only reads the job's run folder, so a page refresh, a second tab or a server
restart all find the same job again. Jobs started here wait for a free slot
(one by default, ``TEXTGEN_MAX_JOBS`` for more) by holding a file lock, so the
queue survives restarts too and needs no scheduler.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from textgen import runs
from textgen.errors import TextgenError
from textgen.files import read_json

QUEUE_ENV = "TEXTGEN_QUEUE_DIR"


def max_jobs() -> int:
    try:
        return max(1, int(os.environ.get("TEXTGEN_MAX_JOBS", "1")))
    except ValueError:
        return 1


def train_command(corpus: list[str], out_dir: Path, options: dict) -> list[str]:
    """The CLI invocation for these settings; ``None`` and ``False`` options are left out.
    A value that starts with a dash (a title such as "-- draft") is joined to its flag with
    "=", so that it is not read as a flag of its own."""
    cmd = [sys.executable, "-m", "textgen", "train", *corpus, "--out", str(out_dir)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            cmd.append(flag)
        elif str(value).startswith("-"):
            cmd.append(f"{flag}={value}")
        else:
            cmd += [flag, str(value)]
    return cmd


def start_training(corpus: list[str], out_dir: str | os.PathLike, options: dict | None = None) -> int:
    """Start ``textgen train`` in the background for ``out_dir``; returns its pid. Raises
    TextgenError for a workspace that cannot keep runs (runs.workspace_problem), a run of
    that name that exists, a run to resume that is still training, or a run folder that
    cannot be made (a file in the way, a full disk)."""
    out_dir = Path(out_dir)
    problem = runs.workspace_problem()
    if problem:
        raise problem
    resuming = bool((options or {}).get("resume"))
    try:
        if out_dir.exists() and not resuming and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise TextgenError("A run named {name} already exists. Choose another name.", name=out_dir.name)
        if resuming and runs.read_status(out_dir).get("state") in runs.ACTIVE_STATES:
            raise TextgenError("This run is already training or waiting in the queue.")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "STOP").unlink(missing_ok=True)
        log = open(out_dir / "train.log", "ab")
    except OSError as e:  # the runs folder is a file, or the disk is full: not a traceback
        raise TextgenError("The run folder {folder} could not be made ({reason}). Choose another run name, "
                           "or free some disk space.", folder=str(out_dir.absolute()),
                           reason=e.strerror or type(e).__name__) from None
    env = dict(os.environ, **{QUEUE_ENV: str(runs.textgen_home() / ".queue")})
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(
        train_command(corpus, out_dir, options or {}),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True,  # outlives a Streamlit restart
        cwd=Path(__file__).resolve().parent.parent,
    )
    log.close()
    # "queued" until the job holds a slot; it marks waiting_since only once it finds every
    # slot taken, so a job that is still starting up is not shown waiting in line.
    runs.write_status(out_dir, state="queued", pid=proc.pid, queued_at=time.time(), waiting_since=None,
                      message="Starting.")
    return proc.pid


def stop_training(run_dir: str | os.PathLike) -> None:
    """Ask a job to stop; it finishes the current step and keeps its best checkpoint."""
    run_dir = Path(run_dir)
    (run_dir / "STOP").touch()
    status = runs.read_status(run_dir)
    if status.get("state") == "queued" and runs.pid_alive(status.get("pid")):
        with contextlib.suppress(OSError):
            os.kill(status["pid"], signal.SIGTERM)


def active_jobs(root=None) -> list[dict]:
    return [r for r in runs.list_runs(root) if r["state"] in runs.ACTIVE_STATES]


def is_waiting(status: dict) -> bool:
    """Whether a queued job waits for a free slot (False while it is still starting up)."""
    return status.get("state") == "queued" and status.get("waiting_since") is not None


def queue_position(name: str, root=None) -> tuple[int | None, int]:
    """(place in line of the job named ``name``, jobs training now).

    The place counts only jobs that wait for a slot, earliest first; it is None for a job
    that is not waiting (still starting up, or training already).
    """
    active = active_jobs(root)
    running = sum(1 for r in active if r["state"] in runs.TRAINING_STATES)
    statuses = {r["name"]: runs.read_status(r["path"]) for r in active if r["state"] == "queued"}
    waiting = sorted((n for n, s in statuses.items() if is_waiting(s)),
                     key=lambda n: statuses[n]["waiting_since"])
    return (waiting.index(name) + 1 if name in waiting else None), running


@contextlib.contextmanager
def training_slot(should_stop=lambda: False, on_wait=None, poll_s: float = 0.5):
    """Hold one of ``max_jobs()`` slots while training, waiting in line for it if needed.

    Yields True once a slot is held, or False if ``should_stop`` said to give
    up while waiting. Only jobs started through :func:`start_training` queue;
    a plain CLI call (no ``TEXTGEN_QUEUE_DIR``) trains at once.
    """
    queue_dir = os.environ.get(QUEUE_ENV)
    if not queue_dir:
        yield True
        return
    Path(queue_dir).mkdir(parents=True, exist_ok=True)
    waited = False
    while not should_stop():
        for i in range(max_jobs()):
            f = open(Path(queue_dir) / f"slot-{i}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()
            return
        if not waited and on_wait:
            on_wait()
            waited = True
        time.sleep(poll_s)
    yield False


def resume_training(run_dir: str | os.PathLike) -> int:
    """Continue a stopped, interrupted or failed run on the corpus its config.json records;
    returns the job's pid. Raises TextgenError when the run does not record its corpus."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json", {}) or {}
    sources = (config.get("corpus") or {}).get("sources") or []
    if not sources:
        raise TextgenError("This run does not record its corpus, so it cannot be resumed.")
    return start_training(sources, run_dir, {"resume": True})


def training_log(run_dir: str | os.PathLike) -> str:
    """Everything the job wrote to its train.log (undecodable bytes replaced); "" if none."""
    try:
        return (Path(run_dir) / "train.log").read_text(errors="replace")
    except OSError:
        return ""


def log_error(log_text: str) -> str | None:
    """The sentence of the last ``error: ...`` line in a job's log, or None. The CLI states
    bad input in one such line (textgen.cli), so it says most about why a job failed."""
    reasons = [line[len("error:"):].strip() for line in log_text.splitlines() if line.startswith("error:")]
    return reasons[-1] if reasons else None
