"""A delayed DSN is recorded, not reported (issue 14): the bounce receiver, a real process,
takes it from a remote MTA at the envelope sender the mail carried and writes a
``status.not_applied`` (outcome ``transient``, the status class) on the message's stream;
the same notice sent again is the same event."""

from __future__ import annotations

import uuid

from shared.events import Event, StatusNotApplied, StatusReported
from shared.topics import Topics
from shared.verp import BounceAddresses
from tests.bounce.samples import dsn, send_as_remote_mta
from tests.support import events as build
from tests.support.kafka import read_topic
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

RECIPIENT = "slow.mailbox.needle-8812@players.example"


async def test_a_delayed_dsn_is_a_transient_status_not_applied_on_its_message(
    base_env: dict[str, str], kafka_bootstrap: str, topics: Topics, tmp_path
) -> None:
    smtp_port, ops_port = free_port(), free_port()
    env = {
        **base_env,
        "BLINDPOST_BOUNCE_SMTP_PORT": str(smtp_port),
        "BLINDPOST_BOUNCE_RECEIVER_PORT": str(ops_port),
    }
    verp = BounceAddresses.from_env(env).require()
    delayed, sentinel = uuid.uuid4(), uuid.uuid4()
    receiver = ServiceProcess("bounce-receiver", env, ops_port, tmp_path / "bounce.log")
    await receiver.start(timeout_s=60)
    try:
        notice = dsn(verp.address(delayed), RECIPIENT, action="delayed", status="4.4.7")
        for _ in range(2):  # a remote MTA that sends its notice twice
            await send_as_remote_mta(smtp_port, verp.address(delayed), notice)
        # Sent last: once its event is read, the delay notices' events are all there.
        done = dsn(verp.address(sentinel), RECIPIENT, action="delivered", status="2.0.0")
        await send_as_remote_mta(smtp_port, verp.address(sentinel), done)
        records = await read_topic(kafka_bootstrap, topics.message_events, expect=3)
    finally:
        receiver.stop()

    events = [Event.from_bytes(r.value) for r in records]
    by_message = {e.ext_message_id: e for e in events}
    assert build.payload_of(by_message[sentinel], StatusReported).provider_status == "dsn_delivered"
    notices = [e for e in events if e.ext_message_id == delayed]
    assert len(notices) == 2 and len({e.event_id for e in notices}) == 1  # stored once
    delay = build.payload_of(notices[0], StatusNotApplied)
    assert (delay.provider, delay.outcome, delay.provider_status, delay.detail) == (
        "bounce",
        "transient",
        "dsn_delayed",
        "4.4",
    )
    assert notices[0].schema_version == 2
    assert b"needle-8812" not in b"".join(r.value for r in records)
    assert "needle-8812" not in (tmp_path / "bounce.log").read_text()
