"""The dispatcher's consume loop: batches from the family's topic through
:meth:`Dispatcher.process`, offsets committed only once a batch's every event and ledger
mark is acknowledged, strictly in batch order."""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.dispatch.pipeline import Dispatcher
from shared.db_faults import transient
from shared.kafka import (
    Backoff,
    commit_assigned,
    dead_letter_output,
    handle_or_refuse,
    rewind_assigned,
    send_outputs,
)
from shared.logging import get_logger

log = get_logger(__name__)

PIPELINE_DEPTH = 2
Batch = dict[TopicPartition, list[ConsumerRecord]]


async def run_consumer(
    dispatcher: Dispatcher, consumer: AIOKafkaConsumer, stop: asyncio.Event | None = None
) -> None:
    """Two batches in flight: the next one is parsed and claimed while the last calls of
    the previous one finish, so the provider connections do not idle at each batch's
    edge.  Offsets are committed strictly in batch order.  Once ``stop`` is set no batch
    is taken; those in flight are finished and committed, then it returns."""
    backoff = Backoff(initial_s=0.5, maximum_s=30.0)
    in_flight: deque[tuple[Batch, asyncio.Task[None]]] = deque()
    while True:
        stopping = stop is not None and stop.is_set()
        if stopping and not in_flight:
            return
        if len(in_flight) < PIPELINE_DEPTH and not stopping:
            batch = await consumer.getmany(
                timeout_ms=20 if in_flight else 500, max_records=dispatcher.batch_size
            )
            records = [r for rs in batch.values() for r in rs]
            if records:
                work = handle_or_refuse(
                    records,
                    handle=dispatcher.process,
                    refuse=partial(_refused, dispatcher),
                    stage=dispatcher.name,
                )
                in_flight.append((batch, asyncio.create_task(work)))
        if not in_flight:
            continue
        oldest, task = in_flight[0]
        if not task.done() and len(in_flight) < PIPELINE_DEPTH and not stopping:
            continue
        try:
            await task
        except Exception as exc:
            if not (isinstance(exc, KafkaError) or transient(exc)):
                raise
            # The ledger or the event log is unreachable: consume these batches again
            # later; the ledger makes the second pass send only what the first did not.
            await asyncio.gather(*(t for _b, t in in_flight), return_exceptions=True)
            # A partition revoked meanwhile is left to its new owner.
            rewind_assigned(consumer, _first_offsets(in_flight))
            in_flight.clear()
            delay = backoff.next_delay()
            log.warning(
                "dispatch batch failed, will retry",
                stage=dispatcher.name,
                error=type(exc).__name__,
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)
            continue
        in_flight.popleft()
        backoff.reset()
        # A partition revoked while its batch was in flight is handed back: the new owner
        # redelivers it and the ledger settles what this one already sent.
        ends = {tp: rs[-1].offset + 1 for tp, rs in oldest.items() if rs}
        await commit_assigned(consumer, ends, stage=dispatcher.name)


async def _refused(dispatcher: Dispatcher, record: ConsumerRecord, reason: str) -> None:
    """A work item the database refuses: dead-lettered, and committed past with its batch."""
    dead = dead_letter_output(dispatcher.events.topics.dead_letter, dispatcher.name, record, reason)
    await send_outputs(dispatcher.events.producer, [dead])


def _first_offsets(in_flight: deque[tuple[Batch, asyncio.Task[None]]]) -> dict[TopicPartition, int]:
    """Where each partition's uncommitted batches start."""
    first: dict[TopicPartition, int] = {}
    for batch, _task in in_flight:
        for tp, rs in batch.items():
            if rs and tp not in first:
                first[tp] = rs[0].offset
    return first
