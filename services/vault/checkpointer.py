"""Signs the audit chain's head now and then, publishes the checkpoint to the audit topic
and stores it.  Published first: a checkpoint only in the database could be deleted by
whoever rewrites the chain, one on Kafka is out of their reach."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from prometheus_client import Gauge

from services.vault import audit_store
from services.vault.access import now
from services.vault.checkpoints import Checkpoint, CheckpointSigner
from services.vault.publisher import Publisher
from shared.logging import get_logger

log = get_logger(__name__)

CHECKPOINTED = Gauge(
    "blindpost_vault_audit_checkpoint_seq", "The audit row the newest signed checkpoint covers"
)


class Checkpointer:
    def __init__(
        self, pool: asyncpg.Pool, signer: CheckpointSigner, publisher: Publisher, interval_s: float
    ) -> None:
        self.pool = pool
        self.signer = signer
        self.publisher = publisher
        self.interval_s = interval_s

    async def checkpoint(self) -> Checkpoint | None:
        """Sign the current head unless it is signed already; the checkpoint made, if any."""
        async with self.pool.acquire() as conn:
            head = await audit_store.audit_head(conn)
            if head.seq == 0 or head.seq == await audit_store.latest_checkpoint_seq(conn):
                return None
            checkpoint = self.signer.sign(head.seq, head.hash, now())
            await self.publisher.checkpoint(checkpoint)
            await audit_store.store_checkpoint(conn, checkpoint)
        CHECKPOINTED.set(checkpoint.seq)
        return checkpoint

    async def run(self, stop: asyncio.Event) -> None:
        """Every interval, and once more when stopping (the last rows get signed too)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await stop.wait()
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - Kafka or the database down: next time
                log.warning("audit checkpoint not made yet", error=type(exc).__name__)
            if stop.is_set():
                return
