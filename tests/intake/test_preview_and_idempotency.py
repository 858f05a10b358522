"""The preview path (the address comes from the request, sealed at once) and idempotency:
one (channel, uid), one ext_message_id, one message, however many copies arrive together."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from shared.domain import Channel, ext_message_id_for
from shared.events import Event, MessageAccepted
from shared.sealing import SealingKeyring
from shared.topics import Topics
from shared.work import DispatchWork
from tests.intake.conftest import (
    IntakeClient,
    email_body,
    facts,
    im_body,
    publish_facts,
    wait_for_directory,
)
from tests.support.events import payload_of
from tests.support.kafka import read_topic

ADDRESS = "Preview.Person+offers@example.org"


async def test_preview_is_sealed_for_the_email_dispatcher_and_never_in_clear(
    intake: IntakeClient,
    intake_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    events_dsn: str,
    capfd,
):
    uid = uuid.uuid4().hex
    # A preview skips the directory: the user need not exist.
    body = email_body("smartico-operator", uid, activity_type="preview", to_email_address=ADDRESS)
    answer = await intake.post("/v1/email", body)
    mid = ext_message_id_for(Channel.EMAIL, uid)
    assert answer == {"error_code": 0, "ext_message_id": str(mid)}
    support = email_body(
        "risk-team", activity_type="EmailCustomerSupport", to_email_address="risk@example.org"
    )
    assert (await intake.post("/v1/email", support))["error_code"] == 0

    work_records = await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=2)
    work = {w.ext_message_id: w for w in (DispatchWork.from_bytes(r.value) for r in work_records)}
    preview = work[mid]
    assert preview.channel is Channel.EMAIL and preview.activity_type == "preview"
    assert preview.content.subject == body["subject"]
    keyring = SealingKeyring.parse([intake_env["BLINDPOST_SEAL_PRIVATE_KEYS_EMAIL"]])
    assert keyring.open(preview.sealed_recipient, preview.sealing_context()).decode() == (
        "Preview.Person+offers@example.org"
    )

    events = [
        Event.from_bytes(r.value)
        for r in await read_topic(kafka_bootstrap, topics.message_events, expect=2)
    ]
    accepted = {e.ext_message_id: payload_of(e, MessageAccepted) for e in events}
    assert accepted[mid].recipient_source == "request"
    assert accepted[mid].activity_type == "preview"
    assert accepted[mid].ticket is None  # no vault read to admit

    # Nowhere in clear: not on any topic, not in the database, not in a log line.
    needles = [ADDRESS.encode(), ADDRESS.lower().encode(), b"risk@example.org"]
    for topic in (
        topics.message_events,
        topics.dispatch(Channel.EMAIL),
        topics.dead_letter,
        topics.subject_facts,
    ):
        for record in await read_topic(kafka_bootstrap, topic, timeout_s=2):
            blob = (
                (record.value or b"")
                + (record.key or b"")
                + b"".join(v for _k, v in record.headers or ())
            )
            assert not any(n in blob for n in needles), topic
    conn = await asyncpg.connect(events_dsn)
    try:
        for table in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ):
            # Table names from pg_tables of the test's scratch database, quoted.
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table[0]}" t')  # noqa: S608
            assert not any("example.org" in r["row"] for r in rows), table[0]
    finally:
        await conn.close()
    captured = capfd.readouterr()
    assert "example.org" not in captured.out + captured.err


async def test_concurrent_copies_get_one_id_and_one_message(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    user = f"p-{uuid.uuid4().hex[:8]}"
    await publish_facts(kafka_bootstrap, topics, facts(user, {Channel.SMS, Channel.WHATSAPP}))
    await wait_for_directory(events_dsn, user)
    uid = uuid.uuid4().hex
    sms = im_body(user, uid)

    answers = await asyncio.gather(*(intake.post("/v1/sms", sms) for _ in range(25)))
    expected = str(ext_message_id_for(Channel.SMS, uid))
    assert all(a == {"error_code": 0, "ext_message_id": expected} for a in answers)
    # A retry later, and the same uid on another channel (another message).
    assert (await intake.post("/v1/sms", sms))["ext_message_id"] == expected
    other = await intake.post("/v1/whatsapp", sms)
    assert other["error_code"] == 0 and other["ext_message_id"] != expected

    records = await read_topic(kafka_bootstrap, topics.message_events, expect=3)
    events = [Event.from_bytes(r.value) for r in records]
    sms_events = [e for e in events if str(e.ext_message_id) == expected]
    # One record: copies arriving together share one publication, later ones find it done.
    # (Another replica would publish the same event id again, which the event store keeps once.)
    assert len(sms_events) == 1
    assert len({e.ext_message_id for e in events}) == 2
