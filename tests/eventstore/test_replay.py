"""``blindpost replay`` rebuilds the projections, from the event store and from the Kafka
topic from its beginning, and they equal the live ones (by checksum)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from services.eventstore.replay import compare, replay_from_kafka, replay_from_store
from shared.domain import Channel
from tests.eventstore.support import (
    lifecycle,
    migrated_pool,
    produce,
    running_projector,
    wait_for_events,
)
from tests.support.processes import run_cli


def _mixed_traffic() -> list:
    """Several channels and users, shuffled across messages (each message keeps its own
    order, as one partition does), with some messages cut short and some re-emitted."""
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    streams = []
    for n in range(60):
        channel = list(Channel)[n % len(Channel)]
        events = lifecycle(
            f"r{n}",
            channel=channel,
            ext_user_id=f"player-{n % 9}",
            start=start + timedelta(minutes=n),
        )
        streams.append(events[: rng.randint(1, len(events))])
    merged = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        merged.append(stream.pop(0))
        if rng.random() < 0.05:
            merged.append(merged[-1])  # re-emitted
    return merged


async def test_replay_from_the_store_and_from_kafka_equals_the_live_projection(
    kafka_bootstrap, topics, events_dsn, base_env
):
    events = _mixed_traffic()
    distinct = len({e.event_id for e in events})
    await produce(kafka_bootstrap, topics.message_events, events)
    async with running_projector(kafka_bootstrap, topics, events_dsn, max_records=37) as pool:
        await wait_for_events(pool, distinct)

    pool_ = await migrated_pool(events_dsn)
    try:
        assert await replay_from_store(pool_, "replay_store", models=["projection"]) == distinct
        from_store = await compare(pool_, "replay_store")
        assert from_store["identical"], from_store
        assert from_store["live"]["messages"] == 60

        replayed = await replay_from_kafka(
            pool_, kafka_bootstrap, topics.message_events, "replay_kafka", models=["projection"]
        )
        assert replayed == distinct
        from_kafka = await compare(pool_, "replay_kafka")
        assert from_kafka["identical"], from_kafka
        assert from_kafka["rebuilt"] == from_store["rebuilt"]
        assert sum(c["messages"] for c in from_kafka["counts"]) == 60

        # The command does the same, and says so.
        env = {**base_env, "DATABASE_URL": events_dsn}
        for source in ("store", "kafka"):
            ran = run_cli(
                env, "replay", "--from", source, "--model", "projection", "--check", "--format",
                "json",
            )
            assert ran.returncode == 0, ran.stderr
            report = json.loads(ran.stdout)
            assert report["identical"] and report["events"] == distinct
            assert report["rebuilt"] == from_store["rebuilt"]

        # A changed live row is noticed: the checksum really compares the projections.
        async with pool_.acquire() as conn:
            await conn.execute(
                "UPDATE message_state SET attempts = attempts + 1 WHERE ctid = "
                "(SELECT ctid FROM message_state LIMIT 1)"
            )
        assert not (await compare(pool_, "replay_store"))["identical"]
        changed = run_cli(env, "replay", "--model", "projection", "--check")
        assert changed.returncode == 1 and "DIFFERENT" in changed.stdout
    finally:
        await pool_.close()
