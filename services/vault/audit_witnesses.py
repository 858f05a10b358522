"""Reading what the vault published, for `blindpost audit verify`: every audit fact and
checkpoint on the audit topic and every subject fact, from the beginning of each topic to
its end as of now (no consumer group: nothing is committed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.eventstore.topic_reader import partitions_of
from services.vault.audit import fact_digest
from services.vault.audit_anchors import Witnesses
from services.vault.checkpoints import Checkpoint
from shared.kafka.clients import client_config
from shared.kafka_settings import KafkaSettings
from shared.subject_facts import SubjectFacts
from shared.topics import AUDIT_CHECKPOINT_KEY


async def read_witnesses(kafka: KafkaSettings) -> Witnesses:
    witnesses = Witnesses()
    async for key, value in _records(kafka, kafka.topics.vault_audit):
        published = json.loads(value)
        if key == AUDIT_CHECKPOINT_KEY:
            witnesses.checkpoints.append(Checkpoint.from_facts(published))
        elif "seq" in published and "row_hash" in published:
            # Facts published before they carried their place in the chain have neither.
            digest = fact_digest(published)
            witnesses.add_fact(int(published["seq"]), digest, bytes.fromhex(published["row_hash"]))
    async for _key, value in _records(kafka, kafka.topics.subject_facts):
        facts = SubjectFacts.from_bytes(value)
        if facts.audit_seq is not None and facts.audit_hash is not None:
            witnesses.subject_marks[facts.audit_seq] = bytes.fromhex(facts.audit_hash)
    return witnesses


async def _records(kafka: KafkaSettings, topic: str) -> AsyncIterator[tuple[bytes | None, bytes]]:
    """Every record with a value, up to the end offsets read when it starts."""
    consumer = AIOKafkaConsumer(**client_config(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < ends[tp] and record.value is not None:
                        yield record.key, record.value
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
