"""``blindpost vault ...`` and ``blindpost audit ...``: operator commands that work on the
vault database directly, with the vault's settings (database, KEKs, blind-index key)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from datetime import datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    vault = sub.add_parser("vault", help="the PII vault")
    vault_sub = vault.add_subparsers(dest="vault_command", required=True)
    imp = vault_sub.add_parser("import", help="bulk import subjects from JSONL or CSV")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=("jsonl", "csv"), help="default: from the file name")
    imp.add_argument("--strict", action="store_true", help="write nothing if any line is rejected")
    imp.add_argument("--batch-size", type=int, default=5000)
    imp.add_argument("--no-progress", action="store_true")
    imp.set_defaults(handler=_import)
    rotate = vault_sub.add_parser(
        "rotate-kek", help="re-wrap every data key with BLINDPOST_VAULT_ACTIVE_KEK"
    )
    rotate.add_argument("--no-progress", action="store_true")
    rotate.set_defaults(handler=_rotate)
    republish = vault_sub.add_parser(
        "publish-facts", help="publish every subject's facts again (e.g. for a new intake)"
    )
    republish.set_defaults(handler=_publish_facts)
    reindex = vault_sub.add_parser(
        "reindex", help="move the blind index to the active key (after a blind-index key rotation)"
    )
    reindex.set_defaults(handler=_reindex)

    audit = sub.add_parser("audit", help="the vault's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser("verify", help="check the hash chain; names the first bad row")
    check.set_defaults(handler=_verify)
    pii = audit_sub.add_parser("pii", help="who read this player's data, when, and why")
    pii.add_argument("--user", required=True, help="ext_user_id")
    pii.add_argument("--since", type=_time, help="ISO 8601 date or time")
    pii.add_argument("--format", choices=("csv", "json"), default="csv")
    pii.set_defaults(handler=_pii)


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.astimezone()


def _caller() -> str:
    return "cli:" + re.sub(r"[^A-Za-z0-9._-]", "", getpass.getuser())[:32]


def _settings():
    """The vault's settings, with its schema brought up to date (commands may run before
    the service ever started)."""
    from services.vault.app import MIGRATION_TABLE, MIGRATIONS
    from services.vault.settings import VaultSettings
    from shared.db import migrate_database

    settings = VaultSettings.from_env()
    asyncio.run(migrate_database(settings.database_url(), MIGRATIONS, MIGRATION_TABLE))
    return settings


def _import(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.importer import ImportAborted, import_file

    settings = _settings()
    keyring, blind_index = keys_from(settings)

    async def run():
        async with _publisher(settings) as publisher:
            return await import_file(
                args.file,
                dsn=settings.database_url(),
                keyring=keyring,
                blind_index=blind_index,
                publisher=publisher,
                caller=_caller(),
                fmt=args.format,
                default_region=settings.vault_default_region,
                strict=args.strict,
                batch_size=args.batch_size,
                progress=not args.no_progress,
            )

    try:
        report = asyncio.run(run())
    except ImportAborted as exc:
        print(f"import aborted, nothing written: {exc}", file=sys.stderr)
        return 2
    for rejected in report.rejected:
        print(f"line {rejected.line}: rejected: {rejected.field}: {rejected.reason}")
    print(report.summary() + f"; facts published for {report.facts_published}")
    return 1 if report.rejected else 0


def _rotate(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.operations import rotate_kek

    settings = _settings()
    keyring, _ = keys_from(settings)
    count = asyncio.run(
        rotate_kek(settings.database_url(), keyring, _caller(), progress=not args.no_progress)
    )
    print(f"re-wrapped {count} data keys with KEK {keyring.active_id}")
    return 0


def _reindex(_args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.reindex import reindex_blind_index

    settings = _settings()
    keyring, blind_index = keys_from(settings)
    count = asyncio.run(
        reindex_blind_index(settings.database_url(), keyring, blind_index, _caller())
    )
    print(f"re-indexed {count} subjects under blind-index key {blind_index.version}")
    return 0


def _publish_facts(_args: argparse.Namespace) -> int:
    import asyncpg

    from services.vault.importer import publish_facts

    settings = _settings()

    async def run() -> int:
        async with _publisher(settings) as publisher:
            conn = await asyncpg.connect(settings.database_url())
            try:
                return await publish_facts(conn, publisher)
            finally:
                await conn.close()

    print(f"published facts for {asyncio.run(run())} subjects")
    return 0


def _verify(_args: argparse.Namespace) -> int:
    from services.vault.operations import verify_chain

    verdict = asyncio.run(verify_chain(_settings().database_url()))
    print(verdict.describe())
    return 0 if verdict.ok else 1


def _pii(args: argparse.Namespace) -> int:
    from services.vault.operations import pii_report

    settings = _settings()
    print(
        asyncio.run(
            pii_report(settings.database_url(), args.user, args.since, args.format, _caller())
        ),
        end="",
    )
    return 0


class _publisher:
    """A Kafka publisher for the length of one command."""

    def __init__(self, settings) -> None:
        self.settings = settings

    async def __aenter__(self):
        from services.vault.publisher import KafkaPublisher
        from shared.kafka import start_producer

        self.producer = await start_producer(self.settings.kafka)
        return KafkaPublisher(self.producer, self.settings.topics)

    async def __aexit__(self, *_exc: object) -> None:
        await self.producer.stop()
