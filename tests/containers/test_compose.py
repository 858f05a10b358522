"""`docker compose up` then exactly the README's first-message walkthrough: the player into
the vault, an e-mail as Smartico posts it, the mail in the SMTP sink, the `accepted` callback
at Smartico's stand-in, and the timeline from the CLI inside the stack.

Slow (a whole stack from images): `make compose-test` brings the stack up under a project name
and published ports of its own (so that a `make up` on the same machine is left alone), runs
this test against it (BLINDPOST_COMPOSE_PROJECT, BLINDPOST_*_PUBLISHED_PORT) and takes it down."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from tests.containers.engine import docker_client, require_image

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "compose.yaml"
IMAGES = ["blindpost:dev", "blindpost-local:dev", "blindpost-kafka:dev", "blindpost-postgres:dev"]
T = TypeVar("T")
PUBLISHED = ["INTAKE", "VAULT", "STATUS_INGEST", "DEV_SINKS"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("BLINDPOST_COMPOSE_PROJECT"),
        reason="the compose walkthrough runs in `make compose-test`",
    ),
]


class Stack:
    """The stack `make compose-test` started."""

    def __init__(self) -> None:
        self.project = os.environ["BLINDPOST_COMPOSE_PROJECT"]
        self.ports = {name: int(os.environ[f"BLINDPOST_{name}_PUBLISHED_PORT"]) for name in PUBLISHED}

    def compose(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            ["docker-compose", "-p", self.project, "-f", str(COMPOSE_FILE), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"compose {args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done.stdout

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"


@pytest.fixture
def stack() -> Stack:
    docker_client()
    for image in IMAGES:
        require_image(image)
    return Stack()


def wait_for(check: Callable[[], T], what: str, within: float = 120) -> T:
    """Polls a blocking ``check`` (this test drives subprocesses and plain HTTP); the
    stack may still be starting, so within 120 s."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = check()
            if result:
                return result
        except (requests.ConnectionError, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def answers(url: str) -> bool:
    return requests.get(url, timeout=5).ok


def test_the_readme_walkthrough_against_docker_compose(stack: Stack) -> None:
    for name in ("INTAKE", "VAULT"):
        wait_for(partial(answers, stack.url(name, "/readyz")), f"{name} ready")

    stored = requests.put(
        stack.url("VAULT", "/v1/subjects/player-1"),
        headers={"Authorization": "Bearer local-vault-admin-token"},
        json={"email": "player1@example.com", "phone": "+356 9912 3456"},
        timeout=10,
    )
    assert stored.status_code == 200, stored.text

    def send() -> dict:
        answer: dict = requests.post(
            stack.url("INTAKE", "/v1/email"),
            headers={"Authorization": "local-smartico-secret"},
            json={
                "ext_user_id": "player-1",
                "from_email_address": "Casino <noreply@casino.example>",
                "reply_to_email_address": "support@casino.example",
                "subject": "Welcome",
                "body": '<p>Hello! <a href="https://casino.example/offer">Your offer</a></p>',
                "text_body": "Hello!",
                "email_uid": "my-first-mail",
                "callback_url": "http://127.0.0.1:9900/smartico/callback",
            },
            timeout=10,
        ).json()
        return answer if answer["error_code"] != 1 else {}  # the directory catching up

    answer = wait_for(send, "intake to know player-1", within=30)
    assert answer["error_code"] == 0, answer
    message_id = answer["ext_message_id"]

    mail = wait_for(
        lambda: stack.compose("exec", "-T", "smtp-sink", "ls", "/var/lib/blindpost/mail").split(),
        "the mail in the SMTP sink",
    )
    assert mail == [f"{message_id}@blindpost.local.eml"]
    callbacks = wait_for(
        lambda: stack.compose(
            "exec", "-T", "dev-sinks", "cat", "/var/lib/blindpost/dev-sinks/callbacks.jsonl"
        ).splitlines(),
        "the accepted callback",
    )
    assert {"ext_message_id": message_id, "status": "accepted", "type": "email"} in [
        json.loads(line) for line in callbacks
    ]
    timeline = stack.compose("exec", "-T", "intake", "blindpost", "messages", "show", message_id)
    assert "status accepted" in timeline
