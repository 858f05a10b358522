"""Fields that several vault endpoints read from a JSON body, refused the same way."""

from __future__ import annotations

import uuid

from services.vault.domain import InvalidContact
from shared.domain import Channel


def channel_of(body: dict) -> Channel:
    try:
        return Channel(str(body.get("channel")))
    except ValueError:
        raise InvalidContact("channel", "unknown channel") from None


def message_id_of(body: dict) -> uuid.UUID | None:
    if body.get("ext_message_id") is None:
        return None
    try:
        return uuid.UUID(str(body["ext_message_id"]))
    except ValueError:
        raise InvalidContact("ext_message_id", "must be a UUID") from None
