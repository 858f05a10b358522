"""One item of the vault's ``POST /v1/contacts/resolve``: whose address, for which channel,
for which message (the vault audits each read with that message id), and the resolution
ticket intake signed for it (``shared.tickets``; the vault reads only against a valid one).
The resolver sends it; the vault reads it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.domain import Channel
from shared.tickets import TicketSubject


@dataclass(frozen=True)
class ContactRequest:
    ext_user_id: str
    channel: Channel
    ext_message_id: uuid.UUID
    ticket: str | None = None

    def ticket_subject(self) -> TicketSubject:
        """What the ticket must have been signed for: this request's own values."""
        return TicketSubject(self.ext_message_id, self.ext_user_id, self.channel)

    def to_json(self) -> dict[str, str]:
        item = {
            "ext_user_id": self.ext_user_id,
            "channel": self.channel.value,
            "ext_message_id": str(self.ext_message_id),
        }
        if self.ticket is not None:
            item["ticket"] = self.ticket
        return item
