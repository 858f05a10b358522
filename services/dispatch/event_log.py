"""What a dispatcher appends to the event log (and to the dead-letter topic).

Every event id is deterministic (message, type, attempt, reason), so an event produced
again after a crash or a redelivery has the same ``event_id`` and is stored once.  Each
method returns the producer's acknowledgement future: callers decide what waits for it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Literal

from aiokafka import ConsumerRecord

from shared import events
from shared.domain import Channel
from shared.events import AnyPayload, Event
from shared.kafka import RecoveringProducer, dead_letter_output, failure_reason
from shared.topics import Topics

Ack = asyncio.Future[object]


class EventLog:
    def __init__(self, producer: RecoveringProducer, topics: Topics, source: str) -> None:
        self.producer = producer
        self.topics = topics
        self.source = source

    async def attempted(
        self, ext_message_id: uuid.UUID, channel: Channel, provider: str, attempt: int
    ) -> Ack:
        payload = events.DispatchAttempted(channel=channel, provider=provider, attempt=attempt)
        return await self._emit(ext_message_id, payload, (attempt,))

    async def dispatched(
        self,
        ext_message_id: uuid.UUID,
        channel: Channel,
        provider: str,
        attempt: int,
        provider_message_id: str | None,
        segments: int | None,
    ) -> Ack:
        payload = events.DispatchSucceeded(
            channel=channel,
            provider=provider,
            attempt=attempt,
            provider_message_id=provider_message_id,
            segments=segments,
        )
        return await self._emit(ext_message_id, payload, (attempt,))

    async def failed(
        self,
        ext_message_id: uuid.UUID,
        channel: Channel,
        provider: str,
        attempt: int,
        reason: str,
        *,
        retryable: bool,
    ) -> Ack:
        payload = events.DispatchFailed(
            channel=channel, provider=provider, attempt=attempt, retryable=retryable, reason=reason
        )
        return await self._emit(ext_message_id, payload, (attempt, reason))

    async def parked(
        self,
        ext_message_id: uuid.UUID,
        channel: Channel,
        provider: str,
        attempt: int,
        reason: str,
        retry_at: datetime,
    ) -> Ack:
        """Parked again for the same attempt and reason (a breaker still open at each
        sweep) is the same event: the log shows the park, not every round of it."""
        payload = events.DispatchParked(
            channel=channel, provider=provider, attempt=attempt, reason=reason, retry_at=retry_at
        )
        return await self._emit(ext_message_id, payload, (attempt, reason))

    async def resumed(
        self,
        ext_message_id: uuid.UUID,
        channel: Channel,
        provider: str,
        attempt: int,
        resumed_from: Literal["parked", "sending"],
    ) -> Ack:
        payload = events.DispatchResumed(
            channel=channel, provider=provider, attempt=attempt, resumed_from=resumed_from
        )
        return await self._emit(ext_message_id, payload, (attempt, resumed_from))

    async def dead_letter(self, record: ConsumerRecord, exc: Exception) -> Ack:
        out = dead_letter_output(self.topics.dead_letter, self.source, record, failure_reason(exc))
        return await self.producer.send(
            out.topic, out.value, key=out.key, headers=list(out.headers)
        )

    async def forward(self, record: ConsumerRecord, channel: Channel) -> Ack:
        """A work item, unchanged, to the topic of the dispatcher that sends its channel."""
        return await self.producer.send(self.topics.dispatch(channel), record.value, key=record.key)

    async def _emit(
        self, ext_message_id: uuid.UUID, payload: AnyPayload, discriminator: tuple[object, ...]
    ) -> Ack:
        event = Event.create(ext_message_id, payload, self.source, discriminator=discriminator)
        return await self.producer.send(self.topics.message_events, event.to_bytes(), key=event.key)
