"""Shared bits of the benchmark scripts (run by hand, not as tests)."""

import os
import platform
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
