"""The projector as a real process rides out a PostgreSQL crash: its readiness fails while
the database is away, the batch in hand is retried while the server refuses connections
(``CannotConnectNowError``, which once stopped the process), and the same process stores
what was sent meanwhile once the server is back."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.events import Event
from shared.topics import Topics
from tests.eventstore.support import lifecycle, produce, projector_process
from tests.support.polling import eventually
from tests.support.private_infra import postgres_crashed, private_postgres


def _accepted(uid: str) -> Event:
    return lifecycle(uid)[0]


async def _stored(dsn: str, event: Event) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM events WHERE event_id = $1", event.event_id
        )
        return bool(found)
    finally:
        await conn.close()


@pytest.mark.slow
async def test_the_projector_rides_out_a_postgres_crash(
    base_env: dict[str, str], kafka_bootstrap: str, topics: Topics, tmp_path
) -> None:
    async with private_postgres() as postgres:
        service = projector_process(base_env, postgres.dsn, tmp_path)
        await service.start()
        try:
            pid = service.running_pid()
            before, during, after = (_accepted(f"{when}-{uuid.uuid4().hex}") for when in "bda")
            await produce(kafka_bootstrap, topics.message_events, [before])
            await eventually(lambda: _stored(postgres.dsn, before), within=20, what="stored")

            async with postgres_crashed(postgres, service):
                await produce(kafka_bootstrap, topics.message_events, [during])
                # The retry's warning (not the crash's report), by the same process.
                await service.until_logged(
                    '"error": "CannotConnectNowError", "retry_in_s"',
                    pid=pid,
                    what="the projector to meet a server refusing connections",
                )

            await produce(kafka_bootstrap, topics.message_events, [after])
            for event in (during, after):
                await eventually(
                    lambda: _stored(postgres.dsn, event),  # noqa: B023 - awaited in the loop
                    within=30,
                    what="the events sent during and after the crash stored",
                    details=service.log_tail,
                )
            assert service.running_pid() == pid
        finally:
            service.stop()
