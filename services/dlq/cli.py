"""``blindpost dlq list|show|redrive``: every dead-letter topic, one vocabulary of reasons."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.dlq.letters import KINDS, DeadLetter, Selection
from services.eventstore.cli import (
    add_format,
    emit,
    instant,
    log_to_stderr,
    progress_to_stderr,
    run_async,
)
from services.eventstore.settings import EventStoreSettings


def register(sub: argparse._SubParsersAction) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: list, show and re-drive them")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="what failed, why and when, oldest first")
    _select(listing)
    add_format(listing)
    listing.set_defaults(handler=run_async(_list))
    show = dlq_sub.add_parser("show", help="one dead letter (never its content)")
    show.add_argument("id", help="as listed, e.g. callbacks/0/12")
    add_format(show)
    show.set_defaults(handler=run_async(_show))
    redrive = dlq_sub.add_parser(
        "redrive", help="re-drive dead letters, each once, each an event on the log"
    )
    _select(redrive)
    redrive.add_argument("--all", action="store_true", help="every dead letter")
    add_format(redrive)
    redrive.set_defaults(handler=run_async(_redrive))


def _select(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="dead letters by id")
    parser.add_argument("--kind", choices=list(KINDS), help="only this dead-letter topic")
    parser.add_argument("--reason", help="a reason class (as listed) or the start of a reason")
    parser.add_argument("--since", type=instant, help="set aside at or after (ISO 8601)")
    parser.add_argument("--until", type=instant, help="set aside before (ISO 8601)")


def _selection(args: argparse.Namespace) -> Selection:
    if args.dlq_command == "show":
        return Selection(ids=[args.id])
    return Selection(args.ids, args.reason, args.since, args.until, args.kind)


@asynccontextmanager
async def _opened() -> AsyncIterator[tuple[EventStoreSettings, asyncpg.Pool]]:
    from services.callback_relay.store import MIGRATION_TABLE, MIGRATIONS
    from services.dlq import redrive
    from shared.db import create_pool, migrate_database

    settings = EventStoreSettings.from_env()
    log_to_stderr("WARNING")
    dsn = settings.database.dsn()
    await migrate_database(dsn, redrive.MIGRATIONS, redrive.MIGRATIONS_TABLE)
    await migrate_database(dsn, MIGRATIONS, MIGRATION_TABLE)
    pool = await create_pool(dsn, max_size=2)
    try:
        yield settings, pool
    finally:
        await pool.close()


async def _redriven(pool: asyncpg.Pool, letters: list[DeadLetter]) -> set[str]:
    rows = await pool.fetch(
        "SELECT failure FROM dlq_redrives WHERE failure = ANY($1::text[])",
        [letter.identity for letter in letters],
    )
    return {row["failure"] for row in rows}


async def _found(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    from services.dlq.redrive import dead_letters

    async with _opened() as (settings, pool):
        letters = [
            letter async for letter in dead_letters(
                settings.kafka, settings.topics, _selection(args), progress_to_stderr
            )
        ]
        done = await _redriven(pool, letters)
    rows = [{**letter.summary(), "redriven": letter.identity in done} for letter in letters]
    return rows, letters


async def _list(args: argparse.Namespace) -> int:
    rows, _letters = await _found(args)
    text = "\n".join(
        [f"{len(rows)} dead letters"]
        + [
            f"{r['id']:<18} {r['at'][:19]}  {r['stage']:<16} {r['reason_class']:<20} "
            f"{r['ext_message_id'] or '-'} {r['status'] or ''}"
            f"{'  (re-driven)' if r['redriven'] else ''}"
            for r in rows
        ]
    )
    emit(args, rows, text)
    return 0


async def _show(args: argparse.Namespace) -> int:
    rows, letters = await _found(args)
    if not letters:
        print(f"dead letter {args.id} not found", file=sys.stderr)
        return 1
    details = {**letters[0].details(), "redriven": rows[0]["redriven"]}
    emit(args, details, "\n".join(f"{k:<15} {v}" for k, v in details.items()))
    return 0


async def _redrive(args: argparse.Namespace) -> int:
    from services.dlq.redrive import dead_letters, redrive
    from shared.kafka import start_producer

    selection = _selection(args)
    if not (selection.names_any or args.all):
        print("name the dead letters to re-drive (ids, --reason, --since/--until), or --all",
              file=sys.stderr)
        return 2
    async with _opened() as (settings, pool):
        producer = await start_producer(settings.kafka)
        try:
            letters = dead_letters(settings.kafka, settings.topics, selection, progress_to_stderr)
            outcome = await redrive(pool, producer, settings.topics, letters, progress_to_stderr)
        finally:
            await producer.stop()
    document = {"selected": outcome.selected, "redriven": outcome.redriven,
                "already_redriven": outcome.already}
    emit(args, document, f"{outcome.redriven} dead letters re-driven "
                          f"({outcome.already} of the {outcome.selected} selected were already)")
    return 0
