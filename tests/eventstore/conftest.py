"""The event-store tests need three topics, not the whole suite's: every partition created
here stays on the shared local broker until it is cleaned up."""

from __future__ import annotations

import pytest

from shared.kafka import ensure_topics
from shared.topics import DEAD_LETTER, MESSAGE_EVENTS, VAULT_AUDIT, Topics


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> Topics:
    topics = Topics(topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, (MESSAGE_EVENTS, VAULT_AUDIT, DEAD_LETTER))
    return topics
