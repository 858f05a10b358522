"""A record PostgreSQL refuses for its data (:func:`shared.db_faults.refused_record`) would
fail the same way on every retry and wedge its partition: it is found, handed to the stage
to dead-letter, and the records behind it go on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord

from shared.db_faults import refused_record
from shared.kafka.consume import Handle
from shared.kafka.records import refused_by_database
from shared.logging import get_logger

log = get_logger(__name__)

Refuse = Callable[[ConsumerRecord, str], Awaitable[object]]


async def handle_or_refuse(
    records: list[ConsumerRecord], *, handle: Handle, refuse: Refuse, stage: str
) -> None:
    """``handle(records)``; when the database refuses the batch for its data, each record is
    handled alone, and the one it refuses goes to ``refuse(record, reason)`` (the stage's
    dead-letter path, which also moves its position past it).  ``handle`` must be
    idempotent, as every stage's is for a retry.  A transient failure or one that is not
    the record's propagates, for the caller to retry or to stop on."""
    try:
        await handle(records)
        return
    except Exception as exc:
        if not refused_record(exc):
            raise
        if len(records) == 1:
            await refuse(records[0], refused_by_database(exc))
            return
        log.warning(
            "batch refused by the database; handling its records one by one",
            stage=stage,
            records=len(records),
            error=type(exc).__name__,
        )
    for record in records:
        await handle_or_refuse([record], handle=handle, refuse=refuse, stage=stage)
