"""Durable before it answers: SIGKILL intake right after it answered 0 for a batch, start
it again, and every accepted message is on the event log exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from shared.domain import Channel
from shared.events import Event
from shared.topics import Topics
from tests.intake.conftest import SECRET, body_for, facts, publish_facts, wait_for_directory
from tests.support.kafka import read_topic
from tests.support.processes import ServiceProcess

BATCH = 300


async def _send(session: aiohttp.ClientSession, port: int, channel: Channel, body: dict) -> dict:
    async with session.post(
        f"http://127.0.0.1:{port}/v1/{channel.value}", json=body, headers={"Authorization": SECRET}
    ) as response:
        assert response.status == 200
        return await response.json()


@pytest.mark.slow
async def test_sigkill_right_after_answering_loses_nothing_and_duplicates_nothing(
    intake_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    events_dsn: str,
    tmp_path: Path,
):
    port = int(intake_env["BLINDPOST_INTAKE_PORT"])
    process = ServiceProcess("intake", intake_env, port, tmp_path / "intake.log")
    await process.start()
    try:
        user = f"p-{uuid.uuid4().hex[:8]}"
        await publish_facts(kafka_bootstrap, topics, facts(user, set(Channel)))
        await wait_for_directory(events_dsn, user)
        requests = [
            (channel, body_for(channel, user))
            for channel in (
                Channel.EMAIL,
                Channel.SMS,
                Channel.VIBER,
                Channel.WHATSAPP,
                Channel.CIM,
            )
            for _ in range(BATCH // 5)
        ]
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(_send(session, port, c, b) for c, b in requests))
        process.kill()  # the moment the last answer arrived: no flush, no shutdown

        accepted = [a["ext_message_id"] for a in answers if a["error_code"] == 0]
        assert len(accepted) == BATCH, Counter(a["error_code"] for a in answers)

        await process.start()  # a fresh process on the same settings
        records = await read_topic(kafka_bootstrap, topics.message_events, expect=BATCH)
        events = [Event.from_bytes(r.value) for r in records]
        per_message = Counter(str(e.ext_message_id) for e in events)
        assert set(per_message) == set(accepted)
        assert all(count == 1 for count in per_message.values())
        assert len({e.event_id for e in events}) == BATCH

        # Smartico retries the whole batch against the new process: the same ids, and
        # whatever is published again carries the same event ids (stored once).
        async with aiohttp.ClientSession() as session:
            again = await asyncio.gather(*(_send(session, port, c, b) for c, b in requests))
        assert [a["ext_message_id"] for a in again] == accepted
        records = await read_topic(kafka_bootstrap, topics.message_events, expect=BATCH)
        assert {Event.from_bytes(r.value).event_id for r in records} == {e.event_id for e in events}
    finally:
        process.stop()
