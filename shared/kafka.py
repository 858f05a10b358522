"""Kafka on aiokafka: idempotent producers, manual-commit consumers, the transactional
consume-transform-produce loop every stage runs, the dead-letter path, and topic set-up.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from prometheus_client import Counter

from shared.logging import get_logger
from shared.producer import RecoveringProducer, start_recovering_producer
from shared.topics import ALL_TOPICS, Topics, TopicSpec

log = get_logger(__name__)

T = TypeVar("T")

DEAD_LETTERED = Counter(
    "blindpost_dead_lettered_records_total",
    "Records a stage could not parse and sent to the dead-letter topic",
    ["stage", "source_topic"],
)
STAGE_RECORDS = Counter(
    "blindpost_stage_records_total", "Records a stage processed", ["stage", "outcome"]
)
STAGE_RETRIES = Counter(
    "blindpost_stage_batch_retries_total",
    "Batches a stage rolled back and retried after a transient failure",
    ["stage"],
)


@dataclass(frozen=True)
class Output:
    """One record a stage produces."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class TransientError(Exception):
    """A dependency is down (vault, provider): roll back, back off and retry the batch."""


class Malformed(Exception):
    """This record can never be processed: dead-letter it and carry on."""


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
    }
    config.update(overrides)
    return config


async def start_producer(
    bootstrap_servers: str, *, transactional_id: str | None = None, **overrides: Any
) -> RecoveringProducer:
    if transactional_id:
        overrides.setdefault("transactional_id", transactional_id)
    return await start_recovering_producer(producer_config(bootstrap_servers, **overrides))


async def start_consumer(
    bootstrap_servers: str, group_id: str, topics: Sequence[str], **overrides: Any
) -> AIOKafkaConsumer:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 500,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "metadata_max_age_ms": 30_000,
    }
    config.update(overrides)
    consumer = AIOKafkaConsumer(*topics, **config)
    await consumer.start()
    return consumer


async def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    ready_timeout_s: float = 30.0,
) -> None:
    """Create the suite's topics if missing (idempotent; an operator may pre-create them)."""
    specs = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(topics.name(spec), spec.partitions, 1, topic_configs=spec.config())
            for spec in specs
            if topics.name(spec) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between list and create
        await _wait_for_leaders(admin, [topics.name(spec) for spec in specs], ready_timeout_s)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """create_topics returns before the partitions have leaders; a producer that writes in
    that window stalls.  Return once every partition can take writes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        waiting = [
            topic["topic"]
            for topic in described
            if topic["error_code"]
            or not topic["partitions"]
            or any(p["error_code"] or p["leader"] < 0 for p in topic["partitions"])
        ]
        if not waiting:
            return
        if loop.time() > deadline:
            raise KafkaError(f"topics without a partition leader after {timeout_s}s: {waiting}")
        await asyncio.sleep(0.1)


def dead_letter_output(
    dead_letter_topic: str, stage: str, record: ConsumerRecord, reason: str
) -> Output:
    """The record as it arrived, with where it came from and why in headers.  ``reason`` is
    a class of failure written by our code, never the record's content."""
    log.error(
        "record dead-lettered",
        stage=stage,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason,
    )
    DEAD_LETTERED.labels(stage, record.topic).inc()
    return Output(
        topic=dead_letter_topic,
        value=record.value or b"",
        key=record.key,
        headers=(
            ("blindpost.stage", stage.encode()),
            ("blindpost.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ("blindpost.reason", reason[:500].encode()),
        ),
    )


@dataclass
class Backoff:
    initial_s: float = 0.2
    maximum_s: float = 30.0
    _current: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        self._current = min(self.maximum_s, (self._current * 2) or self.initial_s)
        return self._current * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self._current = 0.0


async def consume_until_handled(
    consumer: AIOKafkaConsumer,
    handle: Callable[[TopicPartition, list[ConsumerRecord]], Awaitable[None]],
    *,
    stage: str,
    retry_on: tuple[type[BaseException], ...],
    max_records: int = 1000,
) -> None:
    """Forever: hand each partition's batch to ``handle`` until it succeeds.  A dependency
    that is away (``retry_on``) is waited for with back-off on the same batch, so nothing is
    skipped; anything else propagates and stops the stage."""
    backoff = Backoff(initial_s=0.5, maximum_s=30.0)
    while True:
        batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
        for tp, records in batch.items():
            while True:
                try:
                    await handle(tp, records)
                    backoff.reset()
                    break
                except retry_on as exc:
                    STAGE_RETRIES.labels(stage).inc()
                    delay = backoff.next_delay()
                    log.warning(
                        "batch not handled yet, will retry",
                        stage=stage,
                        topic=tp.topic,
                        partition=tp.partition,
                        error=type(exc).__name__,
                        retry_in_s=round(delay, 2),
                    )
                    await asyncio.sleep(delay)


Parse = Callable[[ConsumerRecord], T]
Handle = Callable[[list[tuple[ConsumerRecord, T]]], Awaitable[list[Output]]]


class TransactionalStage(Generic[T]):
    """Consume a batch, transform it, and produce the outputs together with the consumed
    offsets in one Kafka transaction: a stage killed half-way leaves no duplicate and no gap.

    ``parse`` raising (anything) sends that one record to the dead-letter topic; ``handle``
    raising :class:`TransientError` rolls the batch back and retries it after a back-off.
    """

    def __init__(
        self,
        *,
        name: str,
        consumer: AIOKafkaConsumer,
        producer: RecoveringProducer,
        group_id: str,
        parse: Parse[T],
        handle: Handle[T],
        dead_letter_topic: str,
        max_records: int = 500,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.producer = producer
        self.group_id = group_id
        self.parse = parse
        self.handle = handle
        self.dead_letter_topic = dead_letter_topic
        self.max_records = max_records
        self.backoff = Backoff()

    async def run(self) -> None:
        while True:
            await self.run_once()

    async def run_once(self, timeout_ms: int = 500) -> int:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        processed = 0
        for tp, records in batch.items():
            if records:
                await self._process_partition(tp, records)
                processed += len(records)
        return processed

    async def _process_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        while True:
            try:
                outputs = await self._transform(records)
                await self._commit(tp, records, outputs)
                self.backoff.reset()
                STAGE_RECORDS.labels(self.name, "processed").inc(len(records))
                return
            except (TransientError, KafkaError) as exc:
                STAGE_RETRIES.labels(self.name).inc()
                delay = self.backoff.next_delay()
                log.warning(
                    "batch rolled back, will retry",
                    stage=self.name,
                    topic=tp.topic,
                    partition=tp.partition,
                    first_offset=records[0].offset,
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)

    async def _transform(self, records: list[ConsumerRecord]) -> list[Output]:
        parsed: list[tuple[ConsumerRecord, T]] = []
        outputs: list[Output] = []
        for record in records:
            try:
                parsed.append((record, self.parse(record)))
            except Exception as exc:  # noqa: BLE001 - any parse failure is a poison record
                outputs.append(
                    dead_letter_output(self.dead_letter_topic, self.name, record, _reason(exc))
                )
        if parsed:
            outputs.extend(await self.handle(parsed))
        return outputs

    async def _commit(
        self, tp: TopicPartition, records: list[ConsumerRecord], outputs: list[Output]
    ) -> None:
        async with self.producer.transaction():
            futures = [
                await self.producer.send(
                    out.topic, out.value, key=out.key, headers=list(out.headers) or None
                )
                for out in outputs
            ]
            await self.producer.send_offsets_to_transaction(
                {tp: records[-1].offset + 1}, self.group_id
            )
        # The commit above flushed them; surface any per-record error.
        for future in futures:
            await future


def _reason(exc: Exception) -> str:
    """A failure class for headers and logs; pydantic messages name fields, not values."""
    if hasattr(exc, "errors"):
        try:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})  # type: ignore[attr-defined]
            return f"{type(exc).__name__}: invalid {', '.join(fields)}"
        except Exception:  # noqa: BLE001, S110 - fall back to the class name below
            pass
    return type(exc).__name__
