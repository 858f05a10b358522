"""A resolver token reads an address only against a resolution ticket intake signed for that
message, player and channel: without one (none, forged, expired, another player's or
channel's) the read is refused, the same whether the player exists or not, and audited."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.domain import Channel
from shared.tickets import TicketSigner, TicketSubject
from tests.vault.support import audit_rows, running_vault

PLAYER = "ticket-player"
ADDRESS = "ticket.player@example.org"


def _request(ext_user_id: str = PLAYER, channel: str = "email") -> dict[str, str]:
    return {"ext_user_id": ext_user_id, "channel": channel, "ext_message_id": str(uuid.uuid4())}


def _forged(request: dict[str, str]) -> str:
    """A well-formed ticket for exactly this request, signed by a key intake never held."""
    stranger = TicketSigner(Ed25519PrivateKey.generate(), ttl_s=3600)
    subject = TicketSubject(
        uuid.UUID(request["ext_message_id"]), request["ext_user_id"], Channel(request["channel"])
    )
    return stranger.issue(subject)


def _resigned_with_a_bad_signature(ticket: str) -> str:
    """The genuine key id and expiry, another signature: a tampered ticket."""
    version, key_id, expires, _ = ticket.split(".")
    junk = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    return f"{version}.{key_id}.{expires}.{junk}"


async def test_a_read_without_a_valid_ticket_is_refused_and_audited(vault, vault_dsn):
    await vault.put(PLAYER, {"email": ADDRESS, "phone": "+357 99 123456"})
    await vault.put("other-player", {"email": "other.player@example.org"})
    before = len(await audit_rows(vault_dsn))

    missing = {**_request(), "ticket": None}
    forged = _request()
    forged["ticket"] = _forged(forged)
    tampered = _request()
    tampered["ticket"] = _resigned_with_a_bad_signature(vault.ticket(**tampered))
    expired = _request()
    expired["ticket"] = vault.ticket(**expired, now=time.time() - 7200, ttl_s=3600)
    # Genuine tickets, presented for what they were not signed for.
    theirs = _request("other-player")
    another_players = {**_request(), "ticket": vault.ticket(**theirs)}
    sms = _request(channel="sms")
    another_channels = {**_request(channel="email"), "ticket": vault.ticket(**sms)}
    mine = _request()
    another_messages = {**_request(), "ticket": vault.ticket(**mine)}
    # Nobody by that name: the same refusal, so the answer tells nothing of who exists.
    stranger = {**_request("nobody-at-all"), "ticket": None}
    garbled = {**_request(), "ticket": "not a ticket"}

    refused: dict[str, tuple[dict[str, Any], str]] = {
        "missing": (missing, "missing"),
        "forged": (forged, "unknown_key"),
        "tampered": (tampered, "invalid_signature"),
        "expired": (expired, "expired"),
        "another player's": (another_players, "invalid_signature"),
        "another channel's": (another_channels, "invalid_signature"),
        "another message's": (another_messages, "invalid_signature"),
        "for nobody": (stranger, "missing"),
        "garbled": (garbled, "malformed"),
    }
    status, body = await vault.resolve([request for request, _ in refused.values()])
    assert status == 200, body
    for (case, (request, reason)), result in zip(refused.items(), body["results"], strict=True):
        assert result["ext_message_id"] == request["ext_message_id"], case
        assert result["status"] == "ticket_refused", case
        assert result["reason"] == reason, case
        assert "address" not in result and "locale" not in result, case
    assert ADDRESS not in str(body)

    rows = (await audit_rows(vault_dsn))[before:]
    assert len(rows) == len(refused)
    for (case, (request, reason)), row in zip(refused.items(), rows, strict=True):
        assert row["decision"] == "refused_ticket", case
        assert row["caller"] == "resolver" and row["scope"] == "resolver", case
        assert str(row["ext_message_id"]) == request["ext_message_id"], case
        assert row["ext_user_id"] == request["ext_user_id"], case
        assert row["detail"] == f"{request['channel']} ticket {reason}", case
        assert list(row["fields"]) == [], case  # nothing was read
    assert ADDRESS not in str([dict(r) for r in rows])

    # The resolver's own request, with the ticket intake signed for it, reads as before.
    ok = await vault.resolve_one(PLAYER, "email")
    assert ok["status"] == "ok" and ok["address"] == ADDRESS


async def test_a_batch_mixing_valid_and_refused_tickets_reads_only_the_valid(vault, vault_dsn):
    await vault.put(PLAYER, {"email": ADDRESS})
    good, bad = _request(), {**_request(), "ticket": None}
    status, body = await vault.resolve([bad, good])
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["ticket_refused", "ok"]
    assert body["results"][1]["address"] == ADDRESS
    decisions = [r["decision"] for r in (await audit_rows(vault_dsn))[-2:]]
    assert decisions == ["refused_ticket", "read"]


async def test_tickets_signed_by_any_configured_key_are_accepted(vault_env):
    """Intake's key changes: the vault trusts the old and the new public key meanwhile."""
    new = TicketSigner(Ed25519PrivateKey.generate(), ttl_s=3600)
    env = {
        **vault_env,
        "BLINDPOST_VAULT_TICKET_PUBLIC_KEYS": ",".join(
            [vault_env["BLINDPOST_VAULT_TICKET_PUBLIC_KEYS"], new.public_key_text()]
        ),
    }
    async with running_vault(env) as vault:
        await vault.put(PLAYER, {"email": ADDRESS})
        old_request, new_request = _request(), _request()
        subject = TicketSubject(uuid.UUID(new_request["ext_message_id"]), PLAYER, Channel.EMAIL)
        new_request["ticket"] = new.issue(subject)
        status, body = await vault.resolve([old_request, new_request])
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["ok", "ok"]
