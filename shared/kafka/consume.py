"""The consume loop every stage runs, and where a stage resumes after a rebalance.

A stage supplies only ``handle(records)``: the loop fetches, hands each batch over (one
partition's records at a time, or the whole fetch when the stage stores all of it in one
transaction), retries the same batch while a dependency is away, and counts what it did.
Before each attempt the records of partitions revoked meanwhile are dropped: their work
is handed back to the new owner (:mod:`shared.kafka.assignment`), not retried for ever.
Whatever ``handle`` commits (a Kafka transaction, a database row with the positions, a plain
offset commit) is the stage's own crash-ordering contract, stated where it is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from prometheus_client import Counter

from shared.kafka.assignment import still_assigned
from shared.kafka.retry import Backoff, retry_until_done
from shared.logging import get_logger

log = get_logger(__name__)

STAGE_RECORDS = Counter(
    "blindpost_stage_records_total", "Records a stage processed", ["stage", "outcome"]
)

Handle = Callable[[list[ConsumerRecord]], Awaitable[object]]
LoadPositions = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]


@dataclass
class Consumption:
    """One stage's consume loop: ``run()`` until stopped, or ``once()`` for a single fetch."""

    consumer: AIOKafkaConsumer
    handle: Handle
    stage: str
    retry_on: tuple[type[BaseException], ...]
    max_records: int = 500
    per_partition: bool = True
    backoff: Backoff = field(default_factory=Backoff)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop`` is set: the batch in hand is finished and committed first."""
        while not (stop and stop.is_set()):
            await self.once()

    async def once(self, timeout_ms: int = 500) -> int:
        """Fetch once and handle what came; returns how many records were handled."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        batches = [records for records in fetched.values() if records]
        if not self.per_partition and batches:
            batches = [[record for records in batches for record in records]]
        for records in batches:
            await retry_until_done(
                partial(self._handle_assigned, records),
                stage=self.stage,
                retry_on=self.retry_on,
                backoff=self.backoff,
                records=len(records),
                first_offset=records[0].offset,
            )
            STAGE_RECORDS.labels(self.stage, "processed").inc(len(records))
        return sum(len(records) for records in batches)

    async def _handle_assigned(self, records: list[ConsumerRecord]) -> None:
        if assigned := still_assigned(self.consumer, records):
            await self.handle(assigned)


async def commit_for_lag(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    """For a stage whose position lives in its own store (:class:`SeekToStoredPositions`):
    Kafka's committed offset only feeds the lag dashboard, so a commit that fails (a
    rebalance under way, the broker away) is logged and let go; the store is authoritative."""
    try:
        await consumer.commit(offsets)
    except Exception as exc:  # noqa: BLE001 - lag reporting only
        log.debug("offset commit for lag reporting failed", error=type(exc).__name__)


class SeekToStoredPositions(ConsumerRebalanceListener):
    """For stages whose position lives in their own store, not in Kafka: on assignment each
    partition starts where the store says it stopped (the beginning when it has no row)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        load: LoadPositions,
        *,
        stage: str,
        retry_on: tuple[type[BaseException], ...],
    ) -> None:
        self.consumer = consumer
        self.load = load
        self.stage = stage
        self.retry_on = retry_on

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if not assigned:
            return
        positions = await retry_until_done(
            lambda: self.load(list(assigned)), stage=self.stage, retry_on=self.retry_on
        )
        for tp in assigned:
            offset = positions.get(tp)
            if offset is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        log.info("partitions assigned", stage=self.stage, partitions=len(assigned))
