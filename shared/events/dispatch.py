"""Events of the dispatchers: each attempt to send, its outcome, and a send set aside on the
ledger and taken up again."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.domain import Channel
from shared.events.payload import EventType, Payload


class DispatchAttempted(Payload):
    """An address opened and handed to a provider: with the vault's audited read for the
    message, the trail of one use of a player's address (docs/vault.md, "The trail")."""

    event_type: ClassVar[EventType] = EventType.DISPATCH_ATTEMPTED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)
    # Which dispatcher process made the call (its pod name): None in events written
    # before it was recorded.
    dispatcher: str | None = None


class DispatchSucceeded(Payload):
    event_type: ClassVar[EventType] = EventType.DISPATCH_SUCCEEDED
    channel: Channel
    provider: str
    attempt: int = Field(ge=1)
    provider_message_id: str | None = None
    segments: int | None = None
    sending_domain: str | None = Field(
        default=None, description="e-mail: the operator's From domain (never an address)"
    )


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
