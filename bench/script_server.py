"""A baseline server for a benchmark: a Python script that takes its port, run in a process
of its own beside the service measured, so both are driven by the same client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_script(source: str, port: int) -> subprocess.Popen[bytes]:
    """Started once, before the measurement; ``stop_script`` ends it."""
    return subprocess.Popen([sys.executable, "-c", source, str(port)], cwd=ROOT)


def stop_script(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(10)
