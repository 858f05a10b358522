"""The production image (`make image`, deploy/docker/Dockerfile), run as a cluster runs it:
every service as uid 10001 with a read-only root filesystem against real Kafka and PostgreSQL;
one e-mail goes from intake to a real SMTP server and its `accepted` callback comes back.
And what the image must not hold: a compiler, test tools, the local stand-ins."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.containers.engine import PRODUCTION_IMAGE, UID, docker_client, require_image
from tests.containers.gateway import ServiceContainer
from tests.e2e.test_end_to_end import post
from tests.support.gateway import SERVICES as E2E_SERVICES
from tests.support.gateway import outside_the_gateway, plan_gateway
from tests.support.polling import eventually

# Every service of the gateway: the end-to-end test's list without the SMTP sink (a stand-in).
SERVICES = [service for service in E2E_SERVICES if service != "smtp-sink"]
PLAYER = "image-player-1"
ADDRESS = "image.test@example.com"

# What only development needs: the test tools (the `dev` extra), the local stand-ins (the
# `local` extra and services/dev), and the installers.  aiosmtpd and faust are not among
# them: the bounce receiver is an SMTP server, the deliverability service a faust app.
ABSENT_MODULES = [
    "pytest",
    "hypothesis",
    "schemathesis",
    "testcontainers",
    "mypy",
    "ruff",
    "services.dev",
    "pip",
    "setuptools",
]
INVENTORY = f"""
import importlib.util, json, shutil
def present(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
print(json.dumps({{
    "modules": [m for m in {ABSENT_MODULES!r} if present(m)],
    "compilers": [c for c in ["cc", "gcc", "g++", "c++", "clang", "tcc", "ld", "make"] if shutil.which(c)],
}}))
"""


def test_the_image_holds_no_compiler_no_test_tool_and_no_stand_in():
    output = docker_client().containers.run(
        require_image(PRODUCTION_IMAGE), ["python3", "-c", INVENTORY], remove=True
    )
    assert json.loads(output) == {"modules": [], "compilers": []}


@pytest.mark.slow
async def test_every_service_runs_from_the_image_and_an_email_goes_out(
    base_env, events_dsn, vault_dsn, topics
):
    async with outside_the_gateway(base_env) as outside:
        smtp, world = outside.mails, outside.world
        ports, env = plan_gateway(
            base_env, SERVICES, events_dsn, vault_dsn, world, outside.smtp_port
        )
        env.pop("BLINDPOST_VAR_DIR")  # the container has its own filesystem
        containers = [
            ServiceContainer(PRODUCTION_IMAGE, service, env, ports[service]) for service in SERVICES
        ]
        try:
            await asyncio.gather(*(container.start(timeout_s=90) for container in containers))
            for container in containers:
                assert container.run("id", "-u") == (0, UID), container.service
                code, _ = container.run("touch", "/opt/blindpost/probe")
                assert code != 0, f"{container.service}: the root filesystem is writable"

            async with aiohttp.ClientSession() as http:
                async with http.put(
                    f"http://127.0.0.1:{ports['vault']}/v1/subjects/{PLAYER}",
                    json={"email": ADDRESS},
                    headers={"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"},
                ) as response:
                    assert response.status == 200, await response.text()
                answer = await post(
                    http,
                    f"http://127.0.0.1:{ports['intake']}/v1/email",
                    env["BLINDPOST_INTAKE_SECRETS"].split(",")[0],
                    {
                        "ext_user_id": PLAYER,
                        "from_email_address": "Casino <noreply@casino.example>",
                        "subject": "Welcome",
                        "body": "<p>Hello from the image</p>",
                        "email_uid": "image-mail-1",
                        "callback_url": world.url("/smartico/callback"),
                    },
                )
            assert answer["error_code"] == 0, answer
            message_id = answer["ext_message_id"]

            await eventually(lambda: smtp.received, within=60, what="the mail at the SMTP server")
            assert smtp.received[0][1] == [ADDRESS]
            assert b"Hello from the image" in smtp.received[0][2]
            accepted = {"ext_message_id": message_id, "status": "accepted"}
            await eventually(
                lambda: any(accepted.items() <= callback.items() for callback in world.callbacks),
                within=60,
                what="the accepted callback",
                details=lambda: str(world.callbacks),
            )
        finally:
            for container in containers:
                await asyncio.to_thread(container.stop)
