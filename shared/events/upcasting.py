"""Upcasters: each turns one version of an event's payload (as a JSON dict) into the next,
so a reader only ever handles the current version, and records stored years ago (the event
store, the 400-day topic) keep their meaning.  Registered as data; a record is never
rewritten in storage: it is upcast each time it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.events.catalogue import PAYLOAD_TYPES
from shared.events.payload import EventType

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def upcast_recipient_resolved_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    upcast = dict(payload)
    upcast["recipient_source"] = upcast.pop("source", "vault")
    return upcast


def values_added(payload: dict[str, Any]) -> dict[str, Any]:
    """A version that only added values to a field (reasons, outcomes): every payload of
    the version before is a valid one of the next."""
    return payload


# (event type, version it reads) -> the upcaster to the next version.
UPCASTERS: dict[tuple[EventType, int], Upcaster] = {
    (EventType.RECIPIENT_RESOLVED, 1): upcast_recipient_resolved_v1_v2,
    (EventType.RECIPIENT_RESOLUTION_FAILED, 1): values_added,
    # v3 added the reasons ticket_expired and ticket_invalid.
    (EventType.RECIPIENT_RESOLUTION_FAILED, 2): values_added,
    # v2 added the outcome "transient" (a delayed DSN).
    (EventType.STATUS_NOT_APPLIED, 1): values_added,
}


def upcast(event_type: EventType, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` of ``version`` brought to the class's current version."""
    for step in range(version, PAYLOAD_TYPES[event_type].class_version):
        payload = UPCASTERS[(event_type, step)](payload)
    return payload


def missing_upcasters() -> list[tuple[EventType, int]]:
    """Every step from version 1 to the current one must have its upcaster."""
    return [
        (t, step)
        for t, cls in PAYLOAD_TYPES.items()
        for step in range(1, cls.class_version)
        if (t, step) not in UPCASTERS
    ]


if missing := missing_upcasters():
    raise RuntimeError(f"events without an upcaster for these versions: {missing}")
