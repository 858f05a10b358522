"""What every provider webhook adapter shares.

An adapter first *verifies* the raw request (signature, and the signed timestamp and nonce
that the replay guard checks) and only then *parses* it into :class:`StatusReport`s, which
carry ids and statuses and nothing else: no address, no number, no provider free text.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qsl


class InvalidSignature(Exception):
    """The request is not from the provider (or was altered): 401, nothing recorded."""


class Unusable(Exception):
    """Verified, but not something we can read: 400, nothing recorded."""


@dataclass(frozen=True)
class Inbound:
    """The raw request as the provider sent it."""

    method: str
    url: str  # the public URL the provider called, query included
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = ""

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass(frozen=True)
class Verified:
    nonce: str
    """Remembered for the replay window: a second request with it is a replay."""
    signed_at: float | None
    """Unix seconds the provider signed (None when its scheme signs no time)."""
    window_s: float | None = None
    """This provider's own acceptance window, when it differs from the default."""


@dataclass(frozen=True)
class StatusReport:
    provider: str
    provider_status: str
    """The key into the mapping table, e.g. ``bounce`` or ``failed:permanent``."""
    event_key: str
    """Unique per provider event; a resent event gets the same event id downstream."""
    ext_message_id: str | None = None
    provider_message_id: str | None = None
    reported_at: datetime | None = None
    detail: str | None = None
    """A class of failure (a code), never provider text (it may hold an address)."""


class Provider(Protocol):
    name: str

    async def verify(self, inbound: Inbound) -> Verified: ...

    def parse(self, inbound: Inbound) -> list[StatusReport]: ...


def hmac_hex(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, message, getattr(hashlib, digest)).hexdigest()


def same(a: str | bytes, b: str | bytes) -> bool:
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


def digest_nonce(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x1f")
    return h.hexdigest()


def clean_id(value: object, limit: int = 200) -> str | None:
    """A provider id as we store it: a short printable token, or None."""
    if value is None:
        return None
    text = str(value).strip().strip("<>")
    if not text or len(text) > limit or any(c.isspace() or not c.isprintable() for c in text):
        return None
    return text
