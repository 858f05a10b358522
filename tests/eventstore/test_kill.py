"""The projector as a real process (``blindpost run projector``), SIGKILLed while a batch's
transaction is open, then restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncpg
import pytest

from services.eventstore.replay import compare, replay_from_store
from services.eventstore.verify import verify
from tests.eventstore.support import (
    count,
    lifecycle,
    migrated_pool,
    produce,
    projector_process,
)
from tests.support.polling import eventually


async def _write_transaction_open(conn: asyncpg.Connection) -> bool:
    """Another session of this database is inside a transaction that has written rows."""
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
    )


@pytest.mark.slow
async def test_projector_killed_mid_batch_loses_and_doubles_nothing(
    kafka_bootstrap, topics, events_dsn, base_env, tmp_path
):
    messages = [lifecycle(f"kill-{n}", ext_user_id=f"player-{n % 37}") for n in range(400)]
    events = [e for m in messages for e in m]
    await produce(kafka_bootstrap, topics.message_events, events)
    # Small batches, so the kill lands inside one; a short session, so the restart rejoins fast.
    small_batches = {
        "BLINDPOST_PROJECTOR_MAX_RECORDS": "40",
        "BLINDPOST_PROJECTOR_SESSION_TIMEOUT_MS": "6000",
    }
    service = projector_process(base_env, events_dsn, tmp_path, **small_batches)
    pool = await migrated_pool(events_dsn)
    try:
        await service.start()
        async with pool.acquire() as watcher:

            async def mid_batch() -> bool:
                stored = await watcher.fetchval("SELECT count(*) FROM events")
                return stored > 0 and await _write_transaction_open(watcher)

            await eventually(mid_batch, within=60, what="a batch in flight")
            service.kill()
        stored_at_kill = await count(pool, "SELECT count(*) FROM events")
        assert 0 < stored_at_kill < len(events), "the kill did not land mid-run"

        await service.start()

        async def all_stored() -> bool:
            return await count(pool, "SELECT count(*) FROM events") >= len(events)

        await eventually(all_stored, within=90, what="every event stored after the restart")
        service.stop()

        assert await count(pool, "SELECT count(*) FROM events") == len(events)
        assert await count(pool, "SELECT count(DISTINCT event_id) FROM events") == len(events)
        async with pool.acquire() as conn:
            streams, rows, problems = await verify(conn)
            assert (streams, rows, problems) == (len(messages), len(events), [])
            # Each message's projection applied each of its events exactly once.
            mismatched = await conn.fetchval(
                "SELECT count(*) FROM message_state m JOIN streams s "
                "ON s.stream_id = m.ext_message_id WHERE m.version <> s.version"
            )
            assert mismatched == 0
            assert await conn.fetchval("SELECT count(*) FROM message_state") == len(messages)
            counts = await conn.fetch("SELECT * FROM message_counts WHERE messages <> 0")
        assert [(c["status"], c["channel"], c["messages"]) for c in counts] == [
            ("opened", "email", len(messages))
        ]
        await replay_from_store(pool, "replay_after_kill", models=["projection"])
        assert (await compare(pool, "replay_after_kill"))["identical"]
    finally:
        service.kill()
        await pool.close()
