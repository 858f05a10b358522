"""Reads blindpost.message-events into the store.  The store, not Kafka, holds the consumed
position (written with the rows in one transaction); on every assignment the consumer seeks
to it, so a restart or a rebalance resumes exactly where the store left off."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from services.callback_relay.domain import facts_from, status_from
from services.callback_relay.store import CallbackStore, ConsumedBatch
from shared.domain import Channel, SmarticoStatus
from shared.events import SkipReason, count_skipped, read_event
from shared.kafka import (
    Consumption,
    RecoveringProducer,
    SeekToStoredPositions,
    commit_for_lag,
    dead_letter_output,
    failure_reason,
    handle_or_refuse,
    next_offsets,
    send_outputs,
)

STAGE = "callback-relay"
# The database away is retried by every stage (shared.db_faults); what it refuses of a
# record's data is dead-lettered (_refused).
RETRY_ON = (KafkaError,)
# Event.to_bytes() writes event_id then type first; a cheap look at the head of the record
# recognises the relay's own events, a third of what it reads at full load.  (Measured:
# read_event(..., only=...) for the other types cost more than it saved: the relay acts
# on most of the rest, and each of those would be parsed twice, head then whole.)
_OWN_EVENT = b'"type":"callback.'
_PEEK = 120

STATUSES_QUEUED = Counter(
    "blindpost_callback_statuses_seen_total",
    "Statuses the relay read from the event log",
    ["status"],
)


class EventConsumer:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: RecoveringProducer,
        store: CallbackStore,
        topic: str,
        dead_letter_topic: str,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic

    def subscribe(self) -> None:
        listener = SeekToStoredPositions(
            self.consumer, self.store.positions, stage=STAGE, retry_on=RETRY_ON
        )
        self.consumer.subscribe([self.topic], listener=listener)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        # The whole fetch is one batch: one store transaction and one offset commit for all
        # its partitions (per partition, a fetch of live traffic cost up to eight of each).
        handle = partial(handle_or_refuse, handle=self._record, refuse=self._refused, stage=STAGE)
        await Consumption(
            self.consumer, handle, stage=STAGE, retry_on=RETRY_ON, per_partition=False
        ).run(stop)

    async def _refused(self, record: ConsumerRecord, reason: str) -> None:
        """Dead-lettered, then the stored position of its partition alone moves past it (a
        crash, or a rebalance, between the two dead-letters it twice, never loses it)."""
        dead = dead_letter_output(self.dead_letter_topic, STAGE, record, reason)
        await send_outputs(self.producer, [dead])
        await self.store.record(
            ConsumedBatch({TopicPartition(record.topic, record.partition): record.offset + 1})
        )

    async def _record(self, records: list[ConsumerRecord]) -> None:
        messages: list[tuple[uuid.UUID, Channel, str]] = []
        statuses: list[tuple[uuid.UUID, SmarticoStatus]] = []
        poison = []
        for record in records:
            if _OWN_EVENT in (record.value or b"")[:_PEEK]:
                # Our own callback.* events: nothing to report, skip the parse.
                count_skipped(STAGE, SkipReason.NOT_HANDLED)
                continue
            try:
                event = read_event(record.value, STAGE)
            except Exception as exc:  # noqa: BLE001 - a record that is not an event is poison
                reason = failure_reason(exc)
                poison.append(dead_letter_output(self.dead_letter_topic, STAGE, record, reason))
                continue
            if event is None:
                continue  # newer than this code: skipped and counted
            facts = facts_from(event)
            status = status_from(event)
            if not facts and not status:
                count_skipped(STAGE, SkipReason.NOT_HANDLED)
            if facts:
                messages.append((event.ext_message_id, facts.channel, facts.callback_url))
            if status:
                statuses.append((event.ext_message_id, status))
                STATUSES_QUEUED.labels(status.value).inc()
        # Poison first: if we die before the store commits, it is sent again (a duplicate
        # in the dead-letter topic), never lost.
        await send_outputs(self.producer, poison)
        positions = next_offsets(records)
        await self.store.record(ConsumedBatch(positions, messages, statuses))
        await commit_for_lag(self.consumer, positions)
