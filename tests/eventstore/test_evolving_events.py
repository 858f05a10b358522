"""A projector built for this version of the events, on the real broker and database,
reading what an older producer wrote (N-1) and what a newer one writes during a rolling
upgrade (N+1: an added field, a newer version, a type it does not know).  The event store
keeps every record as written; the projection uses what it can read; nothing is poison."""

from __future__ import annotations

import uuid

from services.eventstore.replay import compare, replay_from_store
from services.eventstore.verify import verify
from shared.events import SKIPPED, SkipReason
from tests.eventstore.support import (
    lifecycle,
    migrated_pool,
    produce_raw,
    running_projector,
    wait_for_events,
)
from tests.support import events as build
from tests.support.kafka import read_topic

SENTINEL = b"not an event: the one record that must be dead-lettered"


def skipped(reason: SkipReason) -> float:
    return SKIPPED.labels("projector", reason.value)._value.get()  # noqa: SLF001


async def test_old_and_newer_events_are_stored_as_written_and_projected(
    kafka_bootstrap, topics, events_dsn
):
    current = lifecycle("evolve-1")  # what this version writes, as the baseline
    mid = current[0].ext_message_id
    accepted, resolved, *rest = current
    dispatched = rest[3]
    old_resolved = build.written(  # N-1: recipient.resolved v1, stored long ago
        resolved, schema_version=1, payload={"source": "vault"}, drop=("recipient_source",)
    )
    wider = build.written(dispatched, payload={"cost_micros": 1200})  # N+1: a field added
    later_version = build.written(rest[7], schema_version=9, payload={"region": "eu"})
    unreadable_version = build.written(
        rest[0], schema_version=9, event_id=uuid.uuid4(), drop=("attempt",)
    )
    unknown = build.written(
        accepted, type="message.translated", event_id=uuid.uuid4(), payload={"locale": "de"}
    )
    records = [
        accepted.to_bytes(),
        old_resolved,
        unknown,
        *(e.to_bytes() for e in rest[:3]),
        wider,
        *(e.to_bytes() for e in rest[4:7]),
        later_version,
        *(e.to_bytes() for e in rest[8:]),
        unreadable_version,
    ]
    before = {reason: skipped(reason) for reason in SkipReason}
    await produce_raw(
        kafka_bootstrap,
        topics.message_events,
        [(accepted.key, r) for r in records] + [(accepted.key, SENTINEL)],
    )

    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(current) + 2)
        async with pool.acquire() as conn:
            rows = {
                r["event_id"]: r
                for r in await conn.fetch("SELECT * FROM events WHERE stream_id = $1", mid)
            }
            state = await conn.fetchrow(
                "SELECT * FROM message_state WHERE ext_message_id = $1", mid
            )
            assert (await verify(conn))[2] == []

    # Stored exactly as written, whatever the version or type.
    assert len(rows) == len(current) + 2
    assert rows[resolved.event_id]["schema_version"] == 1
    assert '"source": "vault"' in rows[resolved.event_id]["payload"]
    assert '"cost_micros": 1200' in rows[dispatched.event_id]["payload"]
    assert rows[rest[7].event_id]["schema_version"] == 9
    assert {r["type"] for r in rows.values()} >= {"message.translated", "recipient.resolved"}
    # Projected as if every producer were this version; what it cannot read (the unknown
    # type, the newer version without a field it needs) only counts in the version, which
    # stays the stream's.
    assert (state["status"], state["stage"], state["provider_message_id"]) == (
        "opened",
        "dispatched",
        "pm-evolve-1",
    )
    assert state["version"] == len(rows)
    assert skipped(SkipReason.UNKNOWN_TYPE) == before[SkipReason.UNKNOWN_TYPE] + 1
    assert skipped(SkipReason.NEWER_VERSION) == before[SkipReason.NEWER_VERSION] + 1

    # Only the sentinel, produced last, was dead-lettered: nothing before it was.
    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=1)
    assert [r.value for r in dead] == [SENTINEL]

    # Read back from the store (the v1 row upcast again), the projection is the same.
    pool = await migrated_pool(events_dsn)
    try:
        assert await replay_from_store(pool, "replay_evolving", models=["projection"]) == len(rows)
        assert (await compare(pool, "replay_evolving"))["identical"]
    finally:
        await pool.close()
