"""What a stage produces: outputs, dead letters, and the words a failure is reported in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import Counter

from shared.kafka.producer import RecoveringProducer
from shared.logging import get_logger

log = get_logger(__name__)

DEAD_LETTERED = Counter(
    "blindpost_dead_lettered_records_total",
    "Records a stage could not parse and sent to the dead-letter topic",
    ["stage", "source_topic"],
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


def failure_reason(exc: BaseException) -> str:
    """A failure class for headers, logs and events, the same words in every stage.
    Pydantic messages name fields, never values; other exception texts may hold a value
    from the record, so only their class is used."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            fields = sorted({".".join(map(str, e["loc"])) for e in errors()} - {""})
            if not fields:  # not even an object with fields (broken JSON, a bare value)
                return f"{type(exc).__name__}: malformed record"
            return f"{type(exc).__name__}: invalid {', '.join(fields)}"
        except Exception:  # noqa: BLE001, S110 - fall back to the class name below
            pass
    return type(exc).__name__


def refused_by_database(exc: BaseException) -> str:
    """The reason for a record whose values the database refuses (too long, out of range):
    it would fail the same way for ever."""
    return f"refused by the database: {type(exc).__name__}"


def dead_letter_output(
    dead_letter_topic: str, stage: str, record: ConsumerRecord, reason: str
) -> Output:
    """The record as it arrived, with where it came from and why in headers.  ``reason`` is
    a class of failure written by our code (:func:`failure_reason`), never the content."""
    log.error(
        "record dead-lettered",
        stage=stage,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        ext_message_id=message_id(record),
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


def message_id(record: ConsumerRecord) -> str | None:
    """The record's ext_message_id when it is keyed by one (events, work items), for logs;
    other keys (a subject's ext_user_id) are not logged."""
    try:
        return str(uuid.UUID((record.key or b"").decode()))
    except ValueError:  # UnicodeDecodeError is one too
        return None


async def send_outputs(producer: RecoveringProducer, outputs: Iterable[Output]) -> None:
    """Produce every output and return once the broker acknowledged each (in order per
    partition: all are sent before the first acknowledgement is awaited)."""
    futures = [
        await producer.send(out.topic, out.value, key=out.key, headers=list(out.headers) or None)
        for out in outputs
    ]
    for future in futures:
        await future


def next_offsets(records: Iterable[ConsumerRecord]) -> dict[TopicPartition, int]:
    """Where each partition resumes after ``records``."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets
