"""The chained document, pure: the bytes every hash covers stay those of the first
release (a stored chain must verify after any upgrade), however they are built."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.eventstore.chain import ChainedFields, canonical_json, iso
from services.eventstore.records import Position, parse_event
from services.eventstore.store import chain_rows
from shared.events import Envelope

STREAM = "d9c89a0f-91be-5c00-86e1-9a7311aef287"
# As producers wrote them, odd ones included: an offset, a naive time, text to escape, a
# field this code does not know, a type newer than it, a year before 1000.
RECORDS = [
    {
        "event_id": "6cf8499f-3515-5949-9349-5a6545600236",
        "type": "message.accepted",
        "ext_message_id": STREAM,
        "occurred_at": "2026-11-28T09:30:15.123456Z",
        "producer": "intake",
        "schema_version": 1,
        "payload": {
            "channel": "email",
            "ext_user_id": "player-1",
            "uid": "golden",
            "callback_url": "http://127.0.0.1:9900/callback",
            "recipient_source": "vault",
            "content": {"subject": "Bonus ✉", "body": "<p>Spin</p>", "text_body": "Spin"},
        },
    },
    {
        "event_id": "0f7c2a4e-9a61-5d1e-8d37-51c0d2b1e6a2",
        "type": "recipient.resolved",
        "ext_message_id": STREAM,
        "occurred_at": "2026-11-28T12:30:15.143456+03:00",
        "producer": "resolver",
        "schema_version": 1,
        "payload": {"channel": "email", "recipient_source": "vault", "vault_request_id": "req-1"},
    },
    {
        "event_id": "3b0a5c1e-2f4d-5b6a-9c8e-7d6f5e4a3b2c",
        "type": "dispatch.failed",
        "ext_message_id": STREAM,
        "occurred_at": "2026-11-28T09:30:16",
        "producer": 'dispatch-"mail" ü',
        "schema_version": 1,
        "payload": {
            "channel": "email",
            "provider": "smtp",
            "attempt": 1,
            "retryable": True,
            "reason": "line\nbreak \\ tab\t é 𝄞",
            "extra": {"b": [1, 2.5, None], "a": False},
        },
    },
    {
        "event_id": "9e8d7c6b-5a49-5382-a1b0-c9d8e7f6a5b4",
        "type": "some.future_type",
        "ext_message_id": STREAM,
        "occurred_at": "0999-01-02T03:04:05.000006Z",
        "producer": "a later stage",
        "schema_version": 7,
        "payload": {},
    },
]
# Computed by the release before the document was spelled out by hand (commit 952eaec).
HASHES = [
    "de2ba0ed0e2d36cd8015fedf7b53aaaf0a12b83d5e2ba7362e5de8972b461340",
    "52860e257f0ba47ce61033d8d7f9d86e73dc112169a547b12b6aadb178a25ddb",
    "e73d3a6c85632b0947007671a8e52bed5f041ff255af425f999e8be5862e223d",
    "19ffd4c08fa64da9d82df9ba8b0b4a9ab28319c64a43557b8a0fd2f62a9b3326",
]


def _written(record: dict[str, object]) -> Envelope:
    return parse_event(json.dumps(record, ensure_ascii=False).encode()).written


def test_a_stream_chains_to_the_hashes_earlier_releases_stored():
    events = [(_written(r), Position("t", 0, n)) for n, r in enumerate(RECORDS)]
    rows, heads = chain_rows(events, {})
    assert [row[10] for row in rows] == [bytes.fromhex(h) for h in HASHES]
    assert heads[uuid.UUID(STREAM)].hash.hex() == HASHES[-1]


def _envelope_fields(event: Envelope) -> dict[str, Any]:
    names = ("event_id", "type", "occurred_at", "producer", "schema_version", "payload")
    return {name: getattr(event, name) for name in names}


@pytest.mark.parametrize("record", RECORDS, ids=[str(r["type"]) for r in RECORDS])
def test_the_document_is_the_canonical_json_of_its_fields(record):
    event = _written(record)
    fields = ChainedFields(stream_id=event.ext_message_id, version=3, **_envelope_fields(event))
    expected = canonical_json(
        {
            "stream_id": str(fields.stream_id),
            "version": fields.version,
            "event_id": str(fields.event_id),
            "type": fields.type,
            "occurred_at": iso(fields.occurred_at),
            "producer": fields.producer,
            "schema_version": fields.schema_version,
            "payload": fields.payload,
        }
    )
    assert fields.document() == expected
    assert fields.document(canonical_json(event.payload)) == expected


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 11, 28, 9, 30, 15),
        datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=3))),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_an_instant_is_spelled_as_strftime_spelled_it(moment):
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    assert iso(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
