"""Events of what is reported about a message: a provider's status, applied or not, and
each call to Smartico's callback with its outcome, dead letters and their re-drives."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.domain import SmarticoStatus
from shared.events.payload import EventType, Payload


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


StatusNotAppliedOutcome = Literal[
    "ignored",
    "unknown",
    "unmatched",
    "expired",
    # Version 2: a report of a delay (a transient DSN): recorded, not final, not reported.
    "transient",
]


class StatusNotApplied(Payload):
    """A provider's report that changed no status: one the mapping ignores, one it does
    not know, one naming no message we sent, one parked for its message until it expired,
    or (v2) a delay.  On its message's stream when that is known, else on its own
    (``report_id_for``).  Version 2 added an outcome: an older reader skips those events
    (a newer version it cannot validate) instead of dead-lettering them."""

    event_type: ClassVar[EventType] = EventType.STATUS_NOT_APPLIED
    class_version: ClassVar[int] = 2
    provider: str
    outcome: StatusNotAppliedOutcome
    provider_status: str = Field(description="the provider's status code, sanitised")
    provider_message_id: str | None = None
    detail: str | None = Field(default=None, description="a status class (4.4), our words")
