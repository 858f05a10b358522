"""``blindpost dlq``: a dead-lettered callback listed with its reason, re-driven and
delivered once (a second re-drive changes nothing), each re-drive an event on the log; a
record a stage could not read listed, shown without its content, and put back on its
source topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

from services.dlq.letters import REDRIVEN_FROM
from shared.domain import Channel, SmarticoStatus
from shared.events import DeadLetterRedriven, Event, EventType
from tests.callback_relay import support as relay
from tests.eventstore.support import produce_raw
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.processes import run_cli

S = SmarticoStatus


async def dlq(env: dict[str, str], *args: str) -> Any:
    ran = await asyncio.to_thread(run_cli, env, "dlq", *args, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


async def test_a_dead_lettered_callback_is_redriven_and_delivered_once(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with relay.smartico("error") as endpoint, relay.smartico() as witness:
        env = relay.relay_env(
            base_env, events_dsn,
            f"http://127.0.0.1:{endpoint.port},http://127.0.0.1:{witness.port}",
            BLINDPOST_CALLBACK_RETRY_PERIOD_S="3",
        )
        mid, events = relay.lifecycle(Channel.SMS, endpoint.url, [S.DELIVERED])
        async with relay.running_relay(env):
            await relay.publish(kafka_bootstrap, topics, events)
            await read_topic(kafka_bootstrap, topics.callbacks_dead_letter, expect=2,
                             timeout_s=20)
            listed = await dlq(env, "list")
            assert [(d["stage"], d["reason_class"], d["ext_message_id"], d["redriven"])
                    for d in listed] == [("callback-relay", "retries_exhausted", str(mid),
                                          False)] * 2
            assert sorted(d["status"] for d in listed) == ["accepted", "delivered"]
            assert all(d["reason"].startswith("retry period over") for d in listed)

            endpoint.mode = "up"  # Smartico answers again
            first = await dlq(env, "redrive", "--reason", "retries_exhausted")
            assert first == {"selected": 2, "redriven": 2, "already_redriven": 0}
            await eventually(lambda: sum(endpoint.delivered().values()) == 2, within=20,
                             what="the re-driven callbacks delivered")
            again = await dlq(env, "redrive", "--reason", "retries_exhausted")
            assert again == {"selected": 2, "redriven": 0, "already_redriven": 2}
            assert all(d["redriven"] for d in await dlq(env, "list", "--kind", "callbacks"))
            await relay.relay_caught_up(kafka_bootstrap, topics, witness)

    assert endpoint.delivered() == Counter({(str(mid), "accepted"): 1, (str(mid), "delivered"): 1})
    log = [Event.from_bytes(r.value) for r in
           await read_topic(kafka_bootstrap, topics.message_events, timeout_s=5)]
    redriven = [payload_of(e, DeadLetterRedriven) for e in log
                if e.type is EventType.DEAD_LETTER_REDRIVEN]
    assert sorted((r.status, r.stage, r.reason[:17]) for r in redriven) == [
        (S.ACCEPTED, "callback-relay", "retry period over"),
        (S.DELIVERED, "callback-relay", "retry period over"),
    ]
    assert all(r.dead_letter.startswith(topics.callbacks_dead_letter) for r in redriven)


async def test_an_unreadable_record_is_listed_shown_and_put_back_on_its_source_topic(
    kafka_bootstrap, topics, base_env, events_dsn
) -> None:
    async with relay.smartico() as witness:
        env = relay.relay_env(base_env, events_dsn, f"http://127.0.0.1:{witness.port}")
        key = str(uuid.uuid4()).encode()
        secret = b'{"subject": "private words"'  # not JSON: poison for every stage
        await produce_raw(kafka_bootstrap, topics.message_events, [(key, secret)])
        async with relay.running_relay(env):
            await relay.relay_caught_up(kafka_bootstrap, topics, witness)
        (letter,) = await dlq(env, "list", "--kind", "records")
        assert letter["stage"] == "callback-relay"
        assert letter["reason"] == "ValidationError: malformed record"
        assert letter["ext_message_id"] == key.decode()
        assert letter["source"].startswith(topics.message_events + "/")
        shown = await dlq(env, "show", letter["id"])
        assert shown["record"] == {"bytes": len(secret)}
        assert "private" not in json.dumps(shown)

        assert (await dlq(env, "redrive", letter["id"]))["redriven"] == 1
        assert (await dlq(env, "redrive", "--all"))["redriven"] == 0

    records = await read_topic(kafka_bootstrap, topics.message_events, timeout_s=5)
    back = [r for r in records if dict(r.headers or ()).get(REDRIVEN_FROM)]
    assert [(r.key, r.value) for r in back] == [(key, secret)]
    events = [Event.from_bytes(r.value) for r in records if r.value.startswith(b'{"event_id"')]
    (redriven,) = [payload_of(e, DeadLetterRedriven) for e in events
                   if e.type is EventType.DEAD_LETTER_REDRIVEN]
    assert redriven.redriven_to == topics.message_events and redriven.status is None
