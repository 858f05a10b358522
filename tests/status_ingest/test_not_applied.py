"""A provider's report that changes no status is an event too (``status.not_applied``): one
the mapping ignores, one it does not know, one naming no message we sent, and one parked
until it expired — on the message's stream when it is known, on the report's own if not."""

from __future__ import annotations

import uuid

from services.status_ingest.ingest import StatusIngest
from shared.db import create_pool
from shared.events import Event, EventType, StatusNotApplied, report_id_for
from shared.kafka import start_producer
from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import Ingest
from tests.support.events import payload_of
from tests.support.kafka import read_topic


async def not_applied(ingest: Ingest, expect: int) -> dict[str, Event]:
    records = await read_topic(ingest.bootstrap, ingest.topics.message_events, expect=expect)
    events = [Event.from_bytes(r.value) for r in records]
    assert {e.type for e in events} == {EventType.STATUS_NOT_APPLIED}
    return {payload_of(e, StatusNotApplied).outcome: e for e in events}


async def test_statuses_that_change_nothing_are_each_an_event(
    ingest: Ingest, events_dsn: str
) -> None:
    mid = uuid.uuid4()
    reports = [
        {"ext_message_id": str(mid), "status": "queued"},  # the mapping ignores it
        {"ext_message_id": str(mid), "status": "teleported <a@b.example>"},  # unknown
        {"ext_message_id": "not-one-of-ours", "status": "delivered"},  # names no message
        {"message_id": "gen-LOST", "status": "delivered"},  # parked: no dispatch yet
    ]
    assert (await ingest.send("/webhooks/generic", p.generic(reports)))[0] == 200

    # The parked one expires (its age past the limit, here 0 s): an event, then gone.
    pool = await create_pool(events_dsn)
    producer = await start_producer(ingest.bootstrap)
    try:
        status_ingest = StatusIngest(ingest.topics)
        status_ingest.attach(pool, producer)
        assert (await status_ingest.prune(3600, 0))[1] == 1
        assert await pool.fetchval("SELECT count(*) FROM parked_statuses") == 0
    finally:
        await producer.stop()
        await pool.close()

    events = await not_applied(ingest, expect=4)
    assert set(events) == {"ignored", "unknown", "unmatched", "expired"}
    assert events["ignored"].ext_message_id == events["unknown"].ext_message_id == mid
    unknown = payload_of(events["unknown"], StatusNotApplied)
    # The provider's unknown status, as a code: nothing that could be an address survives.
    assert unknown.provider_status == "teleported__a_b.example_"
    assert events["unmatched"].ext_message_id not in (mid,)
    expired = events["expired"]
    assert expired.ext_message_id == report_id_for("generic", "gen-LOST")
    assert payload_of(expired, StatusNotApplied).provider_message_id == "gen-LOST"
