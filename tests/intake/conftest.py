"""Intake under test: the real app (``create_app``) on a real port, against the real Kafka
broker and a scratch event-store database; subject facts published to the real topic."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.intake.app import INTAKE_TOPICS, create_app
from services.intake.settings import IntakeSettings
from shared.domain import Channel
from shared.kafka import ensure_topics, start_producer
from shared.subject_facts import SubjectFacts
from shared.topics import Topics
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import is_ready

SECRET = "local-smartico-secret"
CALLBACK = "https://api.smartico.ai/callback?label=7"


def email_body(user: str, uid: str | None = None, **extra: object) -> dict[str, Any]:
    return {
        "ext_user_id": user,
        "from_email_address": "Amazing <noreply@amazing.co>",
        "reply_to_email_address": "Amazing <noreply@amazing.co>",
        "subject": "The best offer",
        "body": "<html>offer</html>",
        "text_body": "Get the offer",
        "email_uid": uid or uuid.uuid4().hex,
        "callback_url": CALLBACK,
        **extra,
    }


def im_body(user: str, uid: str | None = None, **extra: object) -> dict[str, Any]:
    return {
        "ext_user_id": user,
        "from_number": "Amazing",
        "body": "Best offer ever",
        "im_uid": uid or uuid.uuid4().hex,
        "callback_url": CALLBACK,
        **extra,
    }


def body_for(channel: Channel, user: str, uid: str | None = None) -> dict[str, Any]:
    if channel is Channel.EMAIL:
        return email_body(user, uid)
    if channel is Channel.CIM:
        return im_body(user, uid, from_number=None, extension={"title": "Hi", "action": "BUY"})
    return im_body(user, uid)


def facts(
    user: str,
    channels: set[Channel],
    opted_out: frozenset[Channel] | set[Channel] = frozenset(),
    version: int = 1,
    *,
    suppressed: frozenset[Channel] | set[Channel] = frozenset(),
):
    return SubjectFacts(
        ext_user_id=user,
        channels=frozenset(channels),
        opted_out=frozenset(opted_out),
        suppressed=frozenset(suppressed),
        updated_at=datetime.now(UTC),
        version=version,
    )


async def publish_facts(
    bootstrap: str, topics: Topics, *items: SubjectFacts | tuple[str, None]
) -> None:
    """As the vault does: key ext_user_id, a null value erases."""
    producer = await start_producer(bootstrap)
    try:
        for item in items:
            if isinstance(item, SubjectFacts):
                await producer.send_and_wait(
                    topics.subject_facts, item.to_bytes(), key=item.ext_user_id.encode()
                )
            else:
                await producer.send_and_wait(topics.subject_facts, None, key=item[0].encode())
    finally:
        await producer.stop()


async def wait_for_directory(
    dsn: str, user: str, *, version: int | None = None, gone: bool = False
) -> None:
    conn = await asyncpg.connect(dsn)

    async def shown() -> bool:
        row = await conn.fetchrow(
            "SELECT version FROM intake_directory WHERE ext_user_id = $1", user
        )
        if gone:
            return row is None
        return row is not None and (version is None or row["version"] == version)

    try:
        await eventually(
            shown, within=15, what=f"the directory to show {user} (gone={gone}, version={version})"
        )
    finally:
        await conn.close()


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Topics]:
    """As the suite's ``topics`` fixture, but only intake's, and deleted afterwards: the shared broker keeps
    every partition ever created, and thousands of them exhaust its heap."""
    topics = Topics(topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, INTAKE_TOPICS)
    yield topics
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        await admin.start()
        await admin.delete_topics([topics.name(spec) for spec in INTAKE_TOPICS])
    except KafkaError:
        pass  # best effort: a broker being restarted by another test keeps them
    finally:
        await admin.close()


@pytest.fixture
def intake_env(base_env: dict[str, str], events_dsn: str, topics: Topics) -> dict[str, str]:
    env = dict(base_env)
    env.update(
        {
            "DATABASE_URL": events_dsn,
            "BLINDPOST_INTAKE_PORT": str(free_port()),
            # Tests change facts and ask again at once; production caches for 2 s.
            "BLINDPOST_INTAKE_DIRECTORY_CACHE_TTL_S": "0",
            # No vault here: content goes out as it came.  Sealing, with a vault, is
            # tests/intake/test_content_sealing.py's and tests/e2e/test_content_shredding.py's.
            "BLINDPOST_INTAKE_SEAL_CONTENT": "false",
        }
    )
    return env


class IntakeClient:
    """Speaks to intake the way Smartico does."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def post(
        self,
        path: str,
        body: object = None,
        *,
        secret: str | None = SECRET,
        raw: bytes | None = None,
        content_type: str | None = "application/json",
    ) -> dict[str, Any]:
        headers = {}
        if secret is not None:
            headers["Authorization"] = secret
        if content_type is not None:
            headers["Content-Type"] = content_type
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.session.post(self.base_url + path, data=data, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert response.content_type == "application/json"
            return await response.json()

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.session.get(self.base_url + path)


async def wait_ready(session: aiohttp.ClientSession, base_url: str) -> None:
    await eventually(
        lambda: is_ready(session, base_url),
        within=30,
        what="intake ready",
        ignoring=(aiohttp.ClientError,),
    )


@contextlib.asynccontextmanager
async def running_intake(env: dict[str, str]) -> AsyncIterator[IntakeClient]:
    """The production app (``create_app``) served in this process on the env's port."""
    settings = IntakeSettings.from_env(env)
    server = TestServer(create_app(settings), host="127.0.0.1", port=settings.intake_port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            base_url = f"http://127.0.0.1:{settings.intake_port}"
            await wait_ready(session, base_url)
            yield IntakeClient(session, base_url)
    finally:
        await server.close()


@pytest.fixture
async def intake(intake_env: dict[str, str]) -> AsyncIterator[IntakeClient]:
    async with running_intake(intake_env) as client:
        yield client
