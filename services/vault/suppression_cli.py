"""``blindpost suppressions list|show|remove``: the vault's suppression list for operators.

``remove`` is an operator's decision that an address works again: it needs a reason, which
is recorded in the audit log with the caller, and the subject's facts are published again
(intake stops answering 5)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from shared.domain import Channel

COLUMNS = ("ext_user_id", "channel", "reason", "source", "detail", "ext_message_id", "created_at")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("suppressions", help="players not sent to again, per channel")
    commands = parser.add_subparsers(dest="suppressions_command", required=True)
    listing = commands.add_parser("list", help="the newest suppressions")
    listing.add_argument("--channel", choices=[c.value for c in Channel])
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one player's suppressions")
    show.add_argument("ext_user_id")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(handler=_list)
    remove = commands.add_parser("remove", help="send to this player on this channel again")
    remove.add_argument("ext_user_id")
    remove.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    remove.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    remove.set_defaults(handler=_remove)


def _with_list(work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Runs ``work(SuppressionList)`` against the vault's database and Kafka."""
    from services.vault.app import keys_from
    from services.vault.cli import _publisher, vault_settings
    from services.vault.service import VaultService
    from services.vault.suppressions import SuppressionList
    from shared.db import create_pool

    settings = vault_settings()
    keyring, blind_index = keys_from(settings)

    async def run() -> Any:
        pool = await create_pool(settings.database_url(), min_size=1, max_size=2)
        try:
            async with _publisher(settings) as publisher:
                vault = VaultService(pool, keyring, blind_index, publisher)
                return await work(SuppressionList(vault))
        finally:
            await pool.close()

    return asyncio.run(run())


def _list(args: argparse.Namespace) -> int:
    user = getattr(args, "ext_user_id", None)
    channel = Channel(args.channel) if getattr(args, "channel", None) else None
    limit = getattr(args, "limit", 1000)
    rows = _with_list(lambda s: s.listing(ext_user_id=user, channel=channel, limit=limit))
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print("\t".join(COLUMNS))
        for row in rows:
            print("\t".join(str(row.get(c) if row.get(c) is not None else "-") for c in COLUMNS))
    if user is not None and not rows:
        print(f"{user}: not suppressed on any channel")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from services.vault.access import Caller, NotFound, Scope
    from services.vault.cli import operator_caller

    reason = " ".join(args.reason.split())
    if not reason:
        print("a reason is required")
        return 2
    caller = Caller(operator_caller(), Scope.ADMIN, "cli")
    try:
        _with_list(lambda s: s.remove(caller, args.ext_user_id, Channel(args.channel), reason))
    except NotFound:
        print(f"{args.ext_user_id} is not suppressed on {args.channel}")
        return 1
    print(f"removed: {args.ext_user_id} on {args.channel} (audited)")
    return 0
