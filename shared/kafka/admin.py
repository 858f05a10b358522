"""Topic set-up: the one policy every service follows at start (create what is missing, or
only check, as ``BLINDPOST_KAFKA_CREATE_TOPICS`` says)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.kafka.clients import Kafka, client_config
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, TopicPolicy, Topics, TopicSpec


class TopicsMissing(RuntimeError):
    """Topics are expected to exist (created by ``blindpost topics create`` or the operator)."""


def admin_client(kafka: Kafka) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_config(kafka))


async def prepare_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec]) -> None:
    """What a service does at start for the topics it uses."""
    specs = list(specs)
    if kafka.create_topics:
        await ensure_topics(kafka, kafka.topics, specs)
        return
    admin = admin_client(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    missing = [kafka.topics.name(spec) for spec in specs if kafka.topics.name(spec) not in existing]
    if missing:
        raise TopicsMissing(
            f"topic{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing: run "
            "`blindpost topics create` with this installation's settings (services only "
            "check their topics unless BLINDPOST_KAFKA_CREATE_TOPICS=true)"
        )


async def ensure_topics(
    kafka: Kafka,
    topics: Topics,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    ready_timeout_s: float = 30.0,
) -> None:
    """Create the suite's topics if missing (idempotent; an operator may pre-create them),
    with the settings' :class:`TopicPolicy` (a bare bootstrap list: the single local broker)."""
    policy = (
        kafka.topic_policy() if isinstance(kafka, KafkaSettings) else TopicPolicy.single_broker()
    )
    specs = [policy.apply(spec) for spec in specs]
    admin = admin_client(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                topics.name(spec),
                spec.partitions,
                policy.replication_factor,
                topic_configs=spec.config(policy.min_insync_replicas),
            )
            for spec in specs
            if topics.name(spec) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between list and create
        await _wait_for_leaders(admin, [topics.name(spec) for spec in specs], ready_timeout_s)
    finally:
        await admin.close()


async def topics_ready(kafka: Kafka, names: list[str], timeout_s: float = 30.0) -> list[int]:
    """Waits until every partition of ``names`` has a leader (topics another client just
    created); returns each topic's partition count."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        await _wait_for_leaders(admin, names, timeout_s)
        described = {topic["topic"]: topic for topic in await admin.describe_topics(names)}
    finally:
        await admin.close()
    return [len(described[name]["partitions"]) for name in names]


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """create_topics returns before the partitions have leaders; a producer that writes in
    that window stalls.  Return once every partition can take writes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        waiting = [
            topic["topic"]
            for topic in described
            if topic["error_code"]
            or not topic["partitions"]
            or any(p["error_code"] or p["leader"] < 0 for p in topic["partitions"])
        ]
        if not waiting:
            return
        if loop.time() > deadline:
            raise KafkaError(f"topics without a partition leader after {timeout_s}s: {waiting}")
        await asyncio.sleep(0.1)
