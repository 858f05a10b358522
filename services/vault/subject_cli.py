"""``blindpost subject ...``: a data subject's rights, for the data-protection officer.

``export`` is the subject access report (JSON, or printable HTML); ``erasure-report`` proves
an erasure (signed with the audit checkpoint key); ``verify`` checks such a report with
nothing but the public key."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "subject", help="a data subject's rights: access export, proof of erasure"
    )
    commands = parser.add_subparsers(dest="subject_command", required=True)
    export = commands.add_parser(
        "export",
        help="everything held about a subject, decrypted (audited, purpose subject-access): "
        "data, suppressions, messages and statuses, every access",
    )
    export.add_argument("ext_user_id")
    export.add_argument("--format", choices=("json", "html"), default="json")
    export.add_argument("--output", type=Path, help="write here (default: stdout)")
    export.set_defaults(handler=_export)
    report = commands.add_parser(
        "erasure-report",
        help="what was destroyed, when, by whom, and what remains and why; signed",
    )
    report.add_argument("ext_user_id")
    report.add_argument("--output", type=Path, help="write here (default: stdout)")
    report.set_defaults(handler=_erasure_report)
    verify = commands.add_parser(
        "verify", help="check a signed report (erasure-report) against a public key"
    )
    verify.add_argument("file", type=Path)
    verify.add_argument(
        "--public-key",
        action="append",
        help="Ed25519 public key, base64url (default: BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS)",
    )
    verify.set_defaults(handler=_verify)


def _events_dsn() -> str | None:
    """The event store, for the messages' statuses (optional: reports say when it is not)."""
    return os.environ.get("DATABASE_URL") or os.environ.get("BLINDPOST_DATABASE_URL")


def _write(data: bytes, output: Path | None, what: str) -> None:
    if output:
        output.write_bytes(data)
        print(f"{what} written to {output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)


def _export(args: argparse.Namespace) -> int:
    import json

    from services.vault.app import keys_from
    from services.vault.cli import operator_caller, vault_settings
    from services.vault.subject_export import subject_export
    from services.vault.subject_html import render_html

    settings = vault_settings()
    keyring, _ = keys_from(settings)
    export = asyncio.run(
        subject_export(
            settings.database_url(), keyring, args.ext_user_id, operator_caller(), _events_dsn()
        )
    )
    text = render_html(export) if args.format == "html" else json.dumps(export, indent=2) + "\n"
    _write(text.encode(), args.output, "subject access export")
    return 0


def _erasure_report(args: argparse.Namespace) -> int:
    from services.vault.app import keys_from
    from services.vault.checkpoints import CheckpointSigner
    from services.vault.cli import operator_caller, vault_settings
    from services.vault.epoch_rotation import EpochPolicy
    from services.vault.erasure_report import erasure_report
    from services.vault.signed_report import sign

    settings = vault_settings()
    signing = settings.secret("vault_audit_signing_key")
    if not signing:
        print("needs BLINDPOST_VAULT_AUDIT_SIGNING_KEY to sign the report", file=sys.stderr)
        return 2
    signer = CheckpointSigner.from_setting(signing)
    keyring, _ = keys_from(settings)
    try:
        report = asyncio.run(
            erasure_report(
                settings.database_url(),
                args.ext_user_id,
                operator_caller(),
                set(keyring.keks),
                _events_dsn(),
                EpochPolicy(settings.vault_kek_epoch_days, settings.vault_backup_retention_days),
            )
        )
    except LookupError:
        print(f"no erasure of {args.ext_user_id} is recorded in the audit log", file=sys.stderr)
        return 1
    _write(sign(report, signer), args.output, "signed erasure report")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from services.vault.checkpoints import CheckpointKeys
    from shared.settings import SettingsError

    texts = args.public_key or [
        k for k in os.environ.get("BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS", "").split(",") if k.strip()
    ]
    if not texts:
        print("give --public-key (or BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS)", file=sys.stderr)
        return 2
    try:
        keys = CheckpointKeys.parse(texts)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from services.vault.signed_report import BadReport, verify

    try:
        report = verify(args.file.read_bytes(), keys)
    except BadReport as exc:
        print(f"NOT VERIFIED: {exc}")
        return 1
    print(f"verified: {report.get('kind')} for {report.get('ext_user_id')}")
    return 0
