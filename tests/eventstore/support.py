"""Helpers for the event-store tests: a realistic message lifecycle, vault audit facts,
producing them, and a projector running in this process against the real broker and
database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.eventstore.app import MIGRATIONS, MIGRATIONS_TABLE
from services.eventstore.consumer import Projector
from shared.db import create_pool, migrate_database
from shared.domain import Channel, SmarticoStatus, ext_message_id_for
from shared.events import Event, MessageContent
from shared.kafka import start_consumer, start_producer
from shared.topics import Topics
from tests.support import events as build
from tests.support.kafka import end_offsets
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess


def lifecycle(
    uid: str | None = None,
    *,
    channel: Channel = Channel.EMAIL,
    ext_user_id: str = "player-1",
    start: datetime | None = None,
    provider: str = "smtp",
) -> list[Event]:
    """Every stage of one message, as the stages would emit them: accepted, resolved, a
    failed attempt and a retry, dispatched, provider statuses, callbacks (one retried)."""
    uid = uid or uuid.uuid4().hex
    mid = ext_message_id_for(channel, uid)
    t0 = start or datetime.now(UTC)

    def at(ms: int) -> datetime:
        return t0 + timedelta(milliseconds=ms)

    content = MessageContent(
        subject="Your weekly bonus", body="<p>Spin now</p>", text_body="Spin now"
    )
    s = SmarticoStatus
    return [
        build.accepted(
            uid,
            channel=channel,
            ext_user_id=ext_user_id,
            content=content,
            callback_url="http://127.0.0.1:9900/callback",
            at=at(0),
        ),
        build.resolved(mid, channel=channel, vault_request_id=f"req-{uid}", at=at(20)),
        build.attempted(mid, 1, channel=channel, provider=provider, at=at(30)),
        build.dispatch_failed(
            mid, 1, channel=channel, provider=provider, reason="connection_refused", at=at(40)
        ),
        build.attempted(mid, 2, channel=channel, provider=provider, at=at(1040)),
        build.dispatched(
            mid, 2, channel=channel, provider=provider, provider_message_id=f"pm-{uid}", at=at(1100)
        ),
        build.callback_attempted(mid, s.ACCEPTED, 1, at=at(1200)),
        build.callback_delivered(mid, s.ACCEPTED, 1, at=at(1201)),
        build.status_reported(
            mid, s.DELIVERED, provider=provider, provider_message_id=f"pm-{uid}", at=at(5000)
        ),
        build.callback_attempted(
            mid, s.DELIVERED, 1, outcome="retry", http_status=503, at=at(5100)
        ),
        build.callback_attempted(mid, s.DELIVERED, 2, at=at(7100)),
        build.callback_delivered(mid, s.DELIVERED, 2, at=at(7101)),
        build.status_reported(
            mid, s.OPENED, provider=provider, provider_status="open", at=at(60_000)
        ),
        build.callback_attempted(mid, s.OPENED, 1, at=at(60_100)),
        build.callback_delivered(mid, s.OPENED, 1, at=at(60_101)),
    ]


def vault_read(event: Event, *, ms_after: int = 10, decision: str = "read") -> dict[str, Any]:
    """The audit fact the vault publishes when the resolver reads the address."""
    return {
        "audit_id": str(uuid.uuid4()),
        "ext_message_id": str(event.ext_message_id),
        "ext_user_id": getattr(event.payload, "ext_user_id", "player-1"),
        "caller": "resolver",
        "scope": "resolver",
        "purpose": "dispatch",
        "fields": ["email"],
        "decision": decision,
        "at": (event.occurred_at + timedelta(milliseconds=ms_after)).isoformat(),
        "request_id": f"req-{getattr(event.payload, 'uid', None)}",
    }


async def produce(bootstrap: str, topic: str, events: list[Event]) -> None:
    await produce_raw(bootstrap, topic, [(e.key, e.to_bytes()) for e in events])


async def produce_raw(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    producer = await start_producer(bootstrap)
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_facts(bootstrap: str, topics: Topics, facts: list[dict[str, Any]]) -> None:
    await produce_raw(
        bootstrap,
        topics.vault_audit,
        [(f["ext_user_id"].encode(), json.dumps(f).encode()) for f in facts],
    )


async def migrated_pool(dsn: str) -> asyncpg.Pool:
    await migrate_database(dsn, MIGRATIONS, MIGRATIONS_TABLE)
    return await create_pool(dsn)


@asynccontextmanager
async def running_projector(
    bootstrap: str,
    topics: Topics,
    dsn: str,
    *,
    max_records: int = 500,
    started: list[Projector] | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """A projector in this process; ``started`` collects it, for tests that look inside."""
    pool = await migrated_pool(dsn)
    producer = await start_producer(bootstrap)
    consumer = await start_consumer(
        bootstrap,
        topics.group("projector"),
        [],
        max_poll_records=max_records,
        session_timeout_ms=6000,
    )
    projector = Projector(
        pool=pool, consumer=consumer, producer=producer, topics=topics, max_records=max_records
    )
    projector.subscribe()
    if started is not None:
        started.append(projector)
    task = asyncio.create_task(projector.run())
    try:
        yield pool
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await consumer.stop()
        await producer.stop()
        await pool.close()
    if task.done() and not task.cancelled() and task.exception():
        raise task.exception()  # type: ignore[misc]


async def count(pool: asyncpg.Pool, query: str, *args: object) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(query, *args))


async def wait_for_events(pool: asyncpg.Pool, expected: int, timeout_s: float = 30.0) -> None:
    async def done() -> bool:
        return await count(pool, "SELECT count(*) FROM events") >= expected

    await eventually(done, within=timeout_s, what=f"{expected} stored events")


async def wait_for_position(pool: asyncpg.Pool, bootstrap: str, topic: str) -> None:
    """Until the projector's stored positions reach where ``topic`` ends now: everything
    published before was handled (stored or skipped), so what is absent stays absent."""
    ends = await end_offsets(bootstrap, topic)

    async def reached() -> bool:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT partition, next_offset FROM projector_positions WHERE topic = $1", topic
            )
        stored = {r["partition"]: r["next_offset"] for r in rows}
        return all(stored.get(partition, 0) >= end for partition, end in ends.items())

    await eventually(reached, within=30, what=f"stored positions at the end of {topic}")


def projector_process(
    env: dict[str, str], dsn: str, log_folder: Path, **settings: str
) -> ServiceProcess:
    """``blindpost run projector`` on a free port over ``dsn``, with extra ``settings``."""
    port = free_port()
    env = {**env, "DATABASE_URL": dsn, "BLINDPOST_PROJECTOR_PORT": str(port), **settings}
    return ServiceProcess("projector", env, port, log_folder / "projector.log")
