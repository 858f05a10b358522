"""Kafka as production secures it: every service's clients, built from ``KafkaSettings``,
reach a SASL_SSL listener (SCRAM-SHA-512 over TLS) of a broker that denies whatever no ACL
grants; a wrong password is refused as an authentication failure, not a hang; a principal
cannot write a topic its ACL does not grant."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from shared.domain import Channel
from shared.kafka import ensure_topics, kafka_consumer, kafka_producer
from shared.topics import DISPATCH, MESSAGE_EVENTS, VAULT_AUDIT
from tests.shared.secure_kafka import SecureKafka

# One broker for the module (starting one costs most of the run): its tests share its loop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

EVENTS = MESSAGE_EVENTS.name
EMAIL = DISPATCH[Channel.EMAIL].name
# A refusal is immediate; this bound only turns a hang into a failure.
REFUSAL_WITHIN_S = 15


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kafka(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureKafka]:
    broker = SecureKafka(
        Path(tmp_path_factory.mktemp("secure-kafka")), ["intake", "resolver", "vault"]
    )
    await asyncio.to_thread(broker.format)
    await broker.start()
    try:
        admin = broker.settings("admin")
        await ensure_topics(
            admin, admin.topics, [MESSAGE_EVENTS, DISPATCH[Channel.EMAIL], VAULT_AUDIT]
        )
        await broker.grant(
            f"User:intake:WRITE:TOPIC:{EVENTS}:LITERAL",
            f"User:resolver:READ:TOPIC:{EVENTS}:LITERAL",
            "User:resolver:READ:GROUP:blindpost-resolver:LITERAL",
            f"User:vault:WRITE:TOPIC:{VAULT_AUDIT.name}:LITERAL",
        )
        yield broker
    finally:
        await broker.stop()


async def test_a_service_writes_and_another_reads_over_sasl_ssl(kafka: SecureKafka) -> None:
    intake, resolver = kafka.settings("intake"), kafka.settings("resolver")
    async with kafka_producer(intake) as producer:
        await producer.send_and_wait(EVENTS, b"accepted", key=b"m-1")
    async with kafka_consumer(resolver, resolver.group("resolver"), [EVENTS]) as consumer:
        async with asyncio.timeout(30):
            record = await consumer.getone()
        await consumer.commit()
    assert (record.key, record.value) == (b"m-1", b"accepted")


async def test_a_wrong_password_is_refused_as_an_authentication_failure(
    kafka: SecureKafka, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aiokafka")
    wrong = kafka.settings("intake", password="not-the-password-" * 3)
    with pytest.raises(KafkaConnectionError):
        async with asyncio.timeout(REFUSAL_WITHIN_S):
            async with kafka_producer(wrong):
                pass
    # What the operator reads in the log: the cause, and never the password.
    assert "SaslAuthenticationFailed" in caplog.text and "invalid credentials" in caplog.text
    assert "not-the-password" not in caplog.text


async def test_a_principal_cannot_write_a_topic_its_acl_does_not_grant(kafka: SecureKafka) -> None:
    vault = kafka.settings("vault")
    async with kafka_producer(vault) as producer:
        await producer.send_and_wait(VAULT_AUDIT.name, b"granted", key=b"a-1")
        with pytest.raises(TopicAuthorizationFailedError):
            async with asyncio.timeout(REFUSAL_WITHIN_S):
                await producer.send_and_wait(EMAIL, b"sealed address", key=b"m-1")
