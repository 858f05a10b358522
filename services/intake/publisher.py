"""Producing what intake accepted, acknowledged by every in-sync replica before it answers.

The producer is idempotent with ``acks=all`` (``shared.kafka.producer_config``): a record
whose delivery future resolved is on the broker for good, and the producer's own retries
never write it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

from shared.kafka import Output


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, probe_topic: str) -> None:
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
        """Readiness: a broker answers a metadata request, for one topic only (the whole
        cluster's metadata can be large, and readiness is probed every few seconds)."""
        brokers = self.producer.client.cluster.brokers()
        if not brokers:
            raise KafkaConnectionError("no broker known")
        node_id = min(broker.nodeId for broker in brokers)
        await self.producer.client.send(node_id, MetadataRequest([self.probe_topic]))
