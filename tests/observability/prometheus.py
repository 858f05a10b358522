"""A private Prometheus for tests: its own port, data directory and config under the
test's tmp dir, scraping the given targets every second and evaluating the project's rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.support.polling import eventually
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "alerts" / "blindpost-rules.yaml"
INSTALL = ROOT / "deploy" / "tools" / "install-prometheus.sh"


def ensure_installed() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        subprocess.run(["bash", str(INSTALL)], check=True)


class Prometheus:
    def __init__(self, directory: Path, targets: list[tuple[str, int]]) -> None:
        """``targets``: (service, port) pairs; each scraped target gets a ``service`` label,
        as the chart's ServiceMonitor gives it."""
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = targets
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        ensure_installed()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "blindpost",
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
                        for service, port in self.targets
                    ],
                }
            ],
        }
        config_path = self.directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        log = (self.directory / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {self.log_tail()}")
                async with http.get(self.url + "/-/ready") as response:
                    return response.status == 200

            await eventually(
                ready,
                within=30,
                interval=0.2,
                what="prometheus ready",
                ignoring=(aiohttp.ClientError,),
            )

    def log_tail(self) -> str:
        return (self.directory / "prometheus.log").read_text()[-2000:]

    async def query(self, http: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) ``expr`` gives now."""
        async with http.get(self.url + "/api/v1/query", params={"query": expr}) as response:
            body = await response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
