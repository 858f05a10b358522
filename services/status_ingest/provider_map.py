"""The provider message map (provider, provider message id -> ext_message_id) rebuilt from
the event log (``blindpost replay``): one row per ``dispatch.succeeded`` that names a
provider message id, the first one winning, as the status matcher writes them.  Statuses
parked for a message not yet dispatched came from webhooks, not from the log: they are not
part of the rebuild."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.eventstore.shadow import ReadModel, RowShape, ShadowTable
from services.status_ingest.consumer import dispatched_ids
from services.status_ingest.ingest import MIGRATIONS, MIGRATIONS_TABLE
from shared.events import Event

PROVIDER_MESSAGES = RowShape(
    "provider_messages",
    {
        "provider": "text",
        "provider_message_id": "text",
        "ext_message_id": "uuid",
        "recorded_at": "timestamptz",
    },
    ("provider", "provider_message_id"),
)


class ProviderMapModel(ReadModel):
    name = "provider message map"
    migrations = MIGRATIONS
    migrations_table = MIGRATIONS_TABLE
    tables = (
        ShadowTable(
            "provider_messages",
            ("provider", "provider_message_id"),
            ("provider", "provider_message_id", "ext_message_id"),
        ),
    )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
        rows: dict[tuple[str, str], dict[str, object]] = {}
        for event in events:
            if ids := dispatched_ids(event):
                pmid, mid, provider = ids
                rows.setdefault((provider, pmid), {
                    "provider": provider, "provider_message_id": pmid,
                    "ext_message_id": mid, "recorded_at": event.occurred_at,
                })
        await PROVIDER_MESSAGES.save(conn, schema, list(rows.values()), update=False)
