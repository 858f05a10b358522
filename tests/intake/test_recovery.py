"""Kafka or PostgreSQL down: intake answers 6 at once instead of hanging, and recovers by
itself when they return.  Real restarts, of a broker and a PostgreSQL server private to
each test (``private_infra``): the shared ones keep serving everyone else's tests."""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from shared.domain import Channel
from shared.events import Event
from shared.kafka import ensure_topics
from shared.topics import Topics
from tests.intake.conftest import (
    SECRET,
    body_for,
    facts,
    publish_facts,
    running_intake,
    wait_for_directory,
)
from tests.intake.private_infra import PrivateKafka, PrivatePostgres
from tests.support import private_infra as support
from tests.support.kafka import read_topic
from tests.support.polling import eventually

# Far above the 2 s intake promises: only a hang would reach it.
GUARD = aiohttp.ClientTimeout(total=10)


async def _post(base_url: str, channel: Channel, body: dict) -> dict:
    async with aiohttp.ClientSession(timeout=GUARD) as session:
        async with session.post(
            f"{base_url}/v1/{channel.value}", json=body, headers={"Authorization": SECRET}
        ) as response:
            assert response.status == 200
            return await response.json()


async def _until_accepted(base_url: str, channel: Channel, body: dict) -> dict:
    """Smartico's retries: the same request until it is accepted (6 until then)."""

    async def accepted() -> dict | None:
        answer = await _post(base_url, channel, body)
        assert answer["error_code"] in (0, 6), answer
        return answer if answer["error_code"] == 0 else None

    return await eventually(accepted, within=60, interval=0.5, what="intake to recover")


@pytest.fixture
async def private_kafka(tmp_path: Path) -> AsyncIterator[PrivateKafka]:
    async with support.private_kafka(tmp_path / "kafka") as kafka:
        yield kafka


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    async with support.private_postgres() as postgres:
        yield postgres


@pytest.mark.slow
async def test_kafka_restart(
    private_kafka: PrivateKafka, intake_env: dict[str, str], topic_prefix: str
):
    """The broker is stopped (SIGTERM) and started again on the same data."""
    topics = Topics(topic_prefix)
    await ensure_topics(private_kafka.bootstrap, topics)
    env = {**intake_env, "KAFKA_BOOTSTRAP_SERVERS": private_kafka.bootstrap}
    user = f"p-{uuid.uuid4().hex[:8]}"
    async with running_intake(env) as intake:
        await publish_facts(private_kafka.bootstrap, topics, facts(user, set(Channel)))
        await wait_for_directory(env["DATABASE_URL"], user)
        before = await _post(intake.base_url, Channel.SMS, body_for(Channel.SMS, user))
        assert before["error_code"] == 0

        await private_kafka.stop()
        during_body = body_for(Channel.EMAIL, user)
        during = await _post(intake.base_url, Channel.EMAIL, during_body)
        assert during["error_code"] == 6
        assert "retry" in during["error_message"]
        ready = await intake.get("/readyz")
        assert ready.status == 503

        await private_kafka.start()
        retried = await _until_accepted(intake.base_url, Channel.EMAIL, during_body)
        after = await _post(intake.base_url, Channel.CIM, body_for(Channel.CIM, user))
        assert after["error_code"] == 0

        # A broker that hangs instead of refusing (SIGSTOP): still an answer, 6, not a hang.
        broker = private_kafka.process
        assert broker is not None
        broker.send_signal(signal.SIGSTOP)
        try:
            hung = await _post(intake.base_url, Channel.SMS, body_for(Channel.SMS, user))
            assert hung["error_code"] == 6
        finally:
            broker.send_signal(signal.SIGCONT)

    records = await read_topic(
        private_kafka.bootstrap, topics.message_events, expect=3, timeout_s=30
    )
    on_log = {str(Event.from_bytes(r.value).ext_message_id) for r in records}
    assert {before["ext_message_id"], retried["ext_message_id"], after["ext_message_id"]} <= on_log


@pytest.mark.slow
async def test_postgres_restart(
    private_postgres: PrivatePostgres,
    intake_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
):
    """The server is stopped in ``immediate`` mode (as a crash) and started again.  Facts
    published while it is down reach the directory after it is back."""
    env = {**intake_env, "DATABASE_URL": private_postgres.dsn}
    user = f"p-{uuid.uuid4().hex[:8]}"
    late_user = f"late-{uuid.uuid4().hex[:8]}"
    async with running_intake(env) as intake:
        await publish_facts(kafka_bootstrap, topics, facts(user, set(Channel)))
        await wait_for_directory(private_postgres.dsn, user)
        assert (await _post(intake.base_url, Channel.SMS, body_for(Channel.SMS, user)))[
            "error_code"
        ] == 0

        await private_postgres.stop()
        await publish_facts(kafka_bootstrap, topics, facts(late_user, {Channel.WHATSAPP}))
        during_body = body_for(Channel.VIBER, user)
        during = await _post(intake.base_url, Channel.VIBER, during_body)
        assert during["error_code"] == 6
        assert (await intake.get("/readyz")).status == 503
        # A preview needs no directory: it is still accepted.
        preview = body_for(Channel.EMAIL, user)
        preview.update(activity_type="preview", to_email_address="qa@example.org")
        assert (await _post(intake.base_url, Channel.EMAIL, preview))["error_code"] == 0

        await private_postgres.start()
        await _until_accepted(intake.base_url, Channel.VIBER, during_body)
        await wait_for_directory(private_postgres.dsn, late_user)
        late = await _post(intake.base_url, Channel.WHATSAPP, body_for(Channel.WHATSAPP, late_user))
        assert late["error_code"] == 0
