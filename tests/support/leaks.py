"""Searching everything an installation wrote (every topic, every table, every log) for
addresses and numbers: the PII leak tests' common eyes."""

from __future__ import annotations

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import read_topic

# The vault's own ciphertext and wrapped-key columns: the one place an address may be.
VAULT_CIPHERTEXT_COLUMNS = frozenset(
    {"email_ct", "phone_ct", "viber_id_ct", "whatsapp_id_ct", "wrapped_key"}
)


def hits(text: str, needles: list[str]) -> list[str]:
    """Needles found in ``text``, as written or hex-encoded (bytea columns render as hex)."""
    lowered = text.lower()
    found = [needle for needle in needles if needle.lower() in lowered]
    found += [needle for needle in needles if needle.lower().encode().hex() in lowered]
    return found


async def all_topic_text(bootstrap: str, prefix: str) -> dict[str, str]:
    """Every record (key, value, headers) of every topic with ``prefix``, aborted
    transactions' records included."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
    finally:
        await admin.close()
    contents = {}
    for name in names:
        records = await read_topic(bootstrap, name, timeout_s=2, isolation_level="read_uncommitted")
        contents[name] = "\n".join(repr(r.key) + repr(r.value) + repr(r.headers) for r in records)
    return contents


async def all_table_text(dsn: str, skip_columns: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every column of every table in the public schema, as text, by ``table.column``."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        )
        text = {}
        for column in columns:
            if column["column_name"] in skip_columns:
                continue
            rows = await conn.fetch(
                # Names read from the catalogue of a scratch database, quoted; no input.
                f'SELECT "{column["column_name"]}"::text AS v FROM "{column["table_name"]}"'  # noqa: S608
            )
            text[f"{column['table_name']}.{column['column_name']}"] = "\n".join(
                str(r["v"]) for r in rows
            )
        return text
    finally:
        await conn.close()
