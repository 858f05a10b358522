"""One vault read per message id, across batches, restarts and replicas.

Before it reads the vault the resolver claims each message for the record that asked
(``resolver_reads``: its partition and offset), in PostgreSQL, committed at once.  A record
finding its message claimed by another record is a duplicate ``message.accepted`` (a retried
request that reached another intake replica): it is skipped, no second read, no output.  A
record finding the claim its own is the same record again — its batch was rolled back, or
the resolver died before its Kafka transaction committed — and reads again: that read's
result was never published, so there is nothing else to use (the one case with a second
audit row).  The original always comes first: the same key, so the same partition, earlier.

Claims older than ``retention`` are pruned; a duplicate arriving later than that would be
read again (docs/vault.md, "One vault read per message").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord
from prometheus_client import Counter

DUPLICATES = Counter(
    "blindpost_resolver_duplicates_total",
    "Duplicated message.accepted records skipped: their message was claimed by another record",
)


class ReadClaims:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, asking: Sequence[tuple[ConsumerRecord, uuid.UUID]]) -> set[int]:
        """Indexes (into ``asking``) of the records that may read the vault: one per
        message, the one that claimed it first."""
        first: dict[uuid.UUID, ConsumerRecord] = {}
        for record, mid in sorted(asking, key=lambda item: item[0].offset):
            first.setdefault(mid, record)
        mids = sorted(first)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO resolver_reads (ext_message_id, source_partition, source_offset) "
                "SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int8[]) "
                "ON CONFLICT (ext_message_id) DO NOTHING",
                mids,
                [first[m].partition for m in mids],
                [first[m].offset for m in mids],
            )
            rows = await conn.fetch(
                "SELECT ext_message_id, source_partition, source_offset FROM resolver_reads "
                "WHERE ext_message_id = ANY($1::uuid[])",
                mids,
            )
        owners = {r["ext_message_id"]: (r["source_partition"], r["source_offset"]) for r in rows}
        allowed = {
            i
            for i, (record, mid) in enumerate(asking)
            if owners.get(mid) == (record.partition, record.offset)
        }
        DUPLICATES.inc(len(asking) - len(allowed))
        return allowed

    async def prune(self, retention_days: float) -> int:
        done = await self.pool.execute(
            "DELETE FROM resolver_reads WHERE claimed_at < now() - make_interval(days => $1)",
            int(retention_days),
        )
        return int(done.split()[-1])
