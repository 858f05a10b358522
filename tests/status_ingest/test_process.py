"""``blindpost run status-ingest`` as a real process: it serves health, readiness and
metrics on its port and turns a signed webhook into a status on the event log."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from shared.events import Event, EventType, StatusReported
from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import ingest_env
from tests.support.events import payload_of
from tests.support.kafka import read_topic
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess


@pytest.mark.slow
async def test_the_service_process_records_a_webhook(
    base_env, events_dsn, topics, kafka_bootstrap, tmp_path
) -> None:
    port = free_port()
    process = ServiceProcess(
        "status-ingest", ingest_env(base_env, events_dsn, port), port, tmp_path / "ingest.log"
    )
    await process.start()
    try:
        mid = str(uuid.uuid4())
        signed = p.generic({"ext_message_id": mid, "status": "delivered"})
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/webhooks/generic",
                data=signed.body,
                headers=signed.headers,
            ) as response:
                assert response.status == 200
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                metrics = await response.text()
        assert (
            'blindpost_status_webhooks_total{outcome="accepted",provider="generic"} 1.0' in metrics
        )
        records = await read_topic(kafka_bootstrap, topics.message_events, expect=1)
        events = [Event.from_bytes(r.value) for r in records]
        assert [
            (str(e.ext_message_id), e.type, payload_of(e, StatusReported).status) for e in events
        ] == [(mid, EventType.STATUS_REPORTED, "delivered")]
    finally:
        process.stop()
    assert p.GENERIC_SECRET not in process.log_path.read_text()
