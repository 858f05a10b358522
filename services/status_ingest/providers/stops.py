"""What every provider's inbound-message webhook shares: which replies are an opt-out, and
what a reader of one provider's inbound messages gives back.

A reader verifies the request with the provider's own signature scheme (the one its status
webhooks use), then says whether the message is a STOP and from which number.  The number
goes to the vault and nowhere else: :class:`Stop` hides it from ``repr``, and nothing here
logs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from services.status_ingest.providers.base import Inbound, InvalidSignature
from shared.domain import Channel

# The carriers' opt-out keywords (CTIA; Twilio and Vonage honour the same list).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})


def is_stop_word(text: object) -> bool:
    """The whole message is one keyword, in any case, trimmed (``" Stop. "``); a sentence
    that merely starts with one (``"stop sending me offers? no, keep them"``) is not."""
    return isinstance(text, str) and text.strip().strip(".!").casefold() in STOP_WORDS


@dataclass(frozen=True)
class Stop:
    channel: Channel
    phone: str = field(repr=False)  # never in a log line


@dataclass(frozen=True)
class Answer:
    """What the provider expects back for a message it delivered (any 2xx stops its retries)."""

    text: str = "ok"
    content_type: str = "text/plain"


class StopReader(Protocol):
    name: ClassVar[str]
    answer: ClassVar[Answer]

    async def read(self, inbound: Inbound) -> Stop | None:
        """The opt-out the message is, None for any other message; :class:`InvalidSignature`
        when the provider did not sign it, ``Unusable`` when it is signed but unreadable."""
        ...


def check_window(signed_at: float | None, window_s: float) -> None:
    """A signed time too far from now is refused: a replayed STOP could otherwise undo an
    operator's ``suppressions remove`` long after."""
    if signed_at is not None and abs(time.time() - signed_at) > window_s:
        raise InvalidSignature("signed timestamp outside the replay window")
