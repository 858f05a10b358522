"""Keeps the subject directory current: consumes the vault's compacted subject-facts topic
into the ``intake_directory`` table.  Offsets are committed only after the batch is in
PostgreSQL; while the database is down the same batch is retried, never skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from shared.kafka import (
    Backoff,
    Consumption,
    Output,
    dead_letter_output,
    failure_reason,
    handle_or_refuse,
    retry_until_done,
)
from shared.logging import get_logger
from shared.subject_facts import SubjectFacts

log = get_logger(__name__)

FACTS_APPLIED = Counter(
    "blindpost_intake_directory_facts_total",
    "Subject-facts records intake applied to its directory",
    ["outcome"],
)
STAGE = "intake-directory"

_UPSERT = """
INSERT INTO intake_directory (ext_user_id, channels, opted_out, suppressed, version, updated_at)
SELECT u, string_to_array(c, ','), string_to_array(o, ','), string_to_array(s, ','), v, t
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[])
       AS x(u, c, o, s, v, t)
ON CONFLICT (ext_user_id) DO UPDATE
   SET channels = EXCLUDED.channels, opted_out = EXCLUDED.opted_out,
       suppressed = EXCLUDED.suppressed,
       version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
 WHERE intake_directory.version <= EXCLUDED.version
"""
_ERASE = "DELETE FROM intake_directory WHERE ext_user_id = ANY($1::text[])"


@dataclass(frozen=True)
class _Change:
    facts: SubjectFacts | None  # None: erased


def _at(record: ConsumerRecord) -> tuple[int, int]:
    return record.partition, record.offset


def _older(change: _Change, earlier: _Change) -> bool:
    """A version older than the one before it in the batch (an erasure always counts)."""
    return bool(earlier.facts and change.facts and earlier.facts.version > change.facts.version)


async def apply_facts(pool: asyncpg.Pool, changes: dict[str, _Change]) -> None:
    """One transaction per batch; the newest record per subject only (a compacted topic
    keeps one key on one partition, so batch order is log order)."""
    upserts = [c.facts for c in changes.values() if c.facts is not None]
    erased = [user for user, c in changes.items() if c.facts is None]
    async with pool.acquire() as conn, conn.transaction():
        if erased:
            await conn.execute(_ERASE, erased)
        if upserts:
            await conn.execute(
                _UPSERT,
                [f.ext_user_id for f in upserts],
                [",".join(sorted(f.channels)) for f in upserts],
                # Suppressed channels are answered as opt-outs are (error 5): one column,
                # and apart, for the refusal's reason.
                [",".join(sorted(f.opted_out | f.suppressed)) for f in upserts],
                [",".join(sorted(f.suppressed)) for f in upserts],
                [f.version for f in upserts],
                [f.updated_at for f in upserts],
            )


class DirectoryFeed:
    """Consumes subject facts into the table.  Offsets are committed only after the batch
    is in PostgreSQL; while the database is down the same batch is retried, never skipped."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: asyncpg.Pool,
        *,
        dead_letter_topic: str,
        send_dead_letter: Callable[[Output], Awaitable[None]],
    ) -> None:
        self.consumer = consumer
        self.pool = pool
        self.dead_letter_topic = dead_letter_topic
        self.send_dead_letter = send_dead_letter
        self.caught_up = asyncio.Event()
        # The whole fetch is one transaction; a send of a dead letter failing retries it.
        self._consumption = Consumption(
            consumer, self._handle, stage=STAGE, retry_on=(KafkaError,), max_records=1000,
            per_partition=False,
        )
        self._startup_ends: dict[TopicPartition, int] | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        while not (stop and stop.is_set()):
            await self.run_once()

    async def run_once(self, timeout_ms: int = 500) -> int:
        handled = await self._consumption.once(timeout_ms)
        await self._check_caught_up()
        return handled

    async def _handle(self, records: list[ConsumerRecord]) -> None:
        parsed: dict[tuple[int, int], tuple[str, _Change]] = {}
        newest: dict[str, ConsumerRecord] = {}  # the record to apply, per subject
        for record in records:
            if (change := await self._parse(record)) is None:
                continue
            parsed[_at(record)] = change
            earlier = newest.get(change[0])
            if earlier is None or not _older(change[1], parsed[_at(earlier)][1]):
                newest[change[0]] = record
        if newest:
            # A record the database refuses is dead-lettered alone; the rest are applied.
            attempt = partial(
                handle_or_refuse,
                list(newest.values()),
                handle=partial(self._apply, parsed),
                refuse=self._dead_letter,
                stage=STAGE,
            )
            await retry_until_done(
                attempt, stage=STAGE, retry_on=(), backoff=Backoff(maximum_s=5.0)
            )
        await self._commit()

    async def _apply(
        self, parsed: dict[tuple[int, int], tuple[str, _Change]], records: list[ConsumerRecord]
    ) -> None:
        changes = dict(parsed[_at(record)] for record in records)
        await apply_facts(self.pool, changes)
        FACTS_APPLIED.labels("applied").inc(len(changes))

    async def _parse(self, record: ConsumerRecord) -> tuple[str, _Change] | None:
        try:
            key = record.key.decode() if record.key else ""
        except UnicodeDecodeError:
            key = ""
        if not key or "\x00" in key:
            await self._dead_letter(record, "subject facts without a readable key")
            return None
        if record.value is None:
            return key, _Change(None)
        try:
            facts = SubjectFacts.from_bytes(record.value)
        except ValueError as exc:
            await self._dead_letter(record, failure_reason(exc))
            return None
        if facts.ext_user_id != key:
            await self._dead_letter(record, "subject facts whose key is not their ext_user_id")
            return None
        return key, _Change(facts)

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        FACTS_APPLIED.labels("dead_lettered").inc()
        await self.send_dead_letter(
            dead_letter_output(self.dead_letter_topic, STAGE, record, reason)
        )

    async def _commit(self) -> None:
        try:
            await self.consumer.commit()
        except Exception as exc:  # noqa: BLE001 - the batch is applied; re-reading it is harmless
            log.warning("directory offsets not committed", error=type(exc).__name__)

    async def _check_caught_up(self) -> None:
        """Ready once everything on the topic at start-up is in the table: before that, a
        fresh installation would answer "User was not found" for subjects it just hasn't read."""
        if self.caught_up.is_set():
            return
        assigned = self.consumer.assignment()
        if not assigned:
            return
        if self._startup_ends is None:
            self._startup_ends = await self.consumer.end_offsets(list(assigned))
        for tp, end in self._startup_ends.items():
            if tp in assigned and await self.consumer.position(tp) < end:
                return
        self.caught_up.set()
        log.info("directory caught up with the subject facts topic")
