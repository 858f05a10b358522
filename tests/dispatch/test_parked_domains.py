"""The parked-domain table on a real PostgreSQL: a batch of the log applied again never
re-parks a domain resumed since, and a hold racing a resume never strands a message."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import TopicPartition

from services.dispatch.ledger import Claim, Ledger, migrate
from services.dispatch.parked_domains import Held, Parked, ParkedDomains, Resumed
from tests.support.polling import eventually

DOMAIN = "promo.parked.example"
TP = TopicPartition("t.blindpost.message-events", 3)
PARKED = Parked(DOMAIN, uuid.uuid4(), 5, 1000, 0.005)


@pytest.fixture
async def pool(events_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(events_dsn)
    pool = await asyncpg.create_pool(events_dsn, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def _claimed(pool: asyncpg.Pool) -> uuid.UUID:
    mid = uuid.uuid4()
    await Ledger(pool, "email").claim([Claim(mid, "email", "smtp", b"{}")], lease_s=30)
    return mid


async def test_a_batch_applied_again_never_reparks_a_domain_resumed_since(pool):
    domains = ParkedDomains(pool, recheck_s=600)
    await domains.apply(TP, [(10, PARKED)], next_offset=11)
    mid = await _claimed(pool)
    assert await domains.hold([Held(mid, DOMAIN, 0)]) == {mid}
    await domains.apply(TP, [(20, Resumed(DOMAIN))], next_offset=21)
    assert not await domains.is_parked(DOMAIN)
    # The resume made the held message due at once, for the sweeper.
    row = await Ledger(pool, "email").get(mid)
    assert row is not None and row.state == "parked"
    assert await pool.fetchval("SELECT due_at <= now() FROM dispatch_ledger") is True
    # A former owner of the partition applying its older batch late changes nothing.
    await domains.apply(TP, [(10, PARKED)], next_offset=11)
    assert not await domains.is_parked(DOMAIN)
    assert (await domains.positions([TP]))[TP] == 21
    # A new critical level after the resume parks it again.
    await domains.apply(TP, [(30, PARKED)], next_offset=31)
    assert await domains.is_parked(DOMAIN)


async def test_a_hold_waits_for_a_resume_in_progress_and_then_holds_nothing(pool):
    domains = ParkedDomains(pool, recheck_s=600)
    await domains.apply(TP, [(0, PARKED)], next_offset=1)
    mid = await _claimed(pool)
    async with pool.acquire() as conn:
        resume = conn.transaction()
        await resume.start()
        await conn.execute("DELETE FROM dispatch_parked_domains WHERE sending_domain = $1", DOMAIN)
        hold = asyncio.create_task(domains.hold([Held(mid, DOMAIN, 0)]))
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
                " AND query LIKE '%FOR SHARE%'"
            ),
            within=10,
            what="the hold waiting on the resume's lock",
        )
        await resume.commit()
    # Not held: a held message with no parked domain left would wait for a resume that
    # has already happened.
    assert await hold == set()
    row = await Ledger(pool, "email").get(mid)
    assert row is not None and row.state == "sending"
