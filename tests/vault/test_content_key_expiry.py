"""Content retention (services/vault/content_key_expiry.py): a player's content is sealed
under the key of its period, and ``blindpost vault expire-content-keys`` destroys the keys
whose period ended longer than ``BLINDPOST_BODY_RETENTION_DAYS`` ago.  What a past period
sealed then stops opening for a dispatcher (as erased content does) while the current
period's content still opens; each key destroyed is audited and published to the audit
topic; a second run destroys nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.dispatch.content import ContentErased, ContentOpener
from services.vault.content_keys import period_of
from shared.content_keys import RENDER, SEAL, ContentKeys
from shared.content_sealing import seal
from shared.domain import Channel
from shared.events import MessageContent
from shared.work import DispatchWork
from tests.support.kafka import read_topic
from tests.support.processes import run_cli
from tests.vault.support import VaultClient

OLD = MessageContent(subject="Your March free spins", body="<p>March: 20 spins</p>")
NEW = MessageContent(subject="Your May free spins", body="<p>May: 30 spins</p>")


def client(vault: VaultClient, purpose: str) -> ContentKeys:
    token = vault.env["BLINDPOST_VAULT_CONTENT_TOKEN"]
    return ContentKeys(vault.session, vault.base_url, token, purpose, ttl_s=0)


def work(user: str, content: MessageContent, mid: uuid.UUID) -> DispatchWork:
    return DispatchWork(
        ext_message_id=mid,
        channel=Channel.EMAIL,
        ext_user_id=user,
        uid="u1",
        accepted_at=datetime.now(UTC),
        sealed_recipient="x",
        content=content,
    )


async def backdate(dsn: str, key_id: str, days: int) -> None:
    """The key as if made ``days`` ago, its 7-day period long over."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE content_keys SET period_start = now() - make_interval(days => $2),"
            " period_end = now() - make_interval(days => $2 - 7) WHERE key_id = $1",
            key_id,
            days,
        )
    finally:
        await conn.close()


async def expiries(dsn: str, user: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT caller, scope, purpose, fields, detail FROM audit_log"
            " WHERE ext_user_id = $1 AND decision = 'expired' ORDER BY seq",
            user,
        )
    finally:
        await conn.close()


def expire(vault: VaultClient) -> str:
    env = {**vault.env, "BLINDPOST_BODY_RETENTION_DAYS": "30"}
    done = run_cli(env, "vault", "expire-content-keys")
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_past_periods_content_stops_opening_after_the_retention_and_the_current_opens(
    vault: VaultClient, vault_dsn: str, kafka_bootstrap: str, topics
) -> None:
    user = f"player-{uuid.uuid4().hex[:8]}"
    old_key = (await client(vault, SEAL).answer_for(user)).key
    assert old_key is not None
    old_mid, new_mid = uuid.uuid4(), uuid.uuid4()
    old = work(user, seal(OLD, old_key, old_mid), old_mid)
    await backdate(vault_dsn, old_key.key_id, days=45)
    new_key = (await client(vault, SEAL).answer_for(user)).key  # a key of this period
    assert new_key is not None and new_key.key_id != old_key.key_id
    new = work(user, seal(NEW, new_key, new_mid), new_mid)

    opener = ContentOpener(client(vault, RENDER))
    await opener.prefetch([old, new])  # one player's two keys, asked by id together
    assert await opener.open(old) == OLD  # kept until the retention is over
    assert await opener.open(new) == NEW
    # A key id is answered only to its own player.
    assert (await client(vault, RENDER).answer_for("someone-else", new_key.key_id)).status == (
        "no_key"
    )

    assert "destroyed 1 content keys" in expire(vault)
    with pytest.raises(ContentErased):
        await opener.open(old)
    assert await opener.open(new) == NEW
    assert (await client(vault, RENDER).answer_for(user, old_key.key_id)).status == "no_key"
    assert "destroyed 0 content keys" in expire(vault)  # idempotent

    [row] = await expiries(vault_dsn, user)
    assert (row["scope"], row["purpose"], list(row["fields"])) == (
        "admin",
        "content-retention",
        ["content_key"],
    )
    assert row["caller"].startswith("cli:")
    assert old_key.key_id in row["detail"] and "after 30 days" in row["detail"]
    assert "spins" not in row["detail"]
    records = await read_topic(kafka_bootstrap, topics.vault_audit, expect=1, timeout_s=20)
    published = [json.loads(r.value) for r in records]
    assert [
        (fact["decision"], fact["fields"])
        for fact in published
        if fact["ext_user_id"] == user and fact["decision"] == "expired"
    ] == [("expired", ["content_key"])]


async def test_sealing_never_uses_a_key_whose_period_is_over(
    vault: VaultClient, vault_dsn: str
) -> None:
    user = f"player-{uuid.uuid4().hex[:8]}"
    first = (await client(vault, SEAL).answer_for(user)).key
    assert first is not None
    assert (await client(vault, SEAL).answer_for(user)).key == first  # one per period
    await backdate(vault_dsn, first.key_id, days=8)  # its period ended yesterday
    second = (await client(vault, SEAL).answer_for(user)).key
    assert second is not None and second.key_id != first.key_id
    # Within the retention the old key still opens what it sealed.
    assert (await client(vault, RENDER).answer_for(user, first.key_id)).key == first
    assert "destroyed 0 content keys" in expire(vault)


def test_periods_are_whole_days_in_utc_counted_from_1970() -> None:
    start, end = period_of(datetime(2026, 11, 28, 16, 0, tzinfo=UTC), 7)
    assert (start, end - start) == (datetime(2026, 11, 26, tzinfo=UTC), timedelta(days=7))
    assert period_of(end, 7)[0] == end  # the end is the next period's start
    assert period_of(datetime(2026, 11, 28, 23, 59, tzinfo=UTC), 1) == (
        datetime(2026, 11, 28, tzinfo=UTC),
        datetime(2026, 11, 29, tzinfo=UTC),
    )
