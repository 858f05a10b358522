"""The event envelope and the catalogue of lifecycle events.

Every lifecycle state of every message is one immutable :class:`Event` on the topic
``blindpost.message-events``, keyed by ``ext_message_id``.  Payloads are typed per event
type; none of them may carry an address or a number, sealed or not (DESIGN.md rule 1):
addresses travel only in dispatch work items (``shared.work``), sealed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import Channel, SmarticoStatus, event_id_for

SCHEMA_VERSION = 1


class EventType(StrEnum):
    MESSAGE_ACCEPTED = "message.accepted"
    RECIPIENT_RESOLVED = "recipient.resolved"
    RESOLUTION_FAILED = "recipient.resolution_failed"
    DISPATCH_ATTEMPTED = "dispatch.attempted"
    DISPATCHED = "dispatch.succeeded"
    DISPATCH_FAILED = "dispatch.failed"
    PROVIDER_STATUS = "status.reported"
    CALLBACK_ATTEMPTED = "callback.attempted"
    CALLBACK_DELIVERED = "callback.delivered"
    CALLBACK_DEAD_LETTERED = "callback.dead_lettered"
    BODY_REDACTED = "message.body_redacted"


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[EventType]


class MessageContent(BaseModel):
    """What Smartico asked us to send.  Not PII by the contract's definition, but bodies are
    removed from the event store after the retention period (issue 7)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    subject: str | None = None
    body: str | None = None
    text_body: str | None = None
    from_email_address: str | None = None
    reply_to_email_address: str | None = None
    from_number: str | None = None
    extension: dict[str, Any] | None = None


class MessageAccepted(Payload):
    event_type: ClassVar[EventType] = EventType.MESSAGE_ACCEPTED
    channel: Channel
    ext_user_id: str
    uid: str
    callback_url: str
    activity_type: str | None = None
    # "vault": the resolver looks the address up; "request": a preview whose address intake
    # sealed for the dispatcher itself (it never appears here).
    recipient_source: Literal["vault", "request"] = "vault"
    content: MessageContent


class RecipientResolved(Payload):
    event_type: ClassVar[EventType] = EventType.RECIPIENT_RESOLVED
    channel: Channel
    source: Literal["vault", "request"]
    vault_request_id: str | None = None


class ResolutionFailed(Payload):
    event_type: ClassVar[EventType] = EventType.RESOLUTION_FAILED
    channel: Channel
    reason: Literal["user_not_found", "no_address", "opted_out", "erased"]


class DispatchAttempted(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCH_ATTEMPTED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)


class Dispatched(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCHED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)
    provider_message_id: str | None = None
    segments: int | None = None


class DispatchFailed(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCH_FAILED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)
    retryable: bool
    reason: str = Field(
        description="a class of failure, never a provider's raw text with an address in it"
    )


class ProviderStatusReported(Payload):
    event_type: ClassVar[EventType] = EventType.PROVIDER_STATUS
    provider: str
    provider_status: str
    status: SmarticoStatus
    provider_message_id: str | None = None
    reported_at: datetime | None = None
    detail: str | None = None


class CallbackAttempted(Payload):
    event_type: ClassVar[EventType] = EventType.CALLBACK_ATTEMPTED
    status: SmarticoStatus
    attempt: int = Field(ge=1)
    outcome: Literal["delivered", "retry", "refused"]
    http_status: int | None = None
    error_code: int | None = None
    error: str | None = None


class CallbackDelivered(Payload):
    event_type: ClassVar[EventType] = EventType.CALLBACK_DELIVERED
    status: SmarticoStatus
    attempts: int = Field(ge=1)


class CallbackDeadLettered(Payload):
    event_type: ClassVar[EventType] = EventType.CALLBACK_DEAD_LETTERED
    status: SmarticoStatus
    attempts: int = Field(ge=0)
    reason: str


class BodyRedacted(Payload):
    event_type: ClassVar[EventType] = EventType.BODY_REDACTED
    retention_days: int


PAYLOAD_TYPES: dict[EventType, type[Payload]] = {
    cls.event_type: cls
    for cls in (
        MessageAccepted,
        RecipientResolved,
        ResolutionFailed,
        DispatchAttempted,
        Dispatched,
        DispatchFailed,
        ProviderStatusReported,
        CallbackAttempted,
        CallbackDelivered,
        CallbackDeadLettered,
        BodyRedacted,
    )
}


class Event(BaseModel):
    """The envelope.  ``event_id`` is deterministic where a stage may redo its work, so a
    redelivered or re-emitted event is recognised and stored once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: uuid.UUID
    type: EventType
    ext_message_id: uuid.UUID
    occurred_at: datetime
    producer: str
    schema_version: int = SCHEMA_VERSION
    payload: dict[str, Any]

    @classmethod
    def create(
        cls,
        ext_message_id: uuid.UUID,
        payload: Payload,
        producer: str,
        *,
        discriminator: tuple[object, ...] = (),
        occurred_at: datetime | None = None,
    ) -> Event:
        """Build an event; ``discriminator`` makes its id unique among same-typed events
        of one message (an attempt number, a status), and stable across retries."""
        return cls(
            event_id=event_id_for(ext_message_id, payload.event_type.value, *discriminator),
            type=payload.event_type,
            ext_message_id=ext_message_id,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            payload=payload.model_dump(mode="json", exclude_none=True),
        )

    def typed_payload(self) -> Payload:
        return PAYLOAD_TYPES[self.type].model_validate(self.payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        """Raises pydantic.ValidationError on anything malformed: callers dead-letter it."""
        event = cls.model_validate_json(raw)
        event.typed_payload()
        return event

    @property
    def key(self) -> bytes:
        return str(self.ext_message_id).encode()
