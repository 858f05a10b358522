"""The catalogue of lifecycle events: one wire string, one enum member and one payload class
per event, with the same name (``"dispatch.succeeded"``, ``EventType.DISPATCH_SUCCEEDED``,
``DispatchSucceeded``).

Payloads are read tolerantly (a field a newer producer added is kept, not refused) and
written strictly (``Event.create`` refuses a field the class does not declare).  None of
them may carry an address or a number, sealed or not (DESIGN.md rule 1): addresses travel
only in dispatch work items (``shared.work``), sealed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import Channel, SmarticoStatus


class EventType(StrEnum):
    """The wire strings are stored data (the event store, the 400-day topic): never change
    one; name a new event instead."""

    MESSAGE_ACCEPTED = "message.accepted"
    RECIPIENT_RESOLVED = "recipient.resolved"
    RECIPIENT_RESOLUTION_FAILED = "recipient.resolution_failed"
    DISPATCH_ATTEMPTED = "dispatch.attempted"
    DISPATCH_SUCCEEDED = "dispatch.succeeded"
    DISPATCH_FAILED = "dispatch.failed"
    STATUS_REPORTED = "status.reported"
    CALLBACK_ATTEMPTED = "callback.attempted"
    CALLBACK_DELIVERED = "callback.delivered"
    CALLBACK_DEAD_LETTERED = "callback.dead_lettered"
    DEAD_LETTER_REDRIVEN = "dead_letter.redriven"
    MESSAGE_BODY_REDACTED = "message.body_redacted"
    MESSAGE_REFUSED = "message.refused"
    STATUS_NOT_APPLIED = "status.not_applied"
    DISPATCH_PARKED = "dispatch.parked"
    DISPATCH_RESUMED = "dispatch.resumed"


# "allow": a field added by a newer producer is kept (and written again if the event is),
# never a reason to refuse the event during a rolling upgrade.
TOLERANT = ConfigDict(frozen=True, extra="allow")


class Payload(BaseModel):
    """The body of one event type.  ``class_version`` goes up only for a change an older
    reader would misread (a field renamed, re-typed or given a new meaning), together with
    an upcaster in ``shared.events.upcasting``; adding an optional field needs neither."""

    model_config = TOLERANT
    event_type: ClassVar[EventType]
    class_version: ClassVar[int] = 1


class MessageContent(BaseModel):
    """What Smartico asked us to send.  Not PII by the contract's definition, but bodies are
    removed from the event store after the retention period (issue 7)."""

    model_config = TOLERANT
    subject: str | None = None
    body: str | None = None
    text_body: str | None = None
    from_email_address: str | None = None
    reply_to_email_address: str | None = None
    from_number: str | None = None
    extension: dict[str, Any] | None = None


RecipientSource = Literal["vault", "request"]


class MessageAccepted(Payload):
    event_type: ClassVar[EventType] = EventType.MESSAGE_ACCEPTED
    channel: Channel
    ext_user_id: str
    uid: str
    callback_url: str
    activity_type: str | None = None
    # "vault": the resolver looks the address up; "request": a preview whose address intake
    # sealed for the dispatcher itself (it never appears here).
    recipient_source: RecipientSource = "vault"
    content: MessageContent


class RecipientResolved(Payload):
    """Version 2 renamed v1's ``source`` to ``recipient_source``: the same fact, under the
    name ``message.accepted`` gives it (one name per concept)."""

    event_type: ClassVar[EventType] = EventType.RECIPIENT_RESOLVED
    class_version: ClassVar[int] = 2
    channel: Channel
    recipient_source: RecipientSource
    vault_request_id: str | None = None


ResolutionFailure = Literal[
    "user_not_found",
    "no_address",
    "opted_out",
    "erased",
    # Version 2: the vault's stored address failed its integrity check, or the vault gave
    # an answer this resolver does not know.  Both end the message as ``failed``.
    "integrity_failure",
    "unknown_answer",
]


class RecipientResolutionFailed(Payload):
    """Version 2 added two reasons: an older reader skips those events (a newer version
    it cannot validate) instead of dead-lettering them; v1 records read unchanged."""

    event_type: ClassVar[EventType] = EventType.RECIPIENT_RESOLUTION_FAILED
    class_version: ClassVar[int] = 2
    channel: Channel
    reason: ResolutionFailure


class DispatchAttempted(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCH_ATTEMPTED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)


class DispatchSucceeded(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCH_SUCCEEDED
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


class DispatchParked(Payload):
    """Set aside on the dispatch ledger until ``retry_at``: a provider's breaker open, or
    transient failures past the in-process budget.  ``attempt`` is the last one made."""

    event_type: ClassVar[EventType] = EventType.DISPATCH_PARKED
    channel: Channel
    provider: str
    attempt: int = Field(ge=0)
    reason: str = Field(description="a class of failure (circuit_open, a transient reason)")
    retry_at: datetime


class DispatchResumed(Payload):
    """Taken from the ledger again: a parked retry come due, or a send whose dispatcher
    stopped mid-call (its lease ran out).  ``attempt`` is the one about to be made."""

    event_type: ClassVar[EventType] = EventType.DISPATCH_RESUMED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)
    resumed_from: Literal["parked", "sending"]


class StatusReported(Payload):
    event_type: ClassVar[EventType] = EventType.STATUS_REPORTED
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


class DeadLetterRedriven(Payload):
    """An operator re-drove a dead-lettered record (``blindpost dlq redrive``): a callback
    back to the relay's retries (``status`` set), or a record back to its source topic
    (``redriven_to``).  ``dead_letter`` is where it lay (topic/partition/offset); ``reason``
    why it was set aside, in our words.  Keyed by the message, or by the dead-letter topic's
    own stream for a record that names none."""

    event_type: ClassVar[EventType] = EventType.DEAD_LETTER_REDRIVEN
    dead_letter: str
    stage: str
    reason: str
    status: SmarticoStatus | None = None
    redriven_to: str | None = None


class MessageBodyRedacted(Payload):
    event_type: ClassVar[EventType] = EventType.MESSAGE_BODY_REDACTED
    retention_days: int


class MessageRefused(Payload):
    """Intake answered a request with an error code.  Its stream is the refusal's own
    (``refusal_id_for``), never a message's: a refused request is not a message, and a
    retry accepted later keeps a timeline of its own.  Only our words: no body value."""

    event_type: ClassVar[EventType] = EventType.MESSAGE_REFUSED
    channel: Channel
    error_code: int
    reason: str = Field(description="a fixed class of refusal, never the request's text")
    uid: str | None = None
    ext_user_id: str | None = None


StatusNotAppliedOutcome = Literal["ignored", "unknown", "unmatched", "expired"]


class StatusNotApplied(Payload):
    """A provider's report that changed no status: one the mapping ignores, one it does
    not know, one naming no message we sent, or one parked for its message until it
    expired.  On its message's stream when that is known, else on its own
    (``report_id_for``)."""

    event_type: ClassVar[EventType] = EventType.STATUS_NOT_APPLIED
    provider: str
    outcome: StatusNotAppliedOutcome
    provider_status: str = Field(description="the provider's status code, sanitised")
    provider_message_id: str | None = None


# The typed payload of an ``Event``, discriminated by ``Event.type``: narrow it with
# ``isinstance`` or ``match``.
AnyPayload = (
    MessageAccepted
    | RecipientResolved
    | RecipientResolutionFailed
    | DispatchAttempted
    | DispatchSucceeded
    | DispatchFailed
    | StatusReported
    | CallbackAttempted
    | CallbackDelivered
    | CallbackDeadLettered
    | DeadLetterRedriven
    | MessageBodyRedacted
    | MessageRefused
    | StatusNotApplied
    | DispatchParked
    | DispatchResumed
)

PAYLOAD_TYPES: dict[EventType, type[AnyPayload]] = {
    cls.event_type: cls
    for cls in (
        MessageAccepted,
        RecipientResolved,
        RecipientResolutionFailed,
        DispatchAttempted,
        DispatchSucceeded,
        DispatchFailed,
        StatusReported,
        CallbackAttempted,
        CallbackDelivered,
        CallbackDeadLettered,
        DeadLetterRedriven,
        MessageBodyRedacted,
        MessageRefused,
        StatusNotApplied,
        DispatchParked,
        DispatchResumed,
    )
}
# By wire string too: a plain ``str`` lookup, no enum conversion on the hot path.
PAYLOAD_BY_WIRE: dict[str, type[AnyPayload]] = {t.value: c for t, c in PAYLOAD_TYPES.items()}
