"""Operator commands: ``blindpost replay`` (``replay_cli.py``), ``blindpost messages
show|find`` and ``blindpost events verify|retention``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from shared.domain import Channel, SmarticoStatus


def register(sub: argparse._SubParsersAction) -> None:
    from services.eventstore import replay_cli

    replay_cli.register(sub)

    messages = sub.add_parser("messages", help="message timelines and search")
    messages_sub = messages.add_subparsers(dest="messages_command", required=True)
    show = messages_sub.add_parser("show", help="a message's timeline and the vault reads for it")
    show.add_argument("ext_message_id", type=uuid.UUID)
    add_format(show)
    show.set_defaults(handler=run_async(_show))
    find = messages_sub.add_parser("find", help="messages by user, uid, status, channel, time")
    find.add_argument("--ext-user-id")
    find.add_argument("--uid")
    find.add_argument("--status", choices=[s.value for s in SmarticoStatus])
    find.add_argument("--channel", choices=[c.value for c in Channel])
    find.add_argument("--since", type=instant,
                      help="accepted at or after (ISO 8601)")
    find.add_argument("--until", type=instant, help="accepted before (ISO 8601)")
    find.add_argument("--limit", type=int, default=100)
    add_format(find)
    find.set_defaults(handler=run_async(_find))

    events = sub.add_parser("events", help="the event store")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    verify = events_sub.add_parser("verify", help="check every stream's hash chain")
    verify.add_argument("--stream", type=uuid.UUID, help="only this ext_message_id")
    add_format(verify)
    verify.set_defaults(handler=run_async(_verify))
    retention = events_sub.add_parser(
        "retention", help="remove message bodies older than the retention period"
    )
    retention.add_argument("--days", type=int, help="default: BLINDPOST_BODY_RETENTION_DAYS")
    add_format(retention)
    retention.set_defaults(handler=run_async(_retention))


def instant(text: str) -> datetime:
    """ISO 8601; without an offset, UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run_async(
    handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    return lambda args: asyncio.run(handler(args))


def emit(args: argparse.Namespace, document: Any, text: str) -> None:
    print(json.dumps(document, indent=2) if args.format == "json" else text)


def progress_to_stderr(text: str) -> None:
    """How far a long command is, on stderr: stdout stays the answer."""
    print(text, file=sys.stderr, flush=True)


def log_to_stderr(level: str) -> None:
    """Redacted logs as every service has them, but on stderr: stdout is the answer
    (``--format json`` pipes into ``jq``)."""
    import logging

    import structlog

    from shared.logging import configure_logging

    configure_logging("blindpost-cli", level, "console")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


async def open_pool():
    from services.eventstore.app import MIGRATIONS, MIGRATIONS_TABLE
    from services.eventstore.settings import EventStoreSettings
    from shared.db import create_pool, migrate_database

    settings = EventStoreSettings.from_env()
    log_to_stderr("WARNING")
    await migrate_database(settings.database.dsn(), MIGRATIONS, MIGRATIONS_TABLE)
    return settings, await create_pool(settings.database.dsn(), max_size=4)


async def _show(args: argparse.Namespace) -> int:
    from services.eventstore.queries import timeline
    from services.eventstore.render import timeline_text

    _settings, pool = await open_pool()
    try:
        async with pool.acquire() as conn:
            view = await timeline(conn, args.ext_message_id)
    finally:
        await pool.close()
    if view is None:
        print(f"message {args.ext_message_id} not found", file=sys.stderr)
        return 1
    emit(args, view, timeline_text(view))
    return 0


async def _find(args: argparse.Namespace) -> int:
    from services.eventstore.queries import Filter, find
    from services.eventstore.render import messages_text

    _settings, pool = await open_pool()
    query = Filter(args.ext_user_id, args.uid, args.status, args.channel, args.since,
                   args.until, args.limit)
    try:
        async with pool.acquire() as conn:
            found = await find(conn, query)
    finally:
        await pool.close()
    emit(args, found, messages_text(found))
    return 0


async def _verify(args: argparse.Namespace) -> int:
    from services.eventstore.render import verification_text
    from services.eventstore.verify import verify

    _settings, pool = await open_pool()
    try:
        async with pool.acquire() as conn:
            streams, rows, problems = await verify(conn, args.stream)
    finally:
        await pool.close()
    document = {
        "verified": not problems,
        "streams": streams,
        "rows": rows,
        "first_bad_row": _problem(problems[0]) if problems else None,
        "problems": [_problem(p) for p in problems],
    }
    emit(args, document, verification_text(streams, rows, problems))
    return 0 if not problems else 1


def _problem(problem: Any) -> dict[str, Any]:
    return {
        "stream_id": str(problem.stream_id),
        "version": problem.version,
        "row": problem.position,
        "event_id": str(problem.event_id) if problem.event_id else None,
        "reason": problem.reason,
    }


async def _retention(args: argparse.Namespace) -> int:
    from services.eventstore.retention import publish_redactions
    from shared.kafka import start_producer

    settings, pool = await open_pool()
    days = args.days or settings.body_retention_days
    producer = await start_producer(settings.kafka)
    try:
        published = await publish_redactions(
            pool, producer, settings.topics.message_events, days,
            limit=settings.retention_batch,
        )
    finally:
        await producer.stop()
        await pool.close()
    emit(
        args,
        {"retention_days": days, "redactions_published": published},
        f"{published} message bodies older than {days} days scheduled for removal "
        "(the projector removes them as it stores each message.body_redacted event)",
    )
    return 0
