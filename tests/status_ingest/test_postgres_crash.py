"""``blindpost run status-ingest`` rides out a PostgreSQL crash under its matcher: the
server dies while the matcher is inside a transaction (the connection closes under it, and
asyncpg reports an ``InterfaceError`` on leaving the transaction, which once stopped the
process); the same batch is retried until the server is back, then the same process goes
on matching."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.topics import Topics
from tests.status_ingest.conftest import ingest_env
from tests.support import events as build
from tests.support.kafka import publish
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.private_infra import postgres_crashed, private_postgres
from tests.support.processes import ServiceProcess

# The key the matcher locks a provider message id under (services/status_ingest/ingest.py).
LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 42))"


async def _matched(dsn: str, provider_message_id: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM provider_messages WHERE provider_message_id = $1",
            provider_message_id,
        )
        return bool(found)
    finally:
        await conn.close()


async def _waiting_on_lock(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
    )


@pytest.mark.slow
async def test_the_matcher_rides_out_a_postgres_crash_mid_transaction(
    base_env: dict[str, str], kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    async with private_postgres() as postgres:
        port = free_port()
        env = ingest_env(base_env, postgres.dsn, port)
        service = ServiceProcess("status-ingest", env, port, tmp_path / "ingest.log")
        await service.start()
        try:
            pid = service.running_pid()
            during, after = (f"pm-{when}-{uuid.uuid4().hex}" for when in ("during", "after"))
            # Holding the lock the matcher takes first keeps it inside its transaction.
            holder = await asyncpg.connect(postgres.dsn)
            await holder.execute(LOCK, during)
            event = build.dispatched(uuid.uuid4(), provider_message_id=during)
            await publish(kafka_bootstrap, topics.message_events, [event])
            await eventually(
                lambda: _waiting_on_lock(holder), within=20, what="the matcher mid-transaction"
            )

            async with postgres_crashed(postgres, service):
                # The retry's warning (not the crash's report), by the same process.
                await service.until_logged(
                    '"error": "InterfaceError", "retry_in_s"',
                    pid=pid,
                    what="the matcher to retry its batch",
                )
            holder.terminate()

            event = build.dispatched(uuid.uuid4(), provider_message_id=after)
            await publish(kafka_bootstrap, topics.message_events, [event])
            for provider_message_id in (during, after):
                await eventually(
                    lambda: _matched(postgres.dsn, provider_message_id),  # noqa: B023
                    within=30,
                    what="the dispatches sent during and after the crash matched",
                    details=service.log_tail,
                )
            assert service.running_pid() == pid
        finally:
            service.stop()
