"""``blindpost audit ...``: the vault's audit log, checked, reported and pruned, on the
vault database directly (with the vault's settings)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from services.vault.audit import Decision
from services.vault.cli import command, operator_caller, vault_settings


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the vault's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = command(
        audit_sub,
        "verify",
        _verify,
        help="check the hash chain against its signed checkpoints and the facts on Kafka; "
        "names every bad row",
    )
    check.add_argument("--no-kafka", action="store_true", help="skip the facts on Kafka")
    check.add_argument("--no-checkpoints", action="store_true", help="skip the signed checkpoints")
    prune = command(
        audit_sub,
        "prune",
        _prune,
        help="drop rows older than BLINDPOST_VAULT_AUDIT_RETENTION_DAYS (as the owner); the "
        "log then starts at a signed checkpoint",
    )
    prune.add_argument("--days", type=int, help="default: BLINDPOST_VAULT_AUDIT_RETENTION_DAYS")
    command(
        audit_sub, "keygen", _keygen, help="print a new checkpoint signing key and its public key"
    )
    pii = command(
        audit_sub,
        "pii",
        _pii,
        help="who read whose data, when, and why: the audit rows matching every filter given, "
        "streamed",
    )
    pii.add_argument("--user", help="ext_user_id")
    pii.add_argument("--principal", help="the principal (or operator command) that asked")
    pii.add_argument("--purpose", help="e.g. dispatch, admin-read, audit")
    pii.add_argument("--decision", choices=[d.value for d in Decision])
    pii.add_argument("--since", type=_time, help="from this ISO 8601 date or time")
    pii.add_argument("--until", type=_time, help="before this ISO 8601 date or time")
    pii.add_argument("--format", choices=("csv", "json"), default="csv")
    pii.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.astimezone()


def _checkpoint_keys(settings):
    from services.vault.checkpoints import CheckpointKeys, CheckpointSigner

    if settings.vault_audit_public_keys:
        return CheckpointKeys.parse(settings.vault_audit_public_keys)
    signing = settings.secret("vault_audit_signing_key")
    if signing:
        return CheckpointKeys([CheckpointSigner.from_setting(signing).public])
    return CheckpointKeys([])


def _verify(args: argparse.Namespace) -> int:
    from services.vault.audit_ops import verify_chain
    from services.vault.audit_witnesses import read_witnesses
    from services.vault.checkpoints import CheckpointKeys

    settings = vault_settings()
    keys = CheckpointKeys([]) if args.no_checkpoints else _checkpoint_keys(settings)
    if not keys and not args.no_checkpoints:
        print("checkpoints not checked: set BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS", file=sys.stderr)

    async def run():
        witnesses = None if args.no_kafka else await read_witnesses(settings.kafka)
        return await verify_chain(settings.database_url(), keys, witnesses)

    verdict = asyncio.run(run())
    print(verdict.describe())
    return 0 if verdict.ok else 1


def _prune(args: argparse.Namespace) -> int:
    from services.vault.audit_ops import prune_audit

    settings = vault_settings()
    owner = settings.owner_database_url()
    days = settings.vault_audit_retention_days if args.days is None else args.days
    if not owner or not days:
        print(
            "needs BLINDPOST_VAULT_OWNER_DATABASE_URL and a retention "
            "(--days or BLINDPOST_VAULT_AUDIT_RETENTION_DAYS)",
            file=sys.stderr,
        )
        return 2
    pruned = asyncio.run(prune_audit(owner, _checkpoint_keys(settings), days, operator_caller()))
    print(f"pruned {pruned.rows} audit rows; the log now starts after seq={pruned.through_seq}")
    return 0


def _keygen(_args: argparse.Namespace) -> int:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from services.vault.checkpoints import CheckpointSigner

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    private = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    print(f"BLINDPOST_VAULT_AUDIT_SIGNING_KEY={private}")
    public = CheckpointSigner.from_setting(private).public_key_text()
    print(f"BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS={public}")
    return 0


def _pii(args: argparse.Namespace) -> int:
    from services.vault.audit_report import ReportFilter, write_report

    settings = vault_settings()
    report = ReportFilter(
        args.user, args.principal, args.purpose, args.decision, args.since, args.until
    )
    asyncio.run(
        write_report(
            settings.database_url(),
            report,
            args.format,
            operator_caller(),
            progress=not args.no_progress,
        )
    )
    return 0
