"""The base of every event payload, and the wire strings that name them."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


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
    SUPPRESSION_RECORDED = "suppression.recorded"
    SUPPRESSION_REMOVED = "suppression.removed"
    DELIVERABILITY_COMPLAINT_RATE_CHANGED = "deliverability.complaint_rate_changed"
    DELIVERABILITY_DOMAIN_RESUMED = "deliverability.domain_resumed"


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
