"""The projector's guard against skipping silently: its stored positions must still point
into the log it reads.

Offsets mean something only in the log that issued them.  After a topic is recreated (a
cluster migration, a restore) the stored positions may lie beyond the new log's end, and a
consumer told to resume there is reset by Kafka to some other offset; every record it then
reads is below the stored position and would be skipped as "already stored", with nothing
logged and a flat lag.  So the projector checks, on every assignment, that each stored
position lies within the log (``log_start <= stored <= log_end``), and in every batch that
an event it reads below a stored position is one it stored (otherwise the log was
replaced while it ran and Kafka reset the consumer).  Either failure halts it:
every partition paused, nothing stored, ``blindpost_projector_halted{reason}`` at 1 (the
alert ``BlindpostProjectorHalted``), readiness failing with the error; the process stays up
so that the metric and the error stay visible (a restart would find the same).  How to
rebuild from the new log: docs/event-log.md, "When the log was replaced".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from prometheus_client import Gauge

from services.eventstore.records import parse_event
from shared.logging import get_logger

log = get_logger(__name__)


class HaltReason(StrEnum):
    POSITION_BEYOND_LOG_END = "position_beyond_log_end"
    POSITION_BEFORE_LOG_START = "position_before_log_start"
    NEVER_STORED = "record_below_position_never_stored"


HALTED = Gauge(
    "blindpost_projector_halted",
    "1 while the projector has stopped because its stored positions no longer match the log",
    ["reason"],
)


@dataclass(frozen=True)
class Discontinuity:
    reason: HaltReason
    topic: str
    partition: int
    stored: int
    found: int

    def describe(self) -> str:
        where = f"{self.topic}[{self.partition}]"
        match self.reason:
            case HaltReason.POSITION_BEYOND_LOG_END:
                what = f"the stored position {self.stored} is beyond the log's end {self.found}"
            case HaltReason.POSITION_BEFORE_LOG_START:
                what = (
                    f"the stored position {self.stored} is before the log's start {self.found}: "
                    "records were deleted before they were stored"
                )
            case HaltReason.NEVER_STORED:
                what = (
                    f"offset {self.found}, below the stored position {self.stored}, holds an "
                    "event that was never stored (Kafka reset the consumer to another log)"
                )
        return (
            f"projector halted: {where}: {what}; the log was replaced or truncated, see "
            "docs/event-log.md, 'When the log was replaced'"
        )


class ProjectorHalted(RuntimeError):
    pass


class Continuity:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.halted: Discontinuity | None = None

    async def check_assignment(
        self, assigned: Sequence[TopicPartition], stored: dict[TopicPartition, int]
    ) -> None:
        """Before ``assigned`` are sought to ``stored`` (the others to their beginning):
        each stored position must lie within its log."""
        if stored:
            starts = await self.consumer.beginning_offsets(list(stored))
            ends = await self.consumer.end_offsets(list(stored))
            for tp, offset in sorted(stored.items()):
                if offset > ends[tp]:
                    self._halt(tp, HaltReason.POSITION_BEYOND_LOG_END, offset, ends[tp])
                elif offset < starts[tp]:
                    self._halt(tp, HaltReason.POSITION_BEFORE_LOG_START, offset, starts[tp])
        if self.halted:
            self._pause_everything(assigned)

    async def holds(
        self,
        conn: asyncpg.Connection,
        records: Sequence[ConsumerRecord],
        stored: dict[tuple[str, int], int],
    ) -> bool:
        """False (and halted) when an event below a stored position is not in the store:
        the log was replaced while this consumer ran (Kafka reset it to another offset),
        for a record below the position is normally one stored already (read again after
        a rebalance)."""
        below = {}
        for record in records:
            if record.offset < stored[(record.topic, record.partition)]:
                if (event_id := _event_id(record)) is not None:
                    below[event_id] = record
        if below:
            known = await conn.fetch(
                "SELECT event_id FROM events WHERE event_id = ANY($1::uuid[])", list(below)
            )
            for event_id in below.keys() - {row["event_id"] for row in known}:
                record = below[event_id]
                tp = TopicPartition(record.topic, record.partition)
                self._halt(
                    tp, HaltReason.NEVER_STORED, stored[(tp.topic, tp.partition)], record.offset
                )
        return self.halted is None

    async def readiness(self) -> None:
        if self.halted:
            raise ProjectorHalted(self.halted.describe())

    def _halt(self, tp: TopicPartition, reason: HaltReason, stored: int, found: int) -> None:
        if self.halted is None:
            self.halted = Discontinuity(reason, tp.topic, tp.partition, stored, found)
            HALTED.labels(reason.value).set(1)
            log.error(self.halted.describe(), reason=reason.value)
        self._pause_everything()

    def _pause_everything(self, assigned: Sequence[TopicPartition] = ()) -> None:
        self.consumer.pause(*{*self.consumer.assignment(), *assigned})


def _event_id(record: ConsumerRecord) -> uuid.UUID | None:
    """The id of an event record; None for anything else (an audit fact, a poison record
    that was dead-lettered)."""
    try:
        return parse_event(record.value).event_id
    except Exception:  # noqa: BLE001 - not an event that could have been stored
        return None
