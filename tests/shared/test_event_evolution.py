"""Events while old and new versions run side by side (no Kafka): names agree, old records
are upcast, newer ones are read tolerantly or skipped and counted, never poison; writes
stay strict."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.domain import Channel, SmarticoStatus
from shared.events import (
    PAYLOAD_TYPES,
    SKIPPED,
    UPCASTERS,
    DispatchAttempted,
    DispatchSucceeded,
    Envelope,
    Event,
    EventType,
    MessageContent,
    RecipientResolutionFailed,
    RecipientResolved,
    SkipReason,
    StatusNotApplied,
    StatusReported,
    Unreadable,
    read_event,
)
from shared.events.upcasting import missing_upcasters
from tests.support import events as build

MID = uuid.uuid4()


def skipped(stage: str, reason: SkipReason) -> float:
    return SKIPPED.labels(stage, reason.value)._value.get()  # noqa: SLF001 - test reads it


@pytest.mark.parametrize("event_type", list(EventType))
def test_wire_string_enum_member_and_class_have_one_name(event_type: EventType) -> None:
    words = re.split(r"[._]", event_type.value)
    assert event_type.name == "_".join(w.upper() for w in words)
    cls = PAYLOAD_TYPES[event_type]
    assert cls.__name__ == "".join(w.capitalize() for w in words)
    assert cls.event_type is event_type


def test_every_version_above_one_has_its_upcasters() -> None:
    assert missing_upcasters() == []
    assert (EventType.RECIPIENT_RESOLVED, 1) in UPCASTERS
    assert RecipientResolved.class_version == 2


def test_a_record_written_before_versions_existed_still_reads() -> None:
    """The exact shape stored since the first release: schema_version 1, v1 field names."""
    raw = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "recipient.resolved",
            "ext_message_id": str(MID),
            "occurred_at": "2026-01-02T03:04:05.123456Z",
            "producer": "resolver",
            "schema_version": 1,
            "payload": {"channel": "sms", "source": "vault", "vault_request_id": "req-1"},
        }
    ).encode()
    event = Event.from_bytes(raw)
    assert event.payload == RecipientResolved(
        channel=Channel.SMS, recipient_source="vault", vault_request_id="req-1"
    )
    assert event.schema_version == 2
    # Stored as written: the envelope keeps v1's payload, upcast again on every read.
    assert Envelope.from_bytes(raw).payload["source"] == "vault"


def test_a_new_event_is_written_at_its_current_version_in_the_old_shape() -> None:
    record = json.loads(build.resolved(MID, vault_request_id="req-2").to_bytes())
    assert list(record) == [
        "event_id",
        "type",
        "ext_message_id",
        "occurred_at",
        "producer",
        "schema_version",
        "payload",
    ]
    assert record["schema_version"] == 2
    assert record["payload"] == {
        "channel": "email",
        "recipient_source": "vault",
        "vault_request_id": "req-2",
    }


def test_a_field_added_by_a_newer_producer_is_kept_not_refused() -> None:
    raw = build.written(
        build.dispatched(MID, provider_message_id="pm-1"), payload={"cost_micros": 1200}
    )
    event = Event.from_bytes(raw)
    assert isinstance(event.payload, DispatchSucceeded)
    assert event.payload.provider_message_id == "pm-1"
    assert json.loads(event.to_bytes())["payload"]["cost_micros"] == 1200


def test_an_envelope_field_added_by_a_newer_producer_is_ignored() -> None:
    raw = build.written(build.dispatched(MID), trace_id="abc")
    assert Event.from_bytes(raw).event_id == build.dispatched(MID).event_id


def test_a_newer_version_is_read_with_the_fields_this_code_knows() -> None:
    raw = build.written(
        build.status_reported(MID, SmarticoStatus.OPENED), schema_version=5, payload={"x": 1}
    )
    event = Event.from_bytes(raw)
    assert isinstance(event.payload, StatusReported)
    assert event.payload.status is SmarticoStatus.OPENED


def test_a_newer_version_this_code_cannot_read_is_skipped_and_counted() -> None:
    raw = build.written(build.attempted(MID), schema_version=2, drop=("attempt",))
    with pytest.raises(Unreadable) as caught:
        Event.from_bytes(raw)
    assert caught.value.reason is SkipReason.NEWER_VERSION
    before = skipped("unit", SkipReason.NEWER_VERSION)
    assert read_event(raw, "unit") is None
    assert skipped("unit", SkipReason.NEWER_VERSION) == before + 1


def test_an_unknown_type_is_skipped_and_counted_under_a_fixed_label() -> None:
    raw = build.written(build.dispatched(MID), type="dispatch.queued.for-a-future-feature")
    before = skipped("unit", SkipReason.UNKNOWN_TYPE)
    assert read_event(raw, "unit") is None
    assert skipped("unit", SkipReason.UNKNOWN_TYPE) == before + 1
    labels = {s.labels.get("reason") for m in SKIPPED.collect() for s in m.samples}
    assert labels <= {r.value for r in SkipReason}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b'{"type": "dispatch.succeeded", "payload": {}}',
        json.dumps({**json.loads(build.dispatched(MID).to_bytes()), "event_id": "x"}).encode(),
    ],
)
def test_only_a_record_that_is_not_an_event_is_poison(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        read_event(raw, "unit")


def test_a_stage_reading_only_some_types_passes_the_others_by_unread() -> None:
    accepted, only = build.accepted("u-only"), {EventType.MESSAGE_ACCEPTED}
    assert read_event(accepted.to_bytes(), "unit", only=only) == accepted
    before = skipped("unit", SkipReason.NOT_HANDLED)
    # Even a broken payload of another type: it is not this stage's to judge.
    broken = build.written(build.attempted(MID), payload={"attempt": 0})
    for raw in (build.dispatched(MID).to_bytes(), broken):
        assert read_event(raw, "unit", only=only) is None
    assert skipped("unit", SkipReason.NOT_HANDLED) == before + 2
    for poison in (b"not json", b"{}", build.written(accepted, payload={"channel": "fax"})):
        with pytest.raises(ValidationError):
            read_event(poison, "unit", only=only)


def test_a_payload_that_breaks_a_version_this_code_knows_is_poison() -> None:
    raw = build.written(build.attempted(MID), payload={"attempt": 0})
    with pytest.raises(ValidationError):
        read_event(raw, "unit")


def test_writing_is_strict() -> None:
    # Fields no class declares, on purpose (hence the ignores): the type checker refuses them
    # and so must writing, for the code the checker cannot see (dicts splatted into a payload).
    with pytest.raises(TypeError, match="cost"):
        Event.create(
            MID,
            DispatchAttempted(  # type: ignore[call-arg]
                channel=Channel.SMS, provider="p", attempt=1, cost=3
            ),
            "test",
        )
    with pytest.raises(TypeError, match="content.colour"):
        build.accepted(content=MessageContent(subject="Hi", colour="red"))  # type: ignore[call-arg]


def test_every_type_round_trips_typed() -> None:
    s = SmarticoStatus
    events = [
        build.accepted(),
        build.resolved(MID),
        build.resolution_failed(MID),
        build.attempted(MID),
        build.dispatched(MID),
        build.dispatch_failed(MID),
        build.status_reported(MID, s.CLICKED),
        build.callback_attempted(MID, s.CLICKED),
        build.callback_delivered(MID, s.CLICKED),
        build.callback_dead_lettered(MID, s.CLICKED),
        build.redriven(MID, s.CLICKED),
        build.body_redacted(MID),
        build.refused(),
        build.status_not_applied(MID),
        build.parked(MID, retry_at=datetime(2026, 11, 28, 12, tzinfo=UTC)),
        build.resumed(MID),
        build.suppression(MID),
        build.suppression(None, removed_by="cli:ops"),
        build.complaint_rate_changed(),
        build.domain_resumed(),
    ]
    assert {e.type for e in events} == set(EventType)
    for event in events:
        again = Event.from_bytes(event.to_bytes())
        assert again == event and type(again.payload) is PAYLOAD_TYPES[event.type]


@pytest.mark.parametrize("stored_version", [1, 2])
def test_resolution_failures_of_older_versions_read_as_the_current_one(
    stored_version: int,
) -> None:
    """Versions 2 and 3 only added reasons: a stored v1 or v2 record reads unchanged."""
    raw = build.written(build.resolution_failed(MID, "opted_out"), schema_version=stored_version)
    event = read_event(raw, "unit")
    assert event is not None and event.schema_version == 3
    assert build.payload_of(event, RecipientResolutionFailed).reason == "opted_out"


def test_unapplied_statuses_of_version_1_read_as_version_2() -> None:
    """Version 2 added the outcome ``transient`` (a delayed DSN): v1 records read unchanged."""
    raw = build.written(build.status_not_applied(MID, "unknown"), schema_version=1)
    event = read_event(raw, "unit")
    assert event is not None and event.schema_version == 2
    assert build.payload_of(event, StatusNotApplied).outcome == "unknown"


def test_an_outcome_newer_than_the_reader_is_skipped_not_poison() -> None:
    """What a reader of version 1 does with a ``transient`` outcome of version 2: the same
    as this one does with an outcome of a version 3 it does not know."""
    raw = build.written(
        build.status_not_applied(MID), schema_version=3, payload={"outcome": "bounced_later"}
    )
    before = skipped("unit", SkipReason.NEWER_VERSION)
    assert read_event(raw, "unit") is None
    assert skipped("unit", SkipReason.NEWER_VERSION) == before + 1
    # At the version this code knows, the same unknown outcome is a broken record.
    with pytest.raises(ValidationError):
        read_event(build.written(build.status_not_applied(MID), payload={"outcome": "x"}), "unit")
