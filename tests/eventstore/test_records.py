"""Reading a record, pure: the projector reads the typed event from the record's bytes;
what it reads is what reading it from the envelope gives, whatever the record's age, type
or spelling of its time."""

from __future__ import annotations

import pytest

from services.eventstore.records import parse_event, projectable
from shared.events import Envelope, Event
from tests.eventstore.support import lifecycle
from tests.support import events as build

EVENT = lifecycle("r1")[5]
RESOLVED = lifecycle("r1")[1]
RECORDS = {
    **{f"current {e.type.value}": e.to_bytes() for e in lifecycle("r1")},
    "time with an offset": build.written(EVENT, occurred_at="2026-11-28T12:30:15.5+03:00"),
    "naive time": build.written(EVENT, occurred_at="2026-11-28T09:30:15"),
    "older version, upcast": build.written(
        RESOLVED, schema_version=1, payload={"source": "vault"}, drop=("recipient_source",)
    ),
    "newer version": build.written(EVENT, schema_version=9, payload={"later": 1}),
    "unknown type": build.written(EVENT, type="some.future_type"),
    "an envelope field this code does not know": build.written(EVENT, trace="t-1"),
}


@pytest.mark.parametrize("raw", RECORDS.values(), ids=RECORDS.keys())
def test_the_event_read_from_the_bytes_is_the_one_the_envelope_gives(raw):
    received = parse_event(raw, "test")
    from_envelope = projectable(received.written, "test")
    assert type(received.read) is type(from_envelope)
    assert received.read == from_envelope
    assert received.read.occurred_at.utcoffset() is not None
    assert received.read.occurred_at == received.written.occurred_at


def test_what_this_version_cannot_read_is_kept_as_written():
    received = parse_event(RECORDS["unknown type"], "test")
    assert isinstance(received.read, Envelope) and received.read.type == "some.future_type"
    assert isinstance(parse_event(RECORDS["older version, upcast"], "test").read, Event)
