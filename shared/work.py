"""Work items handed from one stage to the next on short-retention work topics.

Unlike events these may carry an address, but only sealed for the dispatcher that sends it
(``shared.sealing``); the topic keeps them briefly (``shared.topics``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain import Channel
from shared.events import MessageContent


class DispatchWork(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ext_message_id: uuid.UUID
    channel: Channel
    ext_user_id: str
    uid: str
    accepted_at: datetime
    sealed_recipient: str
    content: MessageContent
    activity_type: str | None = None
    locale: str | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> DispatchWork:
        return cls.model_validate_json(raw)

    @property
    def key(self) -> bytes:
        return str(self.ext_message_id).encode()

    def sealing_context(self) -> bytes:
        return sealing_context(self.ext_message_id, self.channel)


def sealing_context(ext_message_id: uuid.UUID, channel: Channel) -> bytes:
    """Associated data binding a sealed address to one message and channel: a ciphertext
    copied onto another message does not open."""
    return f"blindpost-recipient:v1:{ext_message_id}:{channel.value}".encode()
