"""The projector: consumes the event log and the vault's audit facts and stores each batch
(events, projections and the Kafka positions) in one PostgreSQL transaction.

Exactly-once comes from the stored positions, not from Kafka's committed offsets: on
assignment each partition is sought to its stored position, and every batch locks the
positions first and skips records already stored (a zombie after a rebalance waits on the
lock, then finds nothing to do).  Offsets are also committed to Kafka after each batch, only
so that the lag dashboard sees progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Histogram

from services.eventstore import store
from services.eventstore.continuity import Continuity
from services.eventstore.records import (
    AuditFact,
    Position,
    Received,
    parse_audit_fact,
    parse_event,
)
from services.eventstore.tables import ProjectionTables
from shared.db_faults import refused_record
from shared.kafka import (
    Backoff,
    Consumption,
    RecoveringProducer,
    SeekToStoredPositions,
    dead_letter_output,
    failure_reason,
    refused_by_database,
    retry_until_done,
)
from shared.logging import get_logger
from shared.topics import AUDIT_CHECKPOINT_KEY, Topics

log = get_logger(__name__)
STAGE = "projector"

EVENTS_STORED = Counter(
    "blindpost_projector_events_stored_total", "Lifecycle events appended to the event store"
)
DUPLICATES = Counter(
    "blindpost_projector_duplicate_events_total",
    "Events received again (redelivered or re-emitted) and not stored twice",
)
AUDIT_FACTS = Counter(
    "blindpost_projector_audit_facts_stored_total", "Vault audit facts stored for the audit join"
)
ALREADY_STORED = Counter(
    "blindpost_projector_records_already_stored_total",
    "Records read again below the stored position (after a rebalance or a seek) and skipped",
)
BATCH_SECONDS = Histogram(
    "blindpost_projector_batch_seconds", "Time to store one batch, transaction included"
)
# Worth retrying the whole batch: the broker away.  The database away or a race lost is
# retried by every stage; a value it refuses (too long for an index, a NUL, out of range)
# is dead-lettered alone; other errors (a missing table, a privilege) are the operator's to
# fix, and stop the process instead of dead-lettering everything (shared.db_faults).
TRANSIENT = (KafkaError,)


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    audit_facts: int = 0
    dead_lettered: int = 0
    already_stored: int = 0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def merge(results: Sequence[BatchResult]) -> BatchResult:
    total = BatchResult()
    for r in results:
        total.stored += r.stored
        total.duplicates += r.duplicates
        total.audit_facts += r.audit_facts
        total.dead_lettered += r.dead_lettered
        total.already_stored += r.already_stored
        for key, offset in r.next_offsets.items():
            total.next_offsets[key] = max(total.next_offsets.get(key, 0), offset)
    return total


class Projector:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        consumer: AIOKafkaConsumer,
        producer: RecoveringProducer,
        topics: Topics,
        max_records: int = 500,
    ) -> None:
        self.pool = pool
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.max_records = max_records
        self.tables = ProjectionTables()
        self.backoff = Backoff()
        self.stored_total = 0
        self.continuity = Continuity(consumer)
        # The whole fetch is stored in one transaction, whatever partitions it spans.
        self.consumption = Consumption(
            consumer,
            self._handle,
            stage=STAGE,
            retry_on=(),
            max_records=max_records,
            per_partition=False,
        )

    def subscribe(self) -> None:
        self.consumer.subscribe(
            [self.topics.message_events, self.topics.vault_audit],
            listener=SeekToStoredPositions(
                self.consumer, self._stored_positions, stage=STAGE, retry_on=TRANSIENT
            ),
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        await self.consumption.run(stop)

    async def run_once(self, timeout_ms: int = 500) -> int:
        return await self.consumption.once(timeout_ms)

    async def _handle(self, records: list[ConsumerRecord]) -> None:
        if self.continuity.halted:
            return  # the log no longer matches the stored positions: nothing is stored
        result = await self.process(records)
        await self._commit_to_kafka(result.next_offsets)

    async def process(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        """Stores ``records`` (retrying the whole batch on a transient failure)."""
        return await retry_until_done(
            partial(self._store_or_refuse, records),
            stage=STAGE,
            retry_on=TRANSIENT,
            backoff=self.backoff,
            records=len(records),
        )

    async def _store_or_refuse(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        try:
            started = time.perf_counter()
            result = await self._store(records)
        except Exception as exc:
            if not refused_record(exc):
                raise
            # Not a passing failure: some record is one the database refuses (a value
            # too large for an index, ...).  Find it and dead-letter it alone.
            if len(records) == 1:
                return await self._refuse(records[0], exc)
            log.warning(
                "batch refused by the database; storing its records one by one",
                stage=STAGE,
                records=len(records),
                error=type(exc).__name__,
            )
            return merge([await self.process([record]) for record in records])
        BATCH_SECONDS.observe(time.perf_counter() - started)
        EVENTS_STORED.inc(result.stored)
        self.stored_total += result.stored
        DUPLICATES.inc(result.duplicates)
        AUDIT_FACTS.inc(result.audit_facts)
        ALREADY_STORED.inc(result.already_stored)
        return result

    async def _stored_positions(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        async with self.pool.acquire() as conn:
            positions = await store.stored_positions(
                conn, [(tp.topic, tp.partition) for tp in assigned]
            )
        stored = {TopicPartition(t, p): offset for (t, p), offset in positions.items()}
        await self.continuity.check_assignment(assigned, stored)
        return stored

    async def _refuse(self, record: ConsumerRecord, exc: Exception) -> BatchResult:
        result = BatchResult()
        key = (record.topic, record.partition)
        async with self.pool.acquire() as conn, conn.transaction():
            stored_at = await store.lock_positions(conn, [key])
            if record.offset < stored_at[key]:
                result.already_stored = 1
                return result
            reason = refused_by_database(exc)
            out = dead_letter_output(self.topics.dead_letter, STAGE, record, reason)
            await self.producer.send_and_wait(
                out.topic, out.value, key=out.key, headers=list(out.headers)
            )
            result.dead_lettered = 1
            result.next_offsets[key] = record.offset + 1
            await store.save_positions(conn, result.next_offsets)
        return result

    async def _store(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        result = BatchResult()
        async with self.pool.acquire() as conn, conn.transaction():
            stored_at = await store.lock_positions(
                conn, [(r.topic, r.partition) for r in records]
            )
            if not await self.continuity.holds(conn, records, stored_at):
                return result
            fresh = [r for r in records if r.offset >= stored_at[(r.topic, r.partition)]]
            result.already_stored = len(records) - len(fresh)
            if not fresh:
                return result
            events, facts = await self._parse(fresh, result)
            new_events = await self._deduplicate(conn, events, result)
            streams = sorted({e.ext_message_id for e, _ in new_events})
            heads = await store.lock_heads(conn, streams)
            rows, heads = store.chain_rows([(e.written, p) for e, p in new_events], heads)
            await store.append(conn, rows, {s: heads[s] for s in streams})
            plain = [e.read for e, _ in new_events]
            if redacted := store.redacted_streams(plain):
                await store.remove_bodies(conn, redacted)
            if plain:
                await self.tables.project(conn, plain)
            result.stored = len(plain)
            result.audit_facts = await store.insert_audit_facts(conn, facts)
            for record in fresh:
                key = (record.topic, record.partition)
                result.next_offsets[key] = max(result.next_offsets.get(key, 0), record.offset + 1)
            await store.save_positions(conn, result.next_offsets)
        return result

    async def _parse(
        self, records: Sequence[ConsumerRecord], result: BatchResult
    ) -> tuple[list[tuple[Received, Position]], list[tuple[AuditFact, Position]]]:
        events: list[tuple[Received, Position]] = []
        facts: list[tuple[AuditFact, Position]] = []
        for record in records:
            position = Position(record.topic, record.partition, record.offset)
            if record.topic == self.topics.vault_audit and record.key == AUDIT_CHECKPOINT_KEY:
                continue  # the vault's signed checkpoint, no fact to store
            try:
                if record.topic == self.topics.vault_audit:
                    facts.append((parse_audit_fact(record.value), position))
                else:
                    events.append((parse_event(record.value, STAGE), position))
            except Exception as exc:  # noqa: BLE001 - any parse failure is a poison record
                reason = failure_reason(exc)
                out = dead_letter_output(self.topics.dead_letter, STAGE, record, reason)
                # Inside the transaction: if the send fails, the batch is retried; if the
                # process dies after it, the record may be dead-lettered twice, never lost.
                await self.producer.send_and_wait(
                    out.topic, out.value, key=out.key, headers=list(out.headers)
                )
                result.dead_lettered += 1
        return events, facts

    async def _deduplicate(
        self,
        conn: asyncpg.Connection,
        events: list[tuple[Received, Position]],
        result: BatchResult,
    ) -> list[tuple[Received, Position]]:
        seen = await store.existing_event_ids(conn, [e.event_id for e, _ in events])
        fresh = []
        for event, position in events:
            if event.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(event.event_id)
            fresh.append((event, position))
        return fresh

    async def _commit_to_kafka(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        try:
            await self.consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except Exception as exc:  # noqa: BLE001 - informational only (lag dashboard)
            log.info("offsets not committed to Kafka", stage=STAGE, error=type(exc).__name__)
