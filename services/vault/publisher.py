"""What the vault tells the rest of the system over Kafka: non-PII subject facts (compacted,
key ext_user_id, a tombstone on erasure), on the audit topic the audit facts (no values;
each with its seq and row hash) and the chain's signed checkpoints, and on the event log the
changes of the suppression list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from services.vault.audit_facts import Fact
from services.vault.checkpoints import Checkpoint
from shared.events import Event
from shared.kafka import RecoveringProducer
from shared.subject_facts import SubjectFacts
from shared.topics import AUDIT_CHECKPOINT_KEY, Topics


class Publisher(Protocol):
    async def subject_facts(self, facts: Sequence[SubjectFacts]) -> None: ...
    async def tombstone(self, ext_user_id: str) -> None: ...
    async def audit(self, facts: Sequence[Fact]) -> None: ...
    async def checkpoint(self, checkpoint: Checkpoint) -> None: ...
    async def events(self, events: Sequence[Event]) -> None: ...


class KafkaPublisher:
    """Each call returns once the broker acknowledged every record (acks=all)."""

    def __init__(self, producer: RecoveringProducer, topics: Topics) -> None:
        self.producer = producer
        self.topics = topics

    async def subject_facts(self, facts: Sequence[SubjectFacts]) -> None:
        await self._send_all(
            (self.topics.subject_facts, f.ext_user_id.encode(), f.to_bytes()) for f in facts
        )

    async def tombstone(self, ext_user_id: str) -> None:
        await self._send_all([(self.topics.subject_facts, ext_user_id.encode(), None)])

    async def audit(self, facts: Sequence[Fact]) -> None:
        await self._send_all((self.topics.vault_audit, key, value) for key, value in facts)

    async def checkpoint(self, checkpoint: Checkpoint) -> None:
        value = json.dumps(checkpoint.facts()).encode()
        await self._send_all([(self.topics.vault_audit, AUDIT_CHECKPOINT_KEY, value)])

    async def events(self, events: Sequence[Event]) -> None:
        await self._send_all((self.topics.message_events, e.key, e.to_bytes()) for e in events)

    async def _send_all(self, records) -> None:
        futures = [await self.producer.send(topic, value, key=key) for topic, key, value in records]
        # Awaited in turn, not gathered: the broker acknowledges a batch of records at once,
        # so most are done when their turn comes, and gather's callback per record cost more
        # than the wait (every audit row passes here).  A failed one raises as with gather
        # (and the producer has seen every failure: RecoveringProducer watches each).
        for future in futures:
            await future
