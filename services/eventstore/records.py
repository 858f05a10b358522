"""What the projector reads, parsed (pure): lifecycle events from the message-events topic
and the vault's audit facts.  Anything that raises here is dead-lettered by the caller; an
event of a type or version newer than this code is not: it is stored as written."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from services.eventstore.chain import canonical_json
from shared.events import Envelope, Event, Unreadable, count_skipped


class Unstorable(ValueError):
    """Valid JSON that PostgreSQL could not store (a NUL character in text, a number too
    large for its column)."""


INT4_MAX = 2**31 - 1
ZERO = timedelta(0)
_STORED_NUMBERS = ("attempt", "attempts")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# What the projection applies: the typed event, or the envelope of one newer than this code
# (it then only counts in the message's version).
Projectable = Event | Envelope


@dataclass(frozen=True)
class Received:
    """A lifecycle event as its producer wrote it (stored and chained exactly so, whatever
    its type and version: a later projector may know them) and as this version reads it."""

    written: Envelope
    read: Projectable

    @property
    def event_id(self) -> uuid.UUID:
        return self.written.event_id

    @property
    def ext_message_id(self) -> uuid.UUID:
        return self.written.ext_message_id


def parse_event(raw: bytes | None, stage: str = "projector") -> Received:
    raw = raw or b""
    envelope = Envelope.from_bytes(raw)
    # Cheap test first: without the escape anywhere in the record there is no NUL in it.
    if b"\\u0000" in raw and b"\\u0000" in canonical_json(
        envelope.model_dump(mode="json")
    ).replace(b"\\\\", b""):
        raise Unstorable("a text field holds a NUL character")
    payload = envelope.payload
    for number in (envelope.schema_version, *(payload.get(k, 0) for k in _STORED_NUMBERS)):
        if not isinstance(number, int) or not 0 <= number <= INT4_MAX:
            raise Unstorable("a number is out of range")
    moment = envelope.occurred_at
    if moment.utcoffset() != ZERO:  # None (naive) or another offset: spelled in UTC
        envelope = envelope.model_copy(update={"occurred_at": _utc(moment)})
    return Received(envelope, projectable(envelope, stage, raw))


def projectable(envelope: Envelope, stage: str, raw: bytes | None = None) -> Projectable:
    """The typed event, or the envelope itself when this version cannot read it (counted).
    Raises pydantic.ValidationError for a payload that breaks a version this code knows.

    Given the record's ``raw`` bytes, a known type at its current version is read from them
    in one validation in pydantic-core: building it from the envelope's dict cost the
    projector most of its parsing."""
    try:
        event = envelope.event() if raw is None else Event.from_bytes(raw)
    except Unreadable as exc:
        count_skipped(stage, exc.reason)
        return envelope
    if event.occurred_at.utcoffset() != ZERO:  # read as written: spelled as the envelope is
        event = event.model_copy(update={"occurred_at": envelope.occurred_at})
    return event


class AuditFact(BaseModel):
    """A vault access, as the vault publishes it (never a value).  Only these fields are
    kept: whatever else a record carries is dropped, so nothing unexpected is stored."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    audit_id: str
    ext_message_id: str | None = None
    ext_user_id: str | None = None
    caller: str
    scope: str
    purpose: str | None = None
    fields: list[str] = []
    decision: str
    at: datetime
    request_id: str | None = None

    @field_validator("audit_id", "ext_message_id", "request_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | uuid.UUID) else value

    @field_validator("fields", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_audit_fact(raw: bytes | None) -> AuditFact:
    fact = AuditFact.model_validate_json(raw or b"")
    # As for events: without the escape anywhere in the record there is no NUL in it.
    if b"\\u0000" in (raw or b"") and "\\u0000" in json.dumps(fact.as_json()):
        raise Unstorable("a text field holds a NUL character")
    return fact


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int
