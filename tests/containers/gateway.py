"""Blindpost services running from the production image, one container each, as a cluster
runs them: uid 10001, a read-only root filesystem, nothing but the environment given."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from testcontainers.core.container import DockerContainer

from tests.containers.engine import require_image
from tests.support.processes import wait_until_ready


@dataclass
class ServiceContainer:
    image: str
    service: str
    env: dict[str, str]
    port: int
    container: DockerContainer = field(init=False)

    def __post_init__(self) -> None:
        # The host's network: the shared broker and database answer on 127.0.0.1, and so do
        # the test's SMTP server and Smartico stand-in.
        self.container = DockerContainer(
            require_image(self.image),
            command=f"run {self.service}",
            env=self.env,
            network_mode="host",
            read_only=True,
        )

    async def start(self, timeout_s: float) -> None:
        await asyncio.to_thread(self.container.start)
        def exited() -> str | None:
            wrapped = self.container.get_wrapped_container()
            wrapped.reload()
            return f"{self.service} exited:\n{self.logs()}" if wrapped.status == "exited" else None

        await wait_until_ready(
            self.port,
            exited,
            within=timeout_s,
            interval=0.3,
            what=f"{self.service} ready in its container",
            details=self.logs,
        )

    def run(self, *command: str) -> tuple[int, str]:
        """``command`` inside the running container: (exit code, output)."""
        code, output = self.container.get_wrapped_container().exec_run(list(command))
        return code, output.decode(errors="replace").strip()

    def logs(self) -> str:
        stdout, stderr = self.container.get_logs()
        return (stdout + stderr).decode(errors="replace")[-4000:]

    def stop(self) -> None:
        self.container.stop()
