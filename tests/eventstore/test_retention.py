"""Body retention: after the period, message bodies leave the event store, the lifecycle
stays, and every chain still verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.eventstore.replay import compare, replay_from_kafka
from services.eventstore.verify import verify
from tests.eventstore.support import (
    count,
    lifecycle,
    migrated_pool,
    produce,
    projector_process,
    running_projector,
    wait_for_events,
)
from tests.support.polling import eventually
from tests.support.processes import run_cli


async def _bodies(pool, stream) -> int:
    return await count(
        pool, "SELECT count(*) FROM events WHERE stream_id = $1 AND content IS NOT NULL", stream
    )


@pytest.mark.slow
async def test_retention_command_removes_old_bodies_and_keeps_the_lifecycle(
    kafka_bootstrap, topics, events_dsn, base_env
):
    now = datetime.now(UTC)
    old = lifecycle("old-1", start=now - timedelta(days=40))
    recent = lifecycle("new-1", start=now - timedelta(days=2))
    await produce(kafka_bootstrap, topics.message_events, old + recent)
    env = {**base_env, "DATABASE_URL": events_dsn, "BLINDPOST_BODY_RETENTION_DAYS": "365"}
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(old) + len(recent))

        nothing = run_cli(env, "events", "retention", "--format", "json")
        assert json.loads(nothing.stdout)["redactions_published"] == 0, nothing.stderr
        ran = run_cli(env, "events", "retention", "--days", "30", "--format", "json")
        assert json.loads(ran.stdout)["redactions_published"] == 1, ran.stderr

        old_id, recent_id = old[0].ext_message_id, recent[0].ext_message_id

        async def removed() -> bool:
            return await _bodies(pool, old_id) == 0

        await eventually(removed, within=30, what="the old body removed")
        assert await _bodies(pool, recent_id) == 1
        # Running it again changes nothing (the redaction event is stored once).
        again = run_cli(env, "events", "retention", "--days", "30", "--format", "json")
        assert json.loads(again.stdout)["redactions_published"] == 0
        await wait_for_events(pool, len(old) + len(recent) + 1)

        async with pool.acquire() as conn:
            assert (await verify(conn))[2] == []
        shown = json.loads(
            run_cli(env, "messages", "show", str(old_id), "--format", "json").stdout
        )
        assert [e["type"] for e in shown["events"]][:-1] == [e.type.value for e in old]
        assert shown["events"][-1]["type"] == "message.body_redacted"
        assert shown["events"][0]["content"] is None and shown["events"][0]["content_removed"]
        assert "content_sha256" in shown["events"][0]["payload"]
        assert shown["message"]["body_redacted"] is True
        assert shown["message"]["status"] == "opened"

    pool = await migrated_pool(events_dsn)
    try:
        await replay_from_kafka(pool, kafka_bootstrap, topics.message_events, "replay_kafka",
                                models=["projection"])
        assert (await compare(pool, "replay_kafka"))["identical"]
    finally:
        await pool.close()


@pytest.mark.slow
async def test_the_projector_removes_old_bodies_periodically(
    kafka_bootstrap, topics, events_dsn, base_env, tmp_path
):
    old = lifecycle("old-2", start=datetime.now(UTC) - timedelta(days=8))[:4]
    await produce(kafka_bootstrap, topics.message_events, old)
    service = projector_process(
        base_env,
        events_dsn,
        tmp_path,
        BLINDPOST_BODY_RETENTION_DAYS="7",
        BLINDPOST_RETENTION_INTERVAL_S="1",
    )
    await service.start()
    pool = await migrated_pool(events_dsn)
    try:
        await wait_for_events(pool, len(old) + 1)
        assert await _bodies(pool, old[0].ext_message_id) == 0
        async with pool.acquire() as conn:
            assert (await verify(conn))[2] == []
    finally:
        service.stop()
        await pool.close()
