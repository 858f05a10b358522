"""Takes the events of recorded callback outcomes from the store's outbox to Kafka.  The
outcome is durable before its events leave, so a broker outage delays the events and
nothing else: no result waits for the broker, no lease runs out on an answered callback."""

from __future__ import annotations

import asyncio
import contextlib

from services.callback_relay.store import CallbackStore
from shared.kafka import RecoveringProducer, send_outputs
from shared.logging import get_logger

log = get_logger(__name__)
BATCH = 500


class EventPublisher:
    def __init__(
        self,
        store: CallbackStore,
        producer: RecoveringProducer,
        *,
        recorded: asyncio.Event,
        poll_interval_s: float,
    ) -> None:
        self.store = store
        self.producer = producer
        self.recorded = recorded  # set by the deliverer when it recorded more
        self.poll_interval_s = poll_interval_s

    async def run(self, until: asyncio.Event) -> None:
        """Publishes until ``until`` is set (the deliverer has stopped recording) and the
        outbox is empty; what is left at a crash is published by the next start."""
        while True:
            self.recorded.clear()
            try:
                published = await self.publish_some()
            except Exception as exc:  # noqa: BLE001 - the events stay in the outbox
                log.warning("callback events not published yet", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if published:
                continue
            if until.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval_s):
                    await self.recorded.wait()

    async def publish_some(self) -> int:
        async with self.store.unpublished(BATCH) as outputs:
            await send_outputs(self.producer, outputs)
        return len(outputs)
