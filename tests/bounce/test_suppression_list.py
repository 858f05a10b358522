"""The vault's suppression list through its API and the operator's command, against the
real vault and its database: recorded by message (the vault finds the player from its own
audited read), answered ``opted_out`` to the resolver, removed only with a reason, audited,
and forgotten with the address on erasure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.processes import run_cli
from tests.vault.support import VaultClient, running_vault

PLAYER = "suppressed-player-1"


@pytest.fixture
async def vault(base_env: dict[str, str], vault_dsn: str, topics) -> AsyncIterator[VaultClient]:
    async with running_vault({**base_env, "BLINDPOST_VAULT_DATABASE_URL": vault_dsn}) as client:
        yield client


async def sent_to(vault: VaultClient, ext_user_id: str) -> str:
    """A message the resolver read this player's address for (as for a real send)."""
    mid = str(uuid.uuid4())
    status, body = await vault.resolve(
        [{"ext_user_id": ext_user_id, "channel": "email", "ext_message_id": mid}]
    )
    assert status == 200 and body["results"][0]["status"] == "ok", body
    return mid


async def suppress(vault: VaultClient, scope: str = "unsubscribe", **body: object):
    return await vault.call("POST", "/v1/suppressions", scope, json=body)


async def test_a_bounce_for_a_message_suppresses_its_recipient_on_that_channel(
    vault: VaultClient,
) -> None:
    assert (await vault.put(PLAYER, {"email": "sealed.bouncer@players.example"}))[0] == 200
    mid = await sent_to(vault, PLAYER)
    recorded = await suppress(
        vault,
        ext_message_id=mid,
        channel="email",
        reason="hard_bounce",
        source="bounce",
        detail="5.1",
    )
    assert recorded == (200, {"status": "recorded"})
    assert await suppress(vault, ext_message_id=mid, channel="email", reason="hard_bounce") == (
        200,
        {"status": "recorded"},
    )  # again: nothing changes
    assert (await vault.resolve_one(PLAYER, "email"))["status"] == "opted_out"
    assert (await vault.resolve_one(PLAYER, "cim"))["status"] == "ok"  # other channels go on

    # A message the vault gave no address out for names no one.
    unknown = await suppress(
        vault, ext_message_id=str(uuid.uuid4()), channel="email", reason="complaint"
    )
    assert unknown[0] == 404
    # Only the unsubscribe scope records; a bad reason is refused, naming the field.
    assert (await suppress(vault, "admin", ext_message_id=mid, channel="email"))[0] == 403
    bad = await suppress(vault, ext_message_id=mid, channel="email", reason="annoyed")
    assert bad[0] == 400 and bad[1]["field"] == "reason"

    env = {**vault.env}
    listed = run_cli(env, "suppressions", "show", PLAYER)
    assert listed.returncode == 0, listed.stderr
    assert "hard_bounce" in listed.stdout and mid in listed.stdout
    refused = run_cli(env, "suppressions", "remove", PLAYER, "--channel", "email")
    assert refused.returncode != 0 and "--reason" in refused.stderr
    removed = run_cli(
        env, "suppressions", "remove", PLAYER, "--channel", "email", "--reason", "mailbox fixed"
    )
    assert removed.returncode == 0, removed.stderr
    assert (await vault.resolve_one(PLAYER, "email"))["status"] == "ok"

    status, trail = await vault.call("GET", f"/v1/audit?ext_user_id={PLAYER}", "auditor")
    assert status == 200
    purposes = [(e["purpose"], e["detail"]) for e in trail["entries"]]
    assert ("suppression:hard_bounce", "email bounce") in purposes
    assert ("suppression-removal", "email: mailbox fixed") in purposes
    assert "sealed.bouncer" not in str(trail)


async def test_erasure_forgets_the_suppression_with_the_address(vault: VaultClient) -> None:
    player = "suppressed-player-2"
    assert (await vault.put(player, {"email": "gone.soon@players.example"}))[0] == 200
    await suppress(vault, ext_user_id=player, channel="email", reason="complaint", source="ses")
    assert (await vault.resolve_one(player, "email"))["status"] == "opted_out"
    assert (await vault.erase(player))[0] == 200
    override = {"reason": "the player registered again"}  # an erased player stays erased
    again = {"email": "new.address@players.example", "override_erasure": override}
    assert (await vault.put(player, again))[0] == 200
    assert (await vault.resolve_one(player, "email"))["status"] == "ok"
