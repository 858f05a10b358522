"""Kafka clients configured one way for the whole suite: idempotent producers, manual-commit
read-committed consumers, each also as an async context manager for a service's wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.helpers import create_ssl_context

from shared.kafka.producer import RecoveringProducer, start_recovering_producer
from shared.settings import KafkaSettings

Kafka = KafkaSettings | str
"""Where a client connects: the suite's settings, or (tests, benchmarks) a bootstrap list."""


def client_config(kafka: Kafka) -> dict[str, Any]:
    """What every client (producer, consumer, admin) needs to reach the cluster: the one
    place transport security (TLS, SASL) is configured."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.uses_tls:
        config["ssl_context"] = create_ssl_context(
            cafile=_path(kafka.ssl_ca_file),
            certfile=_path(kafka.ssl_cert_file),
            keyfile=_path(kafka.ssl_key_file),
        )
    if kafka.security_protocol.startswith("SASL_") and kafka.sasl_password:
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return config


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)


def producer_config(kafka: Kafka, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(kafka),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
    }
    config.update(overrides)
    return config


def consumer_config(kafka: Kafka, group_id: str | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(kafka),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 500,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "metadata_max_age_ms": 30_000,
    }
    config.update(overrides)
    return config


async def start_producer(
    kafka: Kafka, *, transactional_id: str | None = None, **overrides: Any
) -> RecoveringProducer:
    """A started producer that replaces itself after a fatal producer error."""
    if transactional_id:
        overrides.setdefault("transactional_id", transactional_id)
    return await start_recovering_producer(producer_config(kafka, **overrides))


async def start_consumer(
    kafka: Kafka, group_id: str, topics: Sequence[str], **overrides: Any
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(*topics, **consumer_config(kafka, group_id, **overrides))
    await consumer.start()
    return consumer


@asynccontextmanager
async def kafka_producer(kafka: Kafka, **overrides: Any) -> AsyncIterator[RecoveringProducer]:
    producer = await start_producer(kafka, **overrides)
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def kafka_consumer(
    kafka: Kafka, group_id: str, topics: Sequence[str] = (), **overrides: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of ``topics``; with none, the caller subscribes (with its listener)."""
    consumer = await start_consumer(kafka, group_id, topics, **overrides)
    try:
        yield consumer
    finally:
        await consumer.stop()
