"""The event-store tests need three topics, not the whole suite's, and delete them after:
every partition left behind stays on the shared local broker (and in its heap)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import ensure_topics
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS, VAULT_AUDIT, Topics

SPECS = (MESSAGE_EVENTS, VAULT_AUDIT, DEAD_LETTER)


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Topics]:
    topics = Topics(topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, SPECS)
    yield topics
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topics.name(spec) for spec in SPECS])
    except Exception:  # noqa: BLE001, S110 - best effort; the broker may be down
        pass
    finally:
        await admin.close()
