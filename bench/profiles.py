"""Where each service spends its CPU during the end-to-end burst: with ``E2E_PROFILE=<s>``,
py-spy samples every service process for that many seconds from the start of the burst, and
the top of each profile (self and inclusive time, by function) is written beside the CPU
budget.  py-spy is a tool of the machine, not a dependency of the project
(``pip install py-spy``); without it the profiles are skipped with a note."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE_HZ = 50  # low enough that py-spy's own CPU does not crowd the two cores
_FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*):\d+\)")
_ENTRY_FILES = {"services/cli.py", "shared/http.py", "shared/lifecycle.py"}


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


@dataclass
class Profiler:
    """py-spy recording each named process; ``summary()`` once they end."""

    directory: Path
    recorders: dict[str, subprocess.Popen[bytes]]

    @classmethod
    def start(cls, pids: dict[str, int], seconds: float, directory: Path) -> Profiler | None:
        binary = py_spy()
        if binary is None:
            print("E2E_PROFILE: py-spy not found (pip install py-spy)", file=sys.stderr)
            return None
        directory.mkdir(parents=True, exist_ok=True)
        recorders = {
            name: subprocess.Popen(
                [binary, "record", "--nonblocking", "-r", str(RATE_HZ), "-d", str(int(seconds))]
                + ["-f", "raw", "-o", str(directory / f"{name}.txt"), "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        }
        return cls(directory, recorders)

    def summary(self, top: int = 8) -> str:
        for recorder in self.recorders.values():
            recorder.wait()
        parts = []
        for name in self.recorders:
            path = self.directory / f"{name}.txt"
            if path.exists() and path.stat().st_size:
                parts.append(f"### {name}\n\n{top_of(path.read_text(), top)}")
        return "\n\n".join(parts)


def _short(frame: str) -> str:
    match = _FRAME.fullmatch(frame)
    if match is None:
        return frame
    file = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", match["file"])
    file = re.sub(rf"^{re.escape(str(Path(__file__).resolve().parents[1]))}/", "", file)
    return f"{match['function']} ({file})"


def _ours(frame: str) -> bool:
    """A frame of the suite's own code, below the process's entry (``main``, ``serve``)."""
    file = frame[frame.rfind("(") + 1 : -1]
    if not file.startswith(("services/", "shared/")) or file in _ENTRY_FILES:
        return False
    function = frame[: frame.rfind(" (")]
    return function != "main" and not function.endswith(".main")


def top_of(collapsed: str, top: int) -> str:
    """The functions holding the most samples of a collapsed-stack profile: by self time
    (wherever it is), then by inclusive time of the suite's own functions (what each
    message's work goes through: the entry frames every sample shares are left out)."""
    own, inclusive, total = Counter[str](), Counter[str](), 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_short(frame) for frame in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive, the suite's own functions:")
    ranked = [(f, n) for f, n in inclusive.most_common() if _ours(f)][:top]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ranked]
    return "\n".join(lines)
