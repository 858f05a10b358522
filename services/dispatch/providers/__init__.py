"""Provider adapters.  Each one turns an :class:`Outbound` into that provider's wire format
and answers :class:`~services.dispatch.outcomes.Sent` or raises a ProviderFailure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from services.dispatch.outcomes import Sent
from shared.domain import Channel
from shared.events import MessageContent


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

    def __repr__(self) -> str:  # never print the address, even in a traceback
        return f"Outbound({self.ext_message_id}, {self.channel.value}, attempt={self.attempt})"


class Provider(Protocol):
    name: str
    # True when the provider recognises a resend of the same message (an idempotency key),
    # so an attempt whose outcome is unknown may be repeated safely.
    idempotent: bool

    async def send(self, message: Outbound) -> Sent: ...

    async def close(self) -> None: ...
