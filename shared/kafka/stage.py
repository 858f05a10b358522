"""The transactional consume-transform-produce stage (the resolver; tests' copy stage)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError

from shared.kafka.consume import Consumption
from shared.kafka.producer import RecoveringProducer
from shared.kafka.records import (
    Output,
    TransientError,
    dead_letter_output,
    failure_reason,
    next_offsets,
)

T = TypeVar("T")
Parse = Callable[[ConsumerRecord], T]
HandleParsed = Callable[[list[tuple[ConsumerRecord, T]]], Awaitable[list[Output]]]


class TransactionalStage(Generic[T]):
    """Consume a batch, transform it, and produce the outputs together with the consumed
    offsets in one Kafka transaction: a stage killed half-way leaves no duplicate and no gap.

    ``parse`` raising (anything) sends that one record to the dead-letter topic; ``parse``
    returning None skips it (an event this stage does not handle); ``handle`` raising
    :class:`TransientError` rolls the batch back and retries it after a back-off.
    """

    def __init__(
        self,
        *,
        name: str,
        consumer: AIOKafkaConsumer,
        producer: RecoveringProducer,
        group_id: str,
        parse: Parse[T | None],
        handle: HandleParsed[T],
        dead_letter_topic: str,
        max_records: int = 500,
    ) -> None:
        self.name = name
        self.producer = producer
        self.group_id = group_id
        self.parse = parse
        self.handle = handle
        self.dead_letter_topic = dead_letter_topic
        self.consumption = Consumption(
            consumer,
            self._process,
            stage=name,
            retry_on=(TransientError, KafkaError),
            max_records=max_records,
            # One transaction carries every partition's outputs and offsets: a
            # transaction per partition cost the broker (markers, offset commits) and the
            # stage (a claim, a vault call) eight times over for the same records.
            per_partition=False,
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        await self.consumption.run(stop)

    async def run_once(self, timeout_ms: int = 500) -> int:
        return await self.consumption.once(timeout_ms)

    async def _process(self, records: list[ConsumerRecord]) -> None:
        outputs = await self._transform(records)
        async with self.producer.transaction():
            futures = [
                await self.producer.send(
                    out.topic, out.value, key=out.key, headers=list(out.headers) or None
                )
                for out in outputs
            ]
            await self.producer.send_offsets_to_transaction(next_offsets(records), self.group_id)
        # The commit above flushed them; surface any per-record error.
        for future in futures:
            await future

    async def _transform(self, records: list[ConsumerRecord]) -> list[Output]:
        parsed: list[tuple[ConsumerRecord, T]] = []
        outputs: list[Output] = []
        for record in records:
            try:
                item = self.parse(record)
            except Exception as exc:  # noqa: BLE001 - any parse failure is a poison record
                reason = failure_reason(exc)
                dead = dead_letter_output(self.dead_letter_topic, self.name, record, reason)
                outputs.append(dead)
                continue
            if item is not None:
                parsed.append((record, item))
        if parsed:
            outputs.extend(await self.handle(parsed))
        return outputs
