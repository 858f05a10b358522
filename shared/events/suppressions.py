"""Events of the vault's suppression list: a player put on it for a channel (a hard bounce,
a complaint, a provider's unsubscribe, an SMS STOP) and an operator taking them off again.

The vault writes them: only it knows the player behind a bounced message.  Each is on the
stream of the message that caused the suppression when there is one, so that message's
timeline shows it; otherwise (a STOP names a number, not a message) on the suppression's
own stream, one per player and channel (``suppression_id_for``).  No address, no number,
and none of an operator's free text: the reason for a removal stays in the vault's audit
log."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from shared.domain import Channel
from shared.events.payload import EventType, Payload

REASON = "the vault's class: hard_bounce, complaint, unsubscribe or stop"
CAUSED_BY = "the message whose report caused the suppression, when one did"


class SuppressionRecorded(Payload):
    event_type: ClassVar[EventType] = EventType.SUPPRESSION_RECORDED
    channel: Channel
    ext_user_id: str
    reason: str = Field(description=REASON)
    source: str = Field(description="who reported it: bounce, sendgrid, twilio, ...")
    caused_by: uuid.UUID | None = Field(default=None, description=CAUSED_BY)


class SuppressionRemoved(Payload):
    """``reason`` is the class of the suppression removed; ``removed_by`` the operator's
    identity as the vault's audit log names it; ``cause`` why it went."""

    event_type: ClassVar[EventType] = EventType.SUPPRESSION_REMOVED
    channel: Channel
    ext_user_id: str
    reason: str = Field(description=REASON)
    removed_by: str
    caused_by: uuid.UUID | None = Field(default=None, description=CAUSED_BY)
    # A default, so removals logged before erasures published theirs read as what they were.
    cause: str = Field(
        default="operator",
        description="operator (blindpost suppressions remove) or erased (the player was erased)",
    )
