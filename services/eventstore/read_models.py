"""Every read model the replay rebuilds from the log, in one list: the message projection
(state and counts), the callback relay's store, the dispatch ledger, status ingest's
provider message map, and the vault-read facts (from the audit topic)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.callback_relay.rebuild import CallbackStoreModel
from services.dispatch.ledger_rebuild import DispatchLedgerModel
from services.eventstore.app import MIGRATIONS, MIGRATIONS_TABLE
from services.eventstore.records import AuditFact, Position, Projectable, parse_audit_fact
from services.eventstore.shadow import ReadModel, ShadowTable, checked
from services.eventstore.store import insert_audit_facts
from services.eventstore.tables import COLUMNS, ProjectionTables
from services.eventstore.topic_reader import read_to_end
from services.status_ingest.provider_map import ProviderMapModel
from shared.db import migrate
from shared.events import Event
from shared.kafka import Kafka


class ProjectionModel(ReadModel):
    name = "message projection"
    migrations = MIGRATIONS
    migrations_table = MIGRATIONS_TABLE
    tables = (
        ShadowTable("message_state", ("ext_message_id",), COLUMNS),
        ShadowTable("message_counts", ("status", "channel"), ("status", "channel", "messages"),
                    covered="messages <> 0"),
    )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        await ProjectionTables(schema).project(conn, events)

    async def apply_read(
        self, conn: asyncpg.Connection, schema: str, events: Sequence[Projectable]
    ) -> None:
        # An event this version cannot read still counts in its message's version.
        await ProjectionTables(schema).project(conn, events)


class VaultFactsModel(ReadModel):
    """Read from the vault's audit topic, not from the message events."""

    name = "vault-read facts"
    migrations = MIGRATIONS
    migrations_table = MIGRATIONS_TABLE
    tables = (
        ShadowTable(
            "vault_audit_facts",
            ("audit_id",),
            ("audit_id", "ext_message_id", "ext_user_id", "caller", "scope", "purpose",
             "fields", "decision", "at", "request_id"),
        ),
    )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        """Message events say nothing of vault reads."""

    async def rebuild(
        self, conn: asyncpg.Connection, schema: str, kafka: Kafka, topic: str
    ) -> int:
        """Reads ``topic`` to its end into the shadow table; records the projector
        dead-lettered are skipped again.  Returns the facts stored."""
        stored = 0
        await conn.execute(f"SET search_path TO {checked(schema)}")
        try:
            async for records in read_to_end(kafka, topic):
                facts: list[tuple[AuditFact, Position]] = []
                for record in records:
                    try:
                        fact = parse_audit_fact(record.value)
                    except Exception:  # noqa: BLE001, S112 - the projector dead-lettered it
                        continue
                    facts.append((fact, Position(record.topic, record.partition, record.offset)))
                stored += await insert_audit_facts(conn, facts)
        finally:
            await conn.execute("RESET search_path")
        return stored


VAULT_FACTS = VaultFactsModel()
# By the name an operator gives (``blindpost replay --model``).
MODELS: dict[str, ReadModel] = {
    "projection": ProjectionModel(),
    "callbacks": CallbackStoreModel(),
    "ledger": DispatchLedgerModel(),
    "provider-map": ProviderMapModel(),
    "vault-facts": VAULT_FACTS,
}
ALL_MODELS: tuple[ReadModel, ...] = tuple(MODELS.values())


def tables_of(models: Sequence[ReadModel]) -> list[ShadowTable]:
    return [table for model in models for table in model.tables]


async def migrate_all(conn: asyncpg.Connection) -> None:
    """Every read model's live tables exist (they share the event-store database)."""
    for folder, table in dict.fromkeys((m.migrations, m.migrations_table) for m in ALL_MODELS):
        await migrate(conn, folder, table)
