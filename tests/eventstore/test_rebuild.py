"""``blindpost replay`` rebuilds the callback relay's store from the log with zero extra
calls to Smartico, and ``--promote`` swaps a rebuild in only when it equals the live
tables (or the operator accepted the difference by name)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from shared.domain import Channel, SmarticoStatus
from tests.callback_relay import support as relay
from tests.eventstore.support import lifecycle, produce, running_projector, wait_for_events
from tests.support.databases import fetch
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.processes import run_cli

S = SmarticoStatus


async def _cli(env: dict[str, str], *args: str) -> tuple[int, dict, str]:
    """The command in a thread: a relay served by this test's loop keeps running."""
    ran = await asyncio.to_thread(run_cli, env, *args, "--format", "json")
    return ran.returncode, json.loads(ran.stdout) if ran.stdout.strip() else {}, ran.stderr


async def test_the_callback_store_dropped_and_rebuilt_calls_smartico_no_more(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with relay.smartico() as endpoint, relay.smartico() as witness:
        env = relay.relay_env(
            base_env, events_dsn, f"http://127.0.0.1:{endpoint.port},http://127.0.0.1:{witness.port}"
        )
        events = []
        expected: Counter[tuple[str, str]] = Counter()
        for channel in (Channel.EMAIL, Channel.SMS, Channel.CIM) * 2:
            mid, lifecycle_events = relay.lifecycle(channel, endpoint.url, [S.DELIVERED, S.OPENED])
            events += lifecycle_events
            expected.update((str(mid), s.value) for s in (S.ACCEPTED, S.DELIVERED, S.OPENED))
        async with relay.running_relay(env):
            await relay.publish(kafka_bootstrap, topics, events)
            await eventually(lambda: endpoint.delivered() == expected, within=30,
                             what="every status called back")
            # Each call's attempted and delivered events are on the log too.
            await read_topic(kafka_bootstrap, topics.message_events,
                             expect=len(events) + 2 * len(expected), timeout_s=20)

        # The store is lost.
        await fetch(events_dsn, "TRUNCATE callback_messages, callback_outbox, callback_offsets")
        code, report, stderr = await _cli(
            {**env}, "replay", "--from", "kafka", "--model", "callbacks", "--promote",
            "--accept", "callback_messages", "--accept", "callback_outbox",
        )
        assert code == 0, stderr
        assert report["promoted"]["accepted"] == ["callback_messages", "callback_outbox"]
        assert report["tables"]["callback_outbox"]["rebuilt"]["rows"] == len(expected)
        states = await fetch(events_dsn, "SELECT state, count(*) FROM callback_outbox GROUP BY 1")
        assert {r["state"]: r["count"] for r in states} == {"delivered": len(expected)}

        async with relay.running_relay(env):
            # New messages are called back, so the relay has read the log past the old ones.
            await relay.relay_caught_up(kafka_bootstrap, topics, witness)
    assert endpoint.delivered() == expected
    assert len(endpoint.requests) == len(expected)  # zero extra calls


async def test_promote_swaps_an_equal_rebuild_and_refuses_a_different_one(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    events = [e for n in range(5) for e in lifecycle(f"promote-{n}")]
    await produce(kafka_bootstrap, topics.message_events, events)
    env = {**base_env, "DATABASE_URL": events_dsn}
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(events))
        code, report, stderr = await _cli(env, "replay", "--model", "projection", "--promote")
        assert code == 0, stderr
        assert report["promoted"] == {
            "tables": ["message_state", "message_counts"], "accepted": [],
            "previous": "replay_previous",
        }
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM replay_previous.message_state") == 5
            mid = await conn.fetchval(
                "UPDATE message_state SET attempts = 99 WHERE ctid = "
                "(SELECT ctid FROM message_state LIMIT 1) RETURNING ext_message_id"
            )

        code, report, stderr = await _cli(env, "replay", "--model", "projection", "--promote")
        assert code == 1
        assert "message_state: live 5 rows" in stderr and "look: psql" in stderr
        assert "--accept message_state" in stderr and "message_counts" not in stderr
        assert "promoted" not in report and list(report["refused"]) == ["message_state"]
        async with pool.acquire() as conn:  # the query it gives shows the row both ways
            look = await conn.fetch(report["refused"]["message_state"]["look"])
        assert sorted((r["side"], r["ext_message_id"], r["attempts"]) for r in look) == [
            ("only live", mid, 99), ("only rebuilt", mid, 2),
        ]
        async with pool.acquire() as conn:  # nothing was changed
            assert await conn.fetchval(
                "SELECT attempts FROM message_state WHERE ext_message_id = $1", mid
            ) == 99

    # With the projector stopped, the operator accepts the rebuild: the live row is right again.
    code, report, stderr = await _cli(
        env, "replay", "--model", "projection", "--promote", "--accept", "message_state"
    )
    assert code == 0, stderr
    assert report["promoted"]["accepted"] == ["message_state"]
    live = await fetch(events_dsn, "SELECT attempts FROM message_state WHERE ext_message_id = $1",
                      mid)
    previous = await fetch(
        events_dsn, "SELECT attempts FROM replay_previous.message_state WHERE ext_message_id = $1",
        mid,
    )
    assert (live[0]["attempts"], previous[0]["attempts"]) == (2, 99)
