"""Shared bits of the benchmark scripts (run by hand, not as tests)."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def require_shakespeare() -> Path:
    if not SHAKESPEARE.exists():
        sys.exit(f"Reference corpus not found at {SHAKESPEARE}.")
    return SHAKESPEARE


def shakespeare_slice(chars: int, offset: int = 0) -> Path:
    """``chars`` characters of tinyshakespeare from ``offset``, written to benchmarks/out/
    (never committed); returns the file."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"shakespeare-{offset}-{chars}.txt"
    text = require_shakespeare().read_text(encoding="utf-8")[offset: offset + chars]
    path.write_text(text, encoding="utf-8")
    return path


def held_out_nats(run) -> float:
    """The run's held-out loss in nats per character, as the ``evaluate`` command gives it."""
    scored = subprocess.run([sys.executable, "-m", "textgen", "evaluate", str(run)], cwd=ROOT,
                            check=True, capture_output=True, text=True)
    return json.loads(scored.stdout)["nats_per_char"]
