"""Provider adapters.  Each one turns an :class:`Outbound` into that provider's wire format
and answers :class:`~services.dispatch.outcomes.Sent` or raises a ProviderFailure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from services.dispatch.outcomes import Sent
from shared.domain import Channel
from shared.events import MessageContent

Redelivery = Literal["idempotency_key", "message_id", "none"]
"""How a message whose outcome is unknown after a crash may be sent again (docs/dispatch.md)."""


@dataclass(frozen=True)
class Outbound:
    """One message with its address opened, alive only in the dispatcher's memory."""

    ext_message_id: uuid.UUID
    channel: Channel
    ext_user_id: str
    uid: str
    recipient: str
    content: MessageContent
    attempt: int
    # Set for a preview or a staff mail (docs/contract.md): sent to ``to_email_address``,
    # not to the player, so it carries none of the player's tracking or unsubscribe tokens.
    activity_type: str | None = None

    def __repr__(self) -> str:  # never print the address, even in a traceback
        return f"Outbound({self.ext_message_id}, {self.channel.value}, attempt={self.attempt})"


class Provider(Protocol):
    name: str
    # How the receiving side recognises a resend of the same message, which decides what a
    # dispatcher does with an attempt whose outcome is unknown (docs/dispatch.md):
    # "idempotency_key": the provider answers a repeat with the first result (safe);
    # "message_id": the same Message-ID, which mailboxes that deduplicate show once;
    # "none": a resend is a second message.
    redelivery: Redelivery

    async def send(self, message: Outbound) -> Sent: ...

    async def close(self) -> None: ...
