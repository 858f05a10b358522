"""A partition revoked while the dispatcher has its batch in flight (a second consumer
joins the group mid-batch) is handed back, not an error: the same process goes on, the
partition's work is done once it comes back, and nothing is sent twice.  dispatch-cim once
died here, committing the revoked partition's offsets (``IllegalStateError``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from shared.domain import Channel
from shared.kafka import admin_client
from shared.topics import Topics
from tests.dispatch.support import Served, make_work, produce_work
from tests.support.kafka import end_offsets
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

N = 20


class HeldCentre:
    """The operator's notification centre, holding every call until ``release`` is set;
    counts each message it was handed."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.taken: Counter[str] = Counter()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/notify", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        mid = (await request.json())["ext_message_id"]
        self.taken[mid] += 1
        await self.release.wait()
        return web.json_response({"id": f"inbox-{mid}"})


async def _committed_to_the_end(bootstrap: str, group: str, topic: str) -> bool:
    ends = await end_offsets(bootstrap, topic)
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    at = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    return all(at.get(partition, -1) >= end for partition, end in ends.items())


@pytest.mark.slow
async def test_a_partition_revoked_mid_batch_is_handed_back(
    dispatch_env: dict[str, str],
    topics: Topics,
    keypair: tuple[str, str],
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    centre = HeldCentre()
    topic, group = topics.dispatch(Channel.CIM), topics.group("dispatch-cim")
    works = [make_work(Channel.CIM, "player-42", keypair[1], body=f"m{i}") for i in range(N)]
    port = free_port()
    async with Served(centre.app()) as served:
        env = {
            **dispatch_env,
            "BLINDPOST_CIM_URL": f"{served.url}/notify",
            "BLINDPOST_DISPATCH_CIM_PORT": str(port),
            # The held call must outlast the rebalance, not time out.
            "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "30",
        }
        first = await ServiceProcess("dispatch-cim", env, port, tmp_path / "cim.log").start()
        joiner = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        try:
            pid = first.running_pid()
            await produce_work(kafka_bootstrap, topic, works)
            await eventually(lambda: centre.taken, within=30, what="the first mid-batch")

            await joiner.start()
            await eventually(joiner.assignment, within=30, what="the joiner given a partition")
            centre.release.set()
            await first.until_logged(
                "partitions revoked mid-batch; their work is handed back",
                pid=pid,
                what="the first to hand its revoked partition back",
            )
            await joiner.stop()  # leaves the group: the first takes the partition back

            await eventually(
                lambda: _committed_to_the_end(kafka_bootstrap, group, topic),
                within=45,
                what="every work item consumed and committed",
                details=first.log_tail,
            )
            assert first.running_pid() == pid
        finally:
            await joiner.stop()
            first.stop()
    assert centre.taken == Counter({str(work.ext_message_id): 1 for work in works})
