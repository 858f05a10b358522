"""One item of the vault's ``POST /v1/contacts/resolve``: whose address, for which channel,
for which message (the vault audits each read with that message id).  The resolver sends it;
the vault reads it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.domain import Channel


@dataclass(frozen=True)
class ContactRequest:
    ext_user_id: str
    channel: Channel
    ext_message_id: uuid.UUID

    def to_json(self) -> dict[str, str]:
        return {
            "ext_user_id": self.ext_user_id,
            "channel": self.channel.value,
            "ext_message_id": str(self.ext_message_id),
        }
