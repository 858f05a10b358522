"""Suite-wide operator commands: topic set-up, migrations, key generation."""

from __future__ import annotations

import argparse
import asyncio

from shared.sealing import generate_keypair
from shared.settings import BlindpostSettings


def register(sub: argparse._SubParsersAction) -> None:
    topics = sub.add_parser("topics", help="Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create the suite's topics if missing")
    create.set_defaults(handler=_create_topics)

    keys = sub.add_parser("keys", help="key material")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    sealing = keys_sub.add_parser(
        "sealing", help="print a new X25519 key pair for one dispatcher's sealed addresses"
    )
    sealing.add_argument("key_id", help="a short name, e.g. email-2026-11")
    sealing.set_defaults(handler=_sealing_keypair)
    tickets = keys_sub.add_parser(
        "tickets", help="print a new Ed25519 key pair for intake's resolution tickets"
    )
    tickets.set_defaults(handler=_ticket_keypair)


def _create_topics(_args: argparse.Namespace) -> int:
    from shared.kafka import ensure_topics

    settings = BlindpostSettings.from_env()
    asyncio.run(ensure_topics(settings.kafka, settings.topics))
    print("topics ready")
    return 0


def _sealing_keypair(args: argparse.Namespace) -> int:
    private, public = generate_keypair(args.key_id)
    print(f"private (dispatcher only): {private}")
    print(f"public (resolver, intake): {public}")
    return 0


def _ticket_keypair(_args: argparse.Namespace) -> int:
    from shared.tickets import generate_keypair as ticket_keypair

    private, public = ticket_keypair()
    print(f"BLINDPOST_INTAKE_TICKET_SIGNING_KEY={private}")
    print(f"BLINDPOST_VAULT_TICKET_PUBLIC_KEYS={public}")
    return 0
