"""The envelope every event travels in, read tolerantly and written strictly.

Reading is two steps.  ``Envelope.from_bytes`` takes any record that is an event at all
(JSON with the envelope's fields); it raises ``pydantic.ValidationError`` only for a record
that is not, the one kind of poison.  ``Envelope.event()`` then gives the typed ``Event``:
an old version upcast to the current one, a newer version read with the fields this code
knows, or ``Unreadable`` (a type this code does not know, a newer version it cannot read):
a stage skips and counts those, it never dead-letters them.

The wire shape is unchanged since the first record: ``{event_id, type, ext_message_id,
occurred_at, producer, schema_version, payload: {...}}``; ``schema_version`` is the version
of the payload's event type (every type was at version 1 when it was global).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from shared.domain import event_id_for
from shared.events.catalogue import PAYLOAD_BY_WIRE, PAYLOAD_TYPES, AnyPayload
from shared.events.payload import EventType
from shared.events.upcasting import upcast


class SkipReason(StrEnum):
    """Why a stage passed an event by (a fixed set: metric labels, never a wire string)."""

    UNKNOWN_TYPE = "unknown_type"  # a type newer than this code
    NEWER_VERSION = "newer_version"  # a version newer than this code, which it cannot read
    NOT_HANDLED = "not_handled"  # a type this stage has nothing to do with


SKIPPED = Counter(
    "blindpost_events_skipped_total",
    "Events a stage read and passed by instead of acting on them (never dead-lettered)",
    ["stage", "reason"],
)


def count_skipped(stage: str, reason: SkipReason) -> None:
    _skipped(stage, reason).inc()


@functools.cache
def _skipped(stage: str, reason: SkipReason) -> Counter:
    """A stage passes most of the log by: the labelled child is looked up once (``labels``
    costs as much as reading a small event's type), over a few stages and reasons."""
    return SKIPPED.labels(stage, reason.value)


class Unreadable(Exception):
    """An event, but not one this code can read: skip it and count it."""

    def __init__(self, reason: SkipReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Envelope(BaseModel):
    """A record as its producer wrote it: the payload untyped, whatever its type and
    version.  The event store keeps exactly this (its hash chain covers it)."""

    # An envelope field added by a newer producer is dropped: new facts go in payloads.
    model_config = ConfigDict(frozen=True, extra="ignore")
    event_id: uuid.UUID
    type: str
    ext_message_id: uuid.UUID
    occurred_at: datetime
    producer: str
    schema_version: int = Field(default=1, ge=1)
    payload: dict[str, Any]

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Raises pydantic.ValidationError for a record that is not an event: poison."""
        return cls.model_validate_json(raw)

    def event(self) -> Event:
        """The typed event at its current version.  Raises ``Unreadable`` (skip it), or
        ``pydantic.ValidationError`` for a payload that breaks the schema of a version this
        code knows: a broken record, not a newer one (poison)."""
        cls = PAYLOAD_BY_WIRE.get(self.type)
        if cls is None:
            raise Unreadable(SkipReason.UNKNOWN_TYPE)
        payload = self.payload
        if self.schema_version < cls.class_version:
            payload = upcast(cls.event_type, self.schema_version, payload)
        try:
            typed = cls.model_validate(payload)
        except ValidationError:
            if self.schema_version > cls.class_version:
                raise Unreadable(SkipReason.NEWER_VERSION) from None
            raise
        # Every envelope field is already validated: construct, do not validate twice.
        return EVENT_CLASSES[cls.event_type].model_construct(
            event_id=self.event_id,
            type=cls.event_type,
            ext_message_id=self.ext_message_id,
            occurred_at=self.occurred_at,
            producer=self.producer,
            schema_version=cls.class_version,
            payload=typed,
        )


class Event(BaseModel):
    """A lifecycle event, typed.  ``event_id`` is deterministic where a stage may redo its
    work, so a redelivered or re-emitted event is recognised and stored once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: uuid.UUID
    type: EventType
    ext_message_id: uuid.UUID
    occurred_at: datetime
    producer: str
    # The payload's version as held: always its class's current one (older records are
    # upcast as they are read).
    schema_version: int
    payload: AnyPayload

    @classmethod
    def create(
        cls,
        ext_message_id: uuid.UUID,
        payload: AnyPayload,
        producer: str,
        *,
        discriminator: tuple[object, ...] = (),
        occurred_at: datetime | None = None,
    ) -> Event:
        """Build an event; ``discriminator`` makes its id unique among same-typed events
        of one message (an attempt number, a status), and stable across retries.  Strict:
        a field the payload's class does not declare is refused."""
        if undeclared := _undeclared(payload):
            raise TypeError(f"{type(payload).__name__} does not declare {undeclared}")
        return EVENT_CLASSES[payload.event_type](
            event_id=event_id_for(ext_message_id, payload.event_type.value, *discriminator),
            type=payload.event_type,
            ext_message_id=ext_message_id,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            schema_version=payload.class_version,
            payload=payload,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        """Raises pydantic.ValidationError for poison, ``Unreadable`` for an event to skip.

        The common case, a known type at its current version, is one validation in
        pydantic-core; anything else takes the tolerant path through ``Envelope``."""
        try:
            event = _CURRENT.validate_json(raw)
        except ValidationError:
            return Envelope.from_bytes(raw).event()
        if event.schema_version != event.payload.class_version:
            return Envelope.from_bytes(raw).event()
        return event

    @property
    def key(self) -> bytes:
        return str(self.ext_message_id).encode()


def _event_class(payload: type[AnyPayload]) -> type[Event]:
    return create_model(
        f"{payload.__name__}Event",
        __base__=Event,
        __module__=__name__,
        type=(Literal[payload.event_type], ...),  # type: ignore[arg-type]
        payload=(payload, ...),
    )


# One Event class per type, its payload field narrowed to the type's class: what every
# Event really is (create and both readers build these), so that reading a record is one
# discriminated validation.
EVENT_CLASSES: dict[EventType, type[Event]] = {
    t: _event_class(cls) for t, cls in PAYLOAD_TYPES.items()
}
_CURRENT: TypeAdapter[Event] = TypeAdapter(
    Annotated[Union[tuple(EVENT_CLASSES.values())], Field(discriminator="type")]  # type: ignore[arg-type] # noqa: UP007
)


class _Head(BaseModel):
    """Only the envelope's type: the JSON is still checked whole, nothing else is built."""

    model_config = ConfigDict(extra="ignore")
    type: str


def read_event(
    raw: bytes | None, stage: str, only: Collection[EventType] | None = None
) -> Event | None:
    """The typed event, or None for one ``stage`` cannot read (counted, to be skipped).
    Raises pydantic.ValidationError for poison: the caller dead-letters it.

    With ``only``, an event of another type is passed by unread (counted as not handled):
    the event log carries every state of every message, and validating the whole of each
    cost a stage that acts on one type most of its parsing."""
    if only is not None:
        try:
            wire_type: str | None = _Head.model_validate_json(raw or b"").type
        except ValidationError:
            wire_type = None  # not an event at all: the full read below says why
        if wire_type is not None and wire_type not in only:
            count_skipped(stage, SkipReason.NOT_HANDLED)
            return None
    try:
        return Event.from_bytes(raw or b"")
    except Unreadable as exc:
        count_skipped(stage, exc.reason)
        return None


def _undeclared(model: BaseModel) -> list[str]:
    names = sorted(model.model_extra or {})
    for name, value in model:
        if isinstance(value, BaseModel):
            names += [f"{name}.{inner}" for inner in _undeclared(value)]
    return names
