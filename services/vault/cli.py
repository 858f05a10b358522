"""``blindpost vault ...`` and ``blindpost audit ...``: operator commands that work on the
vault database directly, with the vault's settings (database, KEKs, blind-index key)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from collections.abc import Callable
from pathlib import Path


def command(
    subparsers: argparse._SubParsersAction, name: str, handler: Callable[..., int], help: str
) -> argparse.ArgumentParser:
    """One subcommand and the function that runs it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


def register(sub: argparse._SubParsersAction) -> None:
    vault = sub.add_parser("vault", help="the PII vault")
    vault_sub = vault.add_subparsers(dest="vault_command", required=True)
    imp = command(vault_sub, "import", _import, help="bulk import subjects from JSONL or CSV")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=("jsonl", "csv"), help="default: from the file name")
    imp.add_argument("--strict", action="store_true", help="write nothing if any line is rejected")
    imp.add_argument("--batch-size", type=int, default=5000)
    imp.add_argument("--no-progress", action="store_true")
    imp.add_argument(
        "--override-erasure",
        metavar="REASON",
        help="write erased subjects again (each one audited with this reason); without it "
        "their lines are rejected",
    )
    rotate = command(
        vault_sub,
        "rotate-kek",
        _rotate,
        help="re-wrap every data key with BLINDPOST_VAULT_ACTIVE_KEK",
    )
    rotate.add_argument("--no-progress", action="store_true")
    epochs = command(
        vault_sub,
        "rotate-epochs",
        _rotate_epochs,
        help="the scheduled KEK epoch job: start a new epoch when due, re-wrap every data key "
        "with the current one, destroy the epochs older than the backup retention",
    )
    epochs.add_argument("--no-progress", action="store_true")
    command(
        vault_sub,
        "expire-content-keys",
        _expire_content_keys,
        help="the scheduled content retention job: destroy the content keys whose period "
        "ended BLINDPOST_BODY_RETENTION_DAYS ago (what they sealed stops opening)",
    )
    command(
        vault_sub,
        "publish-facts",
        _publish_facts,
        help="publish every subject's facts again (e.g. for a new intake)",
    )
    command(
        vault_sub,
        "reindex",
        _reindex,
        help="move the blind index to the active key (after a blind-index key rotation)",
    )
    command(
        vault_sub,
        "migrate",
        _migrate,
        help="apply the vault's migrations as the owner (BLINDPOST_VAULT_OWNER_DATABASE_URL) "
        "and grant the runtime role its share",
    )
    from services.vault import audit_cli  # it uses this module's helpers

    audit_cli.register(sub)


def operator_caller() -> str:
    return "cli:" + re.sub(r"[^A-Za-z0-9._-]", "", getpass.getuser())[:32]


def vault_settings():
    """The vault's settings, with its schema brought up to date (commands may run before
    the service ever started)."""
    from services.vault.roles import prepare_schema
    from services.vault.settings import VaultSettings

    settings = VaultSettings.from_env()
    asyncio.run(prepare_schema(settings.database_url(), settings.owner_database_url()))
    return settings


def _migrate(_args: argparse.Namespace) -> int:
    settings = vault_settings()
    if not settings.owner_database_url():
        print("BLINDPOST_VAULT_OWNER_DATABASE_URL is not set: nothing migrated", file=sys.stderr)
        return 2
    print("vault schema up to date; runtime role granted")
    return 0


def _import(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.domain import InvalidContact
    from services.vault.importer import ImportAborted, import_file
    from services.vault.tombstones import ErasureOverride

    override = None
    if args.override_erasure is not None:
        try:
            override = ErasureOverride.parse(args.override_erasure, "--override-erasure")
        except InvalidContact as exc:
            print(f"{exc.field}: {exc.reason}", file=sys.stderr)
            return 2
    settings = vault_settings()
    keyring, blind_index = keys_from(settings)

    async def run():
        async with _publisher(settings) as publisher:
            return await import_file(
                args.file,
                dsn=settings.database_url(),
                keyring=keyring,
                blind_index=blind_index,
                publisher=publisher,
                caller=operator_caller(),
                fmt=args.format,
                default_region=settings.vault_default_region,
                strict=args.strict,
                batch_size=args.batch_size,
                progress=not args.no_progress,
                override_erasure=override,
            )

    try:
        report = asyncio.run(run())
    except ImportAborted as exc:
        print(f"import aborted, nothing written: {exc}", file=sys.stderr)
        return 2
    for rejected in sorted(report.rejected, key=lambda r: r.line):
        print(f"line {rejected.line}: rejected: {rejected.field}: {rejected.reason}")
    print(report.summary() + f"; facts published for {report.facts_published}")
    return 1 if report.rejected else 0


def _rotate(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.operations import rotate_kek

    settings = vault_settings()
    keyring, _ = keys_from(settings)
    count = asyncio.run(
        rotate_kek(
            settings.database_url(), keyring, operator_caller(), progress=not args.no_progress
        )
    )
    print(f"re-wrapped {count} data keys with KEK {keyring.active_id}")
    return 0


def _rotate_epochs(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.epoch_rotation import EpochPolicy, rotate_epochs

    settings = vault_settings()
    if settings.vault_kek_epochs_dir is None:
        print("BLINDPOST_VAULT_KEK_EPOCHS_DIR is not set: no KEK epochs", file=sys.stderr)
        return 2
    keyring, _ = keys_from(settings)
    policy = EpochPolicy(settings.vault_kek_epoch_days, settings.vault_backup_retention_days)
    run = asyncio.run(
        rotate_epochs(
            settings.database_url(),
            keyring,
            policy,
            operator_caller(),
            progress=not args.no_progress,
        )
    )
    print("\n".join(run.lines()))
    return 0


def _expire_content_keys(_args: argparse.Namespace) -> int:
    from services.vault.content_key_expiry import expire_content_keys

    settings = vault_settings()
    days = settings.body_retention_days
    count = asyncio.run(expire_content_keys(settings.database_url(), operator_caller(), days))
    print(f"destroyed {count} content keys whose period ended more than {days} days ago")
    return 0


def _reindex(_args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.reindex import reindex_blind_index

    settings = vault_settings()
    keyring, blind_index = keys_from(settings)
    count = asyncio.run(
        reindex_blind_index(settings.database_url(), keyring, blind_index, operator_caller())
    )
    print(f"re-indexed {count} subjects under blind-index key {blind_index.version}")
    return 0


def _publish_facts(_args: argparse.Namespace) -> int:
    import asyncpg

    from services.vault.importer import publish_facts

    settings = vault_settings()

    async def run() -> int:
        async with _publisher(settings) as publisher:
            conn = await asyncpg.connect(settings.database_url())
            try:
                return await publish_facts(conn, publisher)
            finally:
                await conn.close()

    print(f"published facts for {asyncio.run(run())} subjects")
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
