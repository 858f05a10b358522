"""What a dispatcher appends to the event log (and to the dead-letter topic).

Every event id is deterministic (message, type, attempt, reason), so an event produced
again after a crash or a redelivery has the same ``event_id`` and is stored once.  Each
method returns the producer's acknowledgement future: callers decide what waits for it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiokafka import ConsumerRecord

from shared import events
from shared.domain import Channel
from shared.events import AnyPayload, Event
from shared.kafka import RecoveringProducer, dead_letter_output, failure_reason
from shared.topics import Topics

Ack = asyncio.Future[object]


@dataclass(frozen=True)
class Attempt:
    """One try at sending a message: what every dispatch event names."""

    ext_message_id: uuid.UUID
    channel: Channel
    provider: str
    number: int

    def fields(self) -> dict[str, Any]:
        return {"channel": self.channel, "provider": self.provider, "attempt": self.number}


class EventLog:
    def __init__(
        self, producer: RecoveringProducer, topics: Topics, source: str, instance: str
    ) -> None:
        self.producer = producer
        self.topics = topics
        self.source = source
        self.instance = instance

    async def attempted(self, attempt: Attempt) -> Ack:
        """The use of the address the vault's audit shows read: by which process."""
        payload = events.DispatchAttempted(**attempt.fields(), dispatcher=self.instance)
        return await self._emit(attempt, payload)

    async def dispatched(
        self,
        attempt: Attempt,
        provider_message_id: str | None,
        segments: int | None,
        sending_domain: str | None,
    ) -> Ack:
        payload = events.DispatchSucceeded(
            **attempt.fields(),
            provider_message_id=provider_message_id,
            segments=segments,
            sending_domain=sending_domain,
        )
        return await self._emit(attempt, payload)

    async def failed(self, attempt: Attempt, reason: str, *, retryable: bool) -> Ack:
        payload = events.DispatchFailed(**attempt.fields(), retryable=retryable, reason=reason)
        return await self._emit(attempt, payload, reason)

    async def parked(self, attempt: Attempt, reason: str, retry_at: datetime) -> Ack:
        """Parked again for the same attempt and reason (a breaker still open at each
        sweep) is the same event: the log shows the park, not every round of it."""
        payload = events.DispatchParked(**attempt.fields(), reason=reason, retry_at=retry_at)
        return await self._emit(attempt, payload, reason)

    async def resumed(self, attempt: Attempt, resumed_from: Literal["parked", "sending"]) -> Ack:
        payload = events.DispatchResumed(**attempt.fields(), resumed_from=resumed_from)
        return await self._emit(attempt, payload, resumed_from)

    async def dead_letter(self, record: ConsumerRecord, exc: Exception) -> Ack:
        out = dead_letter_output(self.topics.dead_letter, self.source, record, failure_reason(exc))
        return await self.producer.send(
            out.topic, out.value, key=out.key, headers=list(out.headers)
        )

    async def forward(self, record: ConsumerRecord, channel: Channel) -> Ack:
        """A work item, unchanged, to the topic of the dispatcher that sends its channel."""
        return await self.producer.send(self.topics.dispatch(channel), record.value, key=record.key)

    async def _emit(self, attempt: Attempt, payload: AnyPayload, *more: object) -> Ack:
        """The event id is discriminated by the attempt number and ``more``."""
        event = Event.create(
            attempt.ext_message_id, payload, self.source, discriminator=(attempt.number, *more)
        )
        return await self.producer.send(self.topics.message_events, event.to_bytes(), key=event.key)
