"""The local settings file as a mapping, for tests to start from."""

from __future__ import annotations

from pathlib import Path

ENV_FILE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "blindpost.env"


def local_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        env[name] = value
    return env
