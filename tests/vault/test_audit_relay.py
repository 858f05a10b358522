"""Audit facts reach Kafka from the committed audit rows (an outbox): every row once it is
committed, and none lost while Kafka is unreachable."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.vault.app import keys_from
from services.vault.audit_relay import AuditRelay
from services.vault.publisher import KafkaPublisher
from services.vault.roles import prepare_schema
from services.vault.service import Caller, ContactRequest, Scope, VaultService
from services.vault.settings import VaultSettings
from shared.db import create_pool
from shared.domain import Channel
from shared.kafka import start_producer
from shared.tickets import TicketVerifier
from tests.support.kafka import read_topic
from tests.vault.support import with_ticket


class KafkaIsDown:
    async def subject_facts(self, facts) -> None:
        pass

    async def tombstone(self, ext_user_id) -> None:
        pass

    async def audit(self, rows) -> None:
        raise ConnectionError("broker unreachable")

    async def checkpoint(self, checkpoint) -> None:
        raise ConnectionError("broker unreachable")

    async def events(self, events) -> None:
        raise ConnectionError("broker unreachable")


async def test_rows_written_while_kafka_is_down_are_published_later(
    vault_env, vault_dsn, vault_owner_dsn, kafka_bootstrap, topics
):
    import uuid

    await prepare_schema(vault_dsn, vault_owner_dsn)
    settings = VaultSettings.from_env(vault_env)
    keyring, blind_index = keys_from(settings)
    pool = await create_pool(vault_dsn)
    producer = await start_producer(kafka_bootstrap)
    try:
        tickets = TicketVerifier.parse(settings.vault_ticket_public_keys, "keys")
        service = VaultService(pool, keyring, blind_index, KafkaIsDown(), tickets=tickets)
        caller = Caller("resolver", Scope.RESOLVER, "req-1")
        mids = [uuid.uuid4() for _ in range(5)]
        await service.resolve(
            caller,
            "dispatch",
            [
                with_ticket(vault_env, ContactRequest(f"user-{n}", Channel.EMAIL, m))
                for n, m in enumerate(mids)
            ],
        )
        down = AuditRelay(pool, KafkaIsDown())
        with pytest.raises(ConnectionError):
            await down.publish_pending()
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT published_seq FROM audit_relay") == 0

        up = AuditRelay(pool, KafkaPublisher(producer, topics), chunk=2)
        assert await up.publish_pending() == 5
        assert await up.publish_pending() == 0
    finally:
        await producer.stop()
        await pool.close()
    records = await read_topic(kafka_bootstrap, topics.vault_audit, expect=5)
    facts = [json.loads(r.value) for r in records]
    assert sorted(f["ext_message_id"] for f in facts) == sorted(str(m) for m in mids)
    assert {f["decision"] for f in facts} == {"not_found"}
    assert all(r.key == f["ext_message_id"].encode() for r, f in zip(records, facts, strict=True))


async def test_the_running_vault_publishes_every_committed_row(
    vault, vault_dsn, kafka_bootstrap, topics
):
    await vault.put("u1", {"email": "ada@example.org"})
    await vault.resolve_one("u1", "email")
    await vault.call("GET", "/v1/subjects/u1", None)  # refused
    conn = await asyncpg.connect(vault_dsn)
    try:
        ids = {str(r["audit_id"]) for r in await conn.fetch("SELECT audit_id FROM audit_log")}
    finally:
        await conn.close()
    records = await read_topic(kafka_bootstrap, topics.vault_audit, expect=len(ids))
    assert {json.loads(r.value)["audit_id"] for r in records} == ids
