"""The Docker engine and the images `make image` built, for the tests that run containers.

Where Docker cannot be reached the tests that need it are skipped on a laptop and fail in CI
(``CI=true``): the image is part of what CI must prove, and a silent skip would hide that.
"""

from __future__ import annotations

import os

import docker
import docker.errors
import pytest

# testcontainers' reaper image cannot be pulled without a registry, and these machines have
# /.dockerenv, so it would look for a bridge gateway instead of the published ports on the host.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

PRODUCTION_IMAGE = os.environ.get("BLINDPOST_IMAGE", "blindpost:dev")
UID = "10001"


def unavailable(reason: str) -> None:
    """Skips the test, or fails it in CI, saying how to get what is missing."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: the image tests must run here)", pytrace=False)
    pytest.skip(reason)


def docker_client() -> docker.DockerClient:
    """A docker SDK client to an engine that answers, or skip/fail."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        unavailable(
            f"no Docker engine answers ({type(exc).__name__}); "
            "start one with `bash deploy/docker/engine.sh`"
        )
    return client


def require_image(name: str) -> str:
    try:
        docker_client().images.get(name)
    except docker.errors.ImageNotFound:
        unavailable(f"the image {name} is missing: build it with `make image`")
    return name
