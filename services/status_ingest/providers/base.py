"""What every provider webhook adapter shares.

An adapter first *verifies* the raw request (signature, and the signed timestamp and nonce
that the replay guard checks) and only then *parses* it into :class:`StatusReport`s, which
carry ids and statuses and nothing else: no address, no number, no provider free text.
:class:`Provider` is that order, written once; a provider supplies only its signature rule,
its wire format and its mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
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
class Proof:
    """What a valid signature proves."""

    signed: tuple[str | bytes, ...]
    """The canonical bytes the signature covers (never the signature itself: a signature
    can often be re-encoded, or an ECDSA one re-signed as (r, n-s), and still verify).  Their
    hash, with the provider's name, is remembered against replays."""
    signed_at: float | None
    """Unix seconds the provider signed (None when its scheme signs no time)."""


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


@dataclass(frozen=True)
class Reply:
    """The answer to a request that is a handshake rather than a status (SNS subscriptions)."""

    text: str
    status: int = 200


Record = TypeVar("Record")
"""One status record in a provider's wire format (a JSON object, a form, ...)."""


class Provider(ABC, Generic[Record]):
    """Verify, then parse.  Nothing of the request is read for its statuses before
    :meth:`signature` has accepted it."""

    name: ClassVar[str]
    window_s: ClassVar[float | None] = None
    """This provider's own acceptance window, when it differs from the default."""

    async def verify(self, inbound: Inbound) -> Verified:
        proof = await self.signature(inbound)
        return Verified(digest_nonce(self.name, *proof.signed), proof.signed_at, self.window_s)

    async def handshake(self, inbound: Inbound) -> Reply | None:
        """A verified request that is answered instead of recorded; None for a status."""
        return None

    def parse(self, inbound: Inbound) -> list[StatusReport]:
        reports = (self.to_report(record) for record in self.records(inbound))
        return [report for report in reports if report is not None]

    @abstractmethod
    async def signature(self, inbound: Inbound) -> Proof:
        """The provider's signature rule: a proof, or :class:`InvalidSignature`."""

    @abstractmethod
    def records(self, inbound: Inbound) -> Iterable[Record]:
        """The provider's wire format: its status records, or :class:`Unusable`."""

    @abstractmethod
    def to_report(self, record: Record) -> StatusReport | None:
        """The provider's mapping of one record (None: a record that carries no status)."""

    def report(self, provider_status: str, event_key: str, **ids: Any) -> StatusReport:
        return StatusReport(self.name, provider_status, event_key, **ids)

    def message_status(self, message_id: str, status: str, **ids: Any) -> StatusReport:
        """A status of one provider message: the pair is the event (a resend is the same)."""
        return self.report(status, f"{message_id}:{status}", provider_message_id=message_id, **ids)


JSON_ERRORS = (ValueError, RecursionError)
"""What ``json.loads`` raises for bytes that are not JSON, or nest deeper than it reads."""


def json_body(inbound: Inbound, what: str, refuse: type[Exception] = Unusable) -> Any:
    try:
        return json.loads(inbound.body)
    except JSON_ERRORS:
        raise refuse(f"{what} body is not JSON") from None


def json_object(value: object) -> dict[str, Any]:
    """A provider's nested object, or an empty one when it sent another shape there."""
    return value if isinstance(value, dict) else {}


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


def unix_time(value: object) -> datetime | None:
    """Unix seconds as a provider sends them (number or string), or None."""
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    # Far beyond year 9999 the C library answers EOVERFLOW, an OSError (found by fuzzing).
    except (TypeError, ValueError, OverflowError, OSError):
        return None
