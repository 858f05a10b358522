"""Producing what intake accepted, acknowledged by every in-sync replica before it answers.

The producer is idempotent with ``acks=all`` (``shared.kafka.producer_config``): a record
whose delivery future resolved is on the broker for good, and the producer's own retries
never write it twice.  A producer that aiokafka left unable to send (a broker restart can) is
replaced (``shared.producer``): the requests it failed are answered 6, never 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shared.kafka import Output
from shared.kafka.producer import RecoveringProducer


class Publisher:
    def __init__(self, producer: RecoveringProducer, probe_topic: str) -> None:
        self.producer = producer
        self.probe_topic = probe_topic

    async def publish(self, outputs: Sequence[Output]) -> None:
        """In order, each acknowledged before the next is sent: a later record is never on
        the broker without the earlier ones (a preview's work item before its event)."""
        for out in outputs:
            delivery = await self.producer.send(
                out.topic, out.value, key=out.key, headers=list(out.headers) or None
            )
            # Shielded: a caller that gives up must not cancel the producer's own future.
            await asyncio.shield(delivery)

    async def check(self) -> None:
        """Readiness: the producer can send, and a broker answers a metadata request for one
        topic only (the whole cluster's metadata can be large, and readiness is probed every
        few seconds)."""
        await self.producer.check(self.probe_topic)
