"""The pure parts, without I/O: the projection as a function of events, the counts, and
the hash chain."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce

import pytest

from services.eventstore.chain import (
    GENESIS,
    ChainedFields,
    StoredRow,
    StreamHead,
    join_content,
    link,
    split_content,
    verify_stream,
)
from services.eventstore.projection import MessageState, apply, count_deltas
from services.eventstore.records import Unstorable, parse_audit_fact, parse_event
from shared.domain import Channel, SmarticoStatus
from tests.eventstore.support import lifecycle
from tests.support import events as build


def project(events):
    return reduce(apply, events, None)


def test_a_full_lifecycle_projects_to_its_current_state():
    events = lifecycle("u1", ext_user_id="player-7")
    state = project(events)
    assert (state.channel, state.ext_user_id, state.uid) == ("email", "player-7", "u1")
    assert (state.status, state.stage, state.attempts, state.provider) == (
        "opened",
        "dispatched",
        2,
        "smtp",
    )
    assert state.version == len(events)
    assert (
        state.status_times["accepted"]
        < state.status_times["delivered"]
        < state.status_times["opened"]
    )
    assert {k: v["outcome"] for k, v in state.callbacks.items()} == {
        "accepted": "delivered",
        "delivered": "delivered",
        "opened": "delivered",
    }
    assert state.last_event_at == events[-1].occurred_at


def test_a_late_delivered_does_not_undo_opened():
    events = lifecycle("u2")
    opened, delivered = events[12], events[8]
    state = project([*events[:8], opened, delivered])
    assert state.status == "opened"
    assert set(state.status_times) == {"accepted", "delivered", "opened"}


def test_failures_become_failed_only_when_final():
    events = lifecycle("u3")
    mid = events[0].ext_message_id
    retrying = project(events[:4])
    assert (retrying.status, retrying.stage) == ("accepted", "retrying")
    final = build.dispatch_failed(mid, 2, retryable=False, reason="rejected_by_server")
    failed = apply(retrying, final)
    assert (failed.status, failed.stage) == ("failed", "dispatch_failed")
    unresolved = apply(
        project(events[:1]),
        build.resolution_failed(mid, "no_address"),
    )
    assert (unresolved.status, unresolved.stage) == ("failed", "resolution_failed")


def test_provider_time_is_the_status_time():
    events = lifecycle("u4")
    reported = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = build.status_reported(
        events[0].ext_message_id,
        SmarticoStatus.REJECTED,
        provider_status="bounce",
        reported_at=reported,
    )
    state = apply(project(events[:6]), status)
    assert state.status_times["rejected"] == "2026-01-02T03:04:05.000000Z"


def test_counts_move_with_each_status_change():
    events = lifecycle("u5")
    before: MessageState | None = None
    changes = []
    for event in events:
        after = apply(before, event)
        changes.append((before, after))
        before = after
    deltas = count_deltas(changes)
    assert {k: v for k, v in deltas.items() if v} == {("opened", "email"): 1}


def test_the_chain_covers_the_content_hash_not_the_content():
    event = parse_event(lifecycle("u6")[0].to_bytes()).written  # as stored: a plain dict
    stored, content = split_content(event.payload)
    assert content is not None
    assert "content" not in stored and content["subject"] == "Your weekly bonus"
    assert join_content(stored, content) == event.payload
    fields = ChainedFields(
        event.ext_message_id,
        1,
        event.event_id,
        event.type,
        event.occurred_at,
        event.producer,
        1,
        stored,
    )
    digest = link(GENESIS, fields)
    kept = StoredRow(1, fields, content, GENESIS, digest)
    removed = StoredRow(1, fields, None, GENESIS, digest)
    edited = StoredRow(1, fields, {**content, "subject": "x"}, GENESIS, digest)
    head = StreamHead(event.ext_message_id, 1, digest)
    assert list(verify_stream([kept], head)) == []
    assert list(verify_stream([removed], head)) == []
    assert [p.version for p in verify_stream([edited], head)] == [1]


def test_an_instant_has_one_spelling_whatever_its_offset():
    event = lifecycle("u7")[0]
    shifted = event.occurred_at.astimezone(timezone(timedelta(hours=3)))
    raw = json.loads(event.to_bytes())
    raw["occurred_at"] = shifted.isoformat()
    again = parse_event(json.dumps(raw).encode()).written
    fields = [
        ChainedFields(
            e.ext_message_id, 1, e.event_id, str(e.type), e.occurred_at, e.producer, 1, {}
        )
        for e in (event, again)
    ]
    assert fields[0].document() == fields[1].document()


def test_records_postgresql_cannot_store_are_refused():
    raw = json.loads(lifecycle("u8")[0].to_bytes())
    raw["payload"]["uid"] = "a\u0000b"
    with pytest.raises(Unstorable):
        parse_event(json.dumps(raw).encode())
    raw["payload"]["uid"] = "a\\u0000b"  # the six characters, not a NUL: fine
    parse_event(json.dumps(raw).encode())


def test_audit_facts_keep_only_known_fields():
    fact = parse_audit_fact(
        json.dumps(
            {
                "audit_id": 17,
                "ext_message_id": str(uuid.uuid4()),
                "ext_user_id": "p1",
                "caller": "resolver",
                "scope": "resolver",
                "purpose": "dispatch",
                "fields": "email",
                "decision": "allowed",
                "at": "2026-11-27T10:00:00",
                "value": "someone@example.com",
            }
        ).encode()
    )
    assert fact.audit_id == "17" and fact.fields == ["email"]
    assert "someone" not in json.dumps(fact.as_json())
    assert fact.at.tzinfo is not None


def test_the_vaults_own_audit_facts_parse():
    """The contract with the vault's publisher, checked against its code."""
    audit = pytest.importorskip("services.vault.audit")
    entry = audit.AuditEntry(
        caller="resolver",
        scope="resolver",
        decision=next(iter(audit.Decision)),
        request_id="req-1",
        at=datetime.now(UTC),
        purpose="dispatch",
        ext_user_id="p1",
        fields=("email",),
        ext_message_id=uuid.uuid4(),
    )
    fact = parse_audit_fact(json.dumps(entry.facts()).encode())
    assert (fact.audit_id, fact.ext_message_id) == (str(entry.audit_id), str(entry.ext_message_id))
    assert (fact.fields, fact.request_id, fact.at) == (["email"], "req-1", entry.at)


def test_decisions_that_are_not_a_message_s_state_keep_to_their_own_streams():
    refused = project([build.refused("r-1", 4, "no_address", ext_user_id="player-9")])
    assert (refused.stage, refused.uid, refused.ext_user_id, refused.status) == (
        "refused",
        "r-1",
        "player-9",
        None,
    )
    assert refused.count_key is None  # never counted among messages
    orphan = project([build.status_not_applied(None, "unmatched", provider_message_id="pm-9")])
    assert (orphan.stage, orphan.provider_message_id, orphan.count_key) == (
        "status_unmatched",
        "pm-9",
        None,
    )


def test_a_status_not_applied_changes_nothing_of_its_message_but_the_timeline():
    events = lifecycle("u-na")
    before = project(events)
    after = apply(before, build.status_not_applied(before.ext_message_id, "unknown"))
    assert after.version == before.version + 1
    assert (after.status, after.stage, after.provider) == (before.status, before.stage, "smtp")


def test_a_suppression_changes_nothing_of_the_message_that_caused_it_but_the_timeline():
    before = project(lifecycle("u-bounced"))
    mid = before.ext_message_id
    after = reduce(
        apply, [build.suppression(mid), build.suppression(mid, removed_by="cli:ops")], before
    )
    assert after.version == before.version + 2
    assert after == replace(before, version=after.version, last_event_at=after.last_event_at)


def test_a_suppression_no_message_caused_keeps_to_its_own_stream_uncounted():
    stop = build.suppression(
        None, ext_user_id="player-stop", channel=Channel.SMS, reason="stop", source="twilio"
    )
    suppressed = project([stop])
    assert (suppressed.stage, suppressed.channel, suppressed.ext_user_id) == (
        "suppressed",
        "sms",
        "player-stop",
    )
    assert suppressed.count_key is None and suppressed.status is None
    removed = build.suppression(
        None, ext_user_id="player-stop", channel=Channel.SMS, reason="stop", removed_by="cli:ops"
    )
    assert removed.ext_message_id == stop.ext_message_id  # one stream: its history
    assert apply(suppressed, removed).stage == "suppression_removed"


@pytest.mark.parametrize("reason", ["integrity_failure", "unknown_answer"])
def test_a_vault_answer_that_cannot_be_used_ends_the_message_as_failed(reason):
    accepted = build.accepted("u-vault")
    state = project([accepted, build.resolution_failed(accepted.ext_message_id, reason)])
    assert (state.status, state.stage) == ("failed", "resolution_failed")


def test_a_parked_dispatch_shows_as_parked_until_it_resumes():
    accepted = build.accepted("u-park")
    mid = accepted.ext_message_id
    events = [
        accepted,
        build.resolved(mid),
        build.attempted(mid, 1),
        build.dispatch_failed(mid, 1),
        build.parked(mid, 1, reason="http_503", retry_at=datetime(2026, 11, 28, 12, tzinfo=UTC)),
    ]
    assert project(events).stage == "parked"
    assert project([*events, build.resumed(mid, 2)]).stage == "dispatching"
