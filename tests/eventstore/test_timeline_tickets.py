"""``blindpost messages show`` says that a resolution ticket was issued, under which key and
until when, but never prints the ticket: it admits a read of the player's address until it
expires, and a timeline is pasted into tickets and chats."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.domain import Channel
from shared.tickets import TicketSigner, TicketSubject, generate_keypair
from tests.eventstore.support import produce, running_projector, wait_for_events
from tests.support import events as build
from tests.support.processes import run_cli


@pytest.mark.parametrize("format_", ["text", "json"])
async def test_the_timeline_names_the_ticket_s_key_and_expiry_never_the_ticket(
    kafka_bootstrap, topics, events_dsn, base_env, format_: str
):
    signer = TicketSigner.from_setting(generate_keypair()[0], 900, "TICKET_KEY")
    uid = f"ticketed-{uuid.uuid4().hex[:8]}"
    mid = build.accepted(uid, ext_user_id="player-t").ext_message_id
    ticket = signer.issue(TicketSubject(mid, "player-t", Channel.EMAIL), now=1_800_000_000)
    accepted = build.accepted(uid, ext_user_id="player-t", ticket=ticket)
    await produce(kafka_bootstrap, topics.message_events, [accepted])
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, 1)

    args = ["--format", "json"] if format_ == "json" else []
    shown = run_cli({**base_env, "DATABASE_URL": events_dsn}, "messages", "show", str(mid), *args)
    assert shown.returncode == 0, shown.stderr[-2000:]
    signature = ticket.rsplit(".", 1)[1]
    assert signature not in shown.stdout and ticket not in shown.stdout
    expires = datetime.fromtimestamp(1_800_000_900, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if format_ == "json":
        payload = json.loads(shown.stdout)["events"][0]["payload"]
        assert payload["ticket"] == "issued" and payload["ticket_key_id"] == signer.key_id
        assert payload["ticket_expires"].startswith(expires)
    else:
        assert "ticket=issued" in shown.stdout
        assert f"ticket_key_id={signer.key_id}" in shown.stdout
        assert f"ticket_expires={expires}" in shown.stdout
