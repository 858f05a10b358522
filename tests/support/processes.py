"""Running the ``blindpost`` command as a real process: a service (``blindpost run SERVICE``)
for tests that kill it, or an operator's command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]


async def is_ready(session: aiohttp.ClientSession, base_url: str) -> bool:
    async with session.get(base_url + "/readyz") as response:
        return response.status == 200


async def wait_until_ready(
    port: int,
    exited: Callable[[], str | None],
    *,
    within: float,
    what: str,
    details: Callable[[], str],
    interval: float = 0.2,
) -> None:
    """Polls ``/readyz`` on ``port`` until it answers 200; fails at once, with what
    ``exited`` says, when the service (a process, a container) has stopped."""
    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            if (why := exited()) is not None:
                raise RuntimeError(why)
            return await is_ready(session, f"http://127.0.0.1:{port}")

        await eventually(
            ready,
            within=within,
            interval=interval,
            what=what,
            ignoring=(aiohttp.ClientError,),
            details=details,
        )


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``blindpost ARGS`` as an operator runs it, with ``env`` as its whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ServiceProcess:
    def __init__(self, service: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.service = service
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout_s: float = 30.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", self.service],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        await self.wait_ready(timeout_s)
        return self

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        def exited() -> str | None:
            assert self.process is not None
            if self.process.poll() is None:
                return None
            return f"{self.service} exited with {self.process.returncode}:\n{self.log_tail()}"

        await wait_until_ready(
            self.port, exited, within=timeout_s, what=f"{self.service} ready", details=self.log_tail
        )

    def running_pid(self) -> int:
        """The process's id; fails when it has exited (a restart would give another id)."""
        process = self.process
        assert process is not None and process.poll() is None, (
            f"{self.service} is not running:\n{self.log_tail()}"
        )
        return process.pid

    def logged(self, text: str) -> bool:
        return self.log_path.exists() and text in self.log_path.read_text(errors="replace")

    async def until_logged(self, text: str, *, pid: int, what: str, within: float = 30) -> None:
        """Until the log holds ``text``, the process ``pid`` still running all along (an
        exit, or another process in its place, fails at once)."""

        def seen() -> bool:
            assert self.running_pid() == pid, f"{self.service} was restarted"
            return self.logged(text)

        await eventually(seen, within=within, what=what, details=self.log_tail)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    async def terminate(self, timeout_s: float) -> int | None:
        """SIGTERM, as an orchestrator stops a pod; the exit code, or None if it did not
        exit within ``timeout_s`` (then it is killed)."""
        assert self.process is not None
        process = self.process
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
