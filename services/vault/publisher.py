"""What the vault tells the rest of the system over Kafka: non-PII subject facts (compacted,
key ext_user_id, a tombstone on erasure) and audit facts (no values) for the SIEM."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Protocol

from services.vault.audit import AuditEntry
from shared.kafka import RecoveringProducer
from shared.subject_facts import SubjectFacts
from shared.topics import Topics


class Publisher(Protocol):
    async def subject_facts(self, facts: Sequence[SubjectFacts]) -> None: ...
    async def tombstone(self, ext_user_id: str) -> None: ...
    async def audit(self, entries: Sequence[AuditEntry]) -> None: ...


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

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        await self._send_all(
            (self.topics.vault_audit, _audit_key(entry), json.dumps(entry.facts()).encode())
            for entry in entries
        )

    async def _send_all(self, records) -> None:
        futures = [await self.producer.send(topic, value, key=key) for topic, key, value in records]
        if futures:
            await asyncio.gather(*futures)


def _audit_key(entry: AuditEntry) -> bytes:
    # By message where there is one (the audit join), else by subject, else by itself.
    key = entry.ext_message_id or entry.ext_user_id or entry.audit_id
    return str(key).encode()
