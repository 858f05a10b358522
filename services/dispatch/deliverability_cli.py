"""``blindpost deliverability parked|resume``: the sending domains whose mail the e-mail
dispatcher parks (``BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS``), and resuming one.

``resume`` is an operator's decision that a domain may send again: it appends
``deliverability.domain_resumed`` to the event log (the dispatcher follows it and sends the
held mail, once each).  The reason is required and kept with the operator's name in the
dispatch database (``dispatch_domain_resumes``), never in the event: the same rule as a
suppression's removal.  The row commits only once the log has the event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from services.eventstore.cli import add_format, emit, log_to_stderr, run_async
from shared.settings import BlindpostSettings, EventsDatabase

PRODUCER = "cli"


class DeliverabilityCliSettings(BlindpostSettings):
    database: EventsDatabase  # the e-mail dispatcher's database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("deliverability", help="sending domains parked for complaints")
    commands = parser.add_subparsers(dest="deliverability_command", required=True)
    parked = commands.add_parser("parked", help="the parked sending domains, and mail held")
    add_format(parked)
    parked.set_defaults(handler=run_async(_parked))
    resume = commands.add_parser("resume", help="send a parked domain's mail again")
    resume.add_argument("domain", help="the sending domain, e.g. news.operator.example")
    resume.add_argument("--reason", required=True, help="why (kept in the dispatch database)")
    resume.add_argument(
        "--wait-s", type=float, default=30.0, help="wait this long for the dispatcher to apply it"
    )
    resume.set_defaults(handler=run_async(_resume))


@asynccontextmanager
async def _opened() -> AsyncIterator[tuple[DeliverabilityCliSettings, asyncpg.Pool]]:
    from services.dispatch.ledger import migrate
    from shared.db import create_pool

    settings = DeliverabilityCliSettings.from_env()
    log_to_stderr("WARNING")
    dsn = settings.database.dsn()
    await migrate(dsn)  # a command may run before the dispatcher ever started
    pool = await create_pool(dsn, max_size=2)
    try:
        yield settings, pool
    finally:
        await pool.close()


async def _parked(args: argparse.Namespace) -> int:
    from services.dispatch.parked_domains import ParkedDomains

    async with _opened() as (_settings, pool):
        rows = await ParkedDomains(pool, recheck_s=0).listing()
    text = "\n".join(
        [f"{len(rows)} parked sending domains"]
        + [
            f"{r['sending_domain']:<32} since {r['parked_at'][:19]}  complaints "
            f"{r['complaints']}/{r['sent']} ({r['ratio']:.2%})  {r['held']} messages held"
            for r in rows
        ]
    )
    emit(args, rows, text)
    return 0


async def _resume(args: argparse.Namespace) -> int:
    from services.dispatch.parked_domains import ParkedDomains
    from services.vault.cli import operator_caller

    domain = args.domain.strip().lower()
    reason = " ".join(args.reason.split())
    if not reason:
        print("a reason is required", file=sys.stderr)
        return 2
    async with _opened() as (settings, pool):
        domains = ParkedDomains(pool, recheck_s=0)
        held = [r["held"] for r in await domains.listing() if r["sending_domain"] == domain]
        if not held:
            print(f"{domain} is not parked", file=sys.stderr)
            return 1
        await _append_resume(settings, pool, domain, reason, operator_caller())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.wait_s
        while await domains.is_parked(domain):
            if loop.time() >= deadline:
                print(
                    f"resumed {domain}: appended to the event log; the e-mail dispatcher "
                    "has not applied it yet (is it running, with "
                    "BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS?)"
                )
                return 0
            await asyncio.sleep(0.2)
    print(f"resumed {domain}: its held mail goes out now ({held[0]} messages)")
    return 0


async def _append_resume(
    settings: DeliverabilityCliSettings,
    pool: asyncpg.Pool,
    domain: str,
    reason: str,
    operator: str,
) -> None:
    """The reason's row commits only once the event log has the event."""
    from shared.events import DeliverabilityDomainResumed, Event, domain_stream_id
    from shared.kafka import start_producer

    at = datetime.now(UTC)
    payload = DeliverabilityDomainResumed(sending_domain=domain, resumed_by=operator)
    event = Event.create(
        domain_stream_id(domain),
        payload,
        PRODUCER,
        discriminator=(at.isoformat(),),
        occurred_at=at,
    )
    producer = await start_producer(settings.kafka)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO dispatch_domain_resumes"
                " (event_id, sending_domain, resumed_by, reason, resumed_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                event.event_id,
                domain,
                operator,
                reason,
                at,
            )
            sent = await producer.send(
                settings.topics.message_events, event.to_bytes(), key=event.key
            )
            await sent
    finally:
        await producer.stop()
