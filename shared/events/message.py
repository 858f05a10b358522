"""Events of a message's own life before dispatch: accepted or refused by intake, its
recipient resolved or not, its body redacted after retention."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from shared.domain import Channel
from shared.events.payload import TOLERANT, EventType, Payload


class MessageContent(BaseModel):
    """What Smartico asked us to send.  Subject, body, text body and extension are personal
    data in practice: intake seals them under the player's content key into ``sealed``
    (``shared.content_sealing``), so they exist in clear only in intake's and a dispatcher's
    memory, and erasing the player makes every copy unreadable.  The operator's sender
    fields stay readable.  Events written before sealing carry the four in clear (and no
    ``sealed``): readers take either.  Bodies are also removed from the event store after
    the retention period (issue 7)."""

    model_config = TOLERANT
    subject: str | None = None
    body: str | None = None
    text_body: str | None = None
    from_email_address: str | None = None
    reply_to_email_address: str | None = None
    from_number: str | None = None
    extension: dict[str, Any] | None = None
    sealed: str | None = None


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
    # Intake's signed word that this message may read this player's address on this
    # channel (shared.tickets): the vault reads only against it.  Optional: a preview
    # needs none, and events written before tickets existed have none.
    ticket: str | None = None


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
    # Version 3: the vault refused the read for want of a valid resolution ticket
    # (shared.tickets): expired (read too late), or missing, forged or not this message's.
    "ticket_expired",
    "ticket_invalid",
]


class RecipientResolutionFailed(Payload):
    """Versions 2 and 3 added reasons: an older reader skips those events (a newer version
    it cannot validate) instead of dead-lettering them; older records read unchanged."""

    event_type: ClassVar[EventType] = EventType.RECIPIENT_RESOLUTION_FAILED
    class_version: ClassVar[int] = 3
    channel: Channel
    reason: ResolutionFailure


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
