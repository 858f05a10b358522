"""The Smartico contract as Smartico sees it: every channel, every error code, always HTTP 200
with a JSON body, and accepted messages on the event log."""

from __future__ import annotations

import uuid

import pytest

from shared.domain import Channel, ErrorCode, ext_message_id_for
from shared.events import Envelope, EventType
from shared.tickets import TicketSubject, TicketVerifier
from shared.topics import Topics
from tests.intake.conftest import (
    CALLBACK,
    SECRET,
    IntakeClient,
    body_for,
    email_body,
    facts,
    im_body,
    publish_facts,
    running_intake,
    wait_for_directory,
)
from tests.support.kafka import read_topic
from tests.support.metrics import sample_value
from tests.support.polling import eventually

ALL = {Channel.EMAIL, Channel.SMS, Channel.VIBER, Channel.WHATSAPP, Channel.CIM}


async def new_user(kafka_bootstrap: str, topics: Topics, events_dsn: str) -> str:
    """A subject with an address for every channel, once intake's directory has it."""
    user = f"player-{uuid.uuid4().hex[:8]}"
    await publish_facts(kafka_bootstrap, topics, facts(user, ALL))
    await wait_for_directory(events_dsn, user)
    return user


@pytest.fixture
async def known_user(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
) -> str:
    return await new_user(kafka_bootstrap, topics, events_dsn)


async def test_every_channel_is_accepted_and_on_the_event_log(
    intake: IntakeClient,
    known_user: str,
    kafka_bootstrap: str,
    topics: Topics,
    base_env: dict[str, str],
):
    answers = {}
    for channel in Channel:
        body = body_for(channel, known_user)
        answer = await intake.post(f"/v1/{channel.value}", body)
        assert answer["error_code"] == 0, answer
        uid = body["email_uid" if channel is Channel.EMAIL else "im_uid"]
        assert answer["ext_message_id"] == str(ext_message_id_for(channel, uid))
        answers[answer["ext_message_id"]] = (channel, body)

    tickets = TicketVerifier.parse([base_env["BLINDPOST_VAULT_TICKET_PUBLIC_KEYS"]], "keys")
    records = await read_topic(kafka_bootstrap, topics.message_events, expect=len(answers))
    events = {str(e.ext_message_id): e for e in (Envelope.from_bytes(r.value) for r in records)}
    assert set(events) == set(answers)
    for mid, (channel, body) in answers.items():
        event = events[mid]
        assert event.type == EventType.MESSAGE_ACCEPTED
        payload = event.payload  # as written on the wire
        assert payload["channel"] == channel.value
        assert payload["ext_user_id"] == known_user
        assert payload["callback_url"] == CALLBACK
        assert payload["recipient_source"] == "vault"
        assert payload["content"]["body"] == body["body"]
        # The vault's word that this read is allowed: for this message, player and channel.
        subject = TicketSubject(uuid.UUID(mid), known_user, channel)
        assert tickets.refusal(payload["ticket"], subject) is None
        if channel is Channel.CIM:
            assert payload["content"]["extension"] == {"title": "Hi", "action": "BUY"}
        if channel is Channel.EMAIL:
            assert payload["content"]["subject"] == body["subject"]


async def test_unknown_user_gets_error_1(intake: IntakeClient):
    for channel in Channel:
        answer = await intake.post(f"/v1/{channel.value}", body_for(channel, "nobody-knows-me"))
        assert answer == {"error_code": 1, "error_message": "User was not found"}


async def test_no_address_and_opted_out_and_erased(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    user = f"p-{uuid.uuid4().hex[:8]}"
    await publish_facts(
        kafka_bootstrap, topics, facts(user, {Channel.SMS, Channel.VIBER}, {Channel.VIBER})
    )
    await wait_for_directory(events_dsn, user)

    no_email = await intake.post("/v1/email", email_body(user))
    assert no_email["error_code"] == ErrorCode.NO_ADDRESS
    assert "email" in no_email["error_message"]
    assert (await intake.post("/v1/whatsapp", im_body(user)))["error_code"] == 4
    opted_out = await intake.post("/v1/viber", im_body(user))
    assert opted_out["error_code"] == ErrorCode.OPTED_OUT
    assert "viber" in opted_out["error_message"]
    assert (await intake.post("/v1/sms", im_body(user)))["error_code"] == 0
    # The custom IM needs no address: a known subject is enough.
    assert (await intake.post("/v1/cim", body_for(Channel.CIM, user)))["error_code"] == 0

    # A newer version replaces the facts; an older one arriving late does not.
    await publish_facts(
        kafka_bootstrap,
        topics,
        facts(user, {Channel.EMAIL}, version=3),
        facts(user, {Channel.SMS}, version=2),
    )
    await wait_for_directory(events_dsn, user, version=3)
    assert (await intake.post("/v1/email", email_body(user)))["error_code"] == 0
    assert (await intake.post("/v1/sms", im_body(user)))["error_code"] == 4

    # Erased (a tombstone): the user is gone.
    await publish_facts(kafka_bootstrap, topics, (user, None))
    await wait_for_directory(events_dsn, user, gone=True)
    assert (await intake.post("/v1/email", email_body(user)))["error_code"] == 1


async def test_unauthorized_is_error_3_counted_and_logged_without_the_value(
    intake: IntakeClient, known_user: str, capfd
):
    body = im_body(known_user)
    reasons = ("missing", "wrong")
    before = [await _auth_failures(intake, reason) for reason in reasons]
    missing = await intake.post("/v1/sms", body, secret=None)
    wrong = await intake.post("/v1/sms", body, secret="local-smartico-secreT")
    assert missing["error_code"] == wrong["error_code"] == ErrorCode.UNAUTHORIZED
    assert "missing" in missing["error_message"] and "wrong" in wrong["error_message"]
    # The counter is the process's: other tests on this worker count refusals too.
    after = [await _auth_failures(intake, reason) for reason in reasons]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
    metrics = await (await intake.get("/metrics")).text()
    assert "local-smartico-secreT" not in metrics
    logged = capfd.readouterr()
    assert "authorization refused" in logged.out
    assert "local-smartico-secreT" not in logged.out + logged.err


async def _auth_failures(intake: IntakeClient, reason: str) -> float:
    return await sample_value(
        intake.session,
        intake.base_url,
        "blindpost_intake_auth_failures_total",
        channel="sms",
        reason=reason,
    )


async def test_secret_rotation_accepts_every_configured_secret(
    intake_env: dict[str, str], kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    intake_env["BLINDPOST_INTAKE_SECRETS"] = "old-secret, new-secret"
    async with running_intake(intake_env) as client:
        known_user = await new_user(kafka_bootstrap, topics, events_dsn)
        for secret in ("old-secret", "new-secret"):
            answer = await client.post("/v1/sms", im_body(known_user), secret=secret)
            assert answer["error_code"] == 0
        answer = await client.post("/v1/sms", im_body(known_user), secret=SECRET)
        assert answer["error_code"] == 3


@pytest.mark.parametrize(
    ("raw", "content_type", "names"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b"", "application/json", "not valid JSON"),
        (b"\xff\xfe", "application/json", "not valid JSON"),
        (b'{"im_uid": "x"}', "text/plain", "Content-Type"),
        (b"im_uid=x", "application/x-www-form-urlencoded", "Content-Type"),
    ],
)
async def test_malformed_bodies_are_error_2(intake: IntakeClient, raw, content_type, names):
    answer = await intake.post("/v1/sms", raw=raw, content_type=content_type)
    assert answer["error_code"] == ErrorCode.INVALID_REQUEST
    assert names in answer["error_message"]


async def test_error_2_names_the_field(intake: IntakeClient, known_user: str):
    cases = [
        (
            "/v1/sms",
            {k: v for k, v in im_body(known_user).items() if k != "im_uid"},
            "im_uid is required",
        ),
        ("/v1/sms", im_body(known_user, ext_user_id=12345), "ext_user_id must be a string"),
        ("/v1/viber", im_body(known_user, im_uid=""), "im_uid must not be empty"),
        ("/v1/sms", im_body("nul\x00user"), "ext_user_id must not contain control characters"),
        ("/v1/whatsapp", im_body(known_user, callback_url="javascript:alert(1)"), "callback_url"),
        ("/v1/cim", im_body(known_user, extension=["a"]), "extension must be an object"),
        ("/v1/email", email_body(known_user, subject=None), "subject must be a string"),
        (
            "/v1/email",
            email_body(known_user, activity_type="promo"),
            "activity_type must be one of",
        ),
        (
            "/v1/email",
            email_body(known_user, activity_type="preview"),
            "to_email_address is required",
        ),
        (
            "/v1/email",
            email_body(known_user, activity_type="preview", to_email_address="no-at-sign"),
            "to_email_address is not a valid",
        ),
    ]
    for path, body, expected in cases:
        answer = await intake.post(path, body)
        assert answer["error_code"] == ErrorCode.INVALID_REQUEST, (path, answer)
        assert expected in answer["error_message"], (expected, answer)
    # The value of a rejected address is never echoed.
    assert "no-at-sign" not in answer["error_message"]


async def test_oversized_body_is_error_2(
    intake_env: dict[str, str], kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    intake_env["BLINDPOST_INTAKE_MAX_BODY_BYTES"] = "2048"
    async with running_intake(intake_env) as client:
        known_user = await new_user(kafka_bootstrap, topics, events_dsn)
        big = im_body(known_user, body="x" * 5000)
        answer = await client.post("/v1/sms", big)
        assert answer["error_code"] == 2 and "larger than 2048 bytes" in answer["error_message"]

        # Chunked, without a Content-Length: the limit still holds.
        async def chunks():
            yield b'{"body": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        async with client.session.post(
            client.base_url + "/v1/sms",
            data=chunks(),
            headers={"Authorization": SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["error_code"] == 2 and "larger than" in answer["error_message"]
        assert (await client.post("/v1/sms", im_body(known_user)))["error_code"] == 0


async def test_openapi_document_is_served(intake: IntakeClient):
    response = await intake.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert set(document["paths"]) == {f"/v1/{c.value}" for c in Channel}


async def test_unknown_path_is_404(intake: IntakeClient):
    async with intake.session.post(intake.base_url + "/v1/fax", json={}) as response:
        assert response.status == 404


async def test_metrics_count_requests_by_channel_and_code_with_latency(
    intake: IntakeClient, known_user: str
):
    assert (await intake.post("/v1/viber", im_body(known_user)))["error_code"] == 0
    assert (await intake.post("/v1/viber", im_body("stranger")))["error_code"] == 1
    metrics = await (await intake.get("/metrics")).text()
    assert 'blindpost_intake_requests_total{channel="viber",error_code="0"}' in metrics
    assert 'blindpost_intake_requests_total{channel="viber",error_code="1"}' in metrics
    assert 'blindpost_intake_request_duration_seconds_bucket{channel="viber",le="0.05"}' in metrics


async def test_malformed_subject_facts_are_dead_lettered_and_do_not_block(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    from shared.kafka import start_producer

    producer = await start_producer(kafka_bootstrap)
    try:
        # The same key as the good record after it: one partition, the poison comes first.
        await producer.send_and_wait(topics.subject_facts, b"{not facts", key=b"later-user")
        await producer.send_and_wait(
            topics.subject_facts, facts("someone-else", ALL).to_bytes(), key=b"later-user"
        )
        # PostgreSQL text cannot hold NUL: refused before it could stall the batch.
        await producer.send_and_wait(
            topics.subject_facts, facts("nul\x00user", ALL).to_bytes(), key=b"nul\x00user"
        )
    finally:
        await producer.stop()
    user = await new_user(kafka_bootstrap, topics, events_dsn)
    assert (await intake.post("/v1/sms", im_body(user)))["error_code"] == 0

    dead = await read_topic(kafka_bootstrap, topics.dead_letter, expect=3)
    reasons = sorted(dict(r.headers)["blindpost.reason"].decode() for r in dead)
    assert len(reasons) == 3
    assert any("readable key" in reason for reason in reasons)
    assert "ValidationError: malformed record" in reasons
    assert any("key is not their ext_user_id" in reason for reason in reasons)


async def test_a_bug_is_error_9_and_the_next_request_is_served(
    intake_env: dict[str, str], kafka_bootstrap: str, topics: Topics, events_dsn: str, capfd
):
    """Fault injection in our own code (not in Kafka or PostgreSQL): a lookup that raises
    something no rule expects."""
    from aiohttp.test_utils import TestClient, TestServer

    from services.intake.app import create_app
    from services.intake.http_api import INTAKE
    from services.intake.settings import IntakeSettings

    app = create_app(IntakeSettings.from_env(intake_env))
    async with TestClient(TestServer(app)) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await eventually(ready, within=10, what="intake ready")
        intake = app[INTAKE]
        real_lookup = intake.lookup

        async def broken(ext_user_id: str):
            raise ZeroDivisionError("a bug")

        intake.lookup = broken
        body = im_body("anyone")
        response = await client.post("/v1/sms", json=body, headers={"Authorization": SECRET})
        assert response.status == 200
        assert await response.json() == {"error_code": 9, "error_message": "Internal error"}
        assert "ZeroDivisionError" in capfd.readouterr().out

        intake.lookup = real_lookup
        response = await client.post("/v1/sms", json=body, headers={"Authorization": SECRET})
        assert (await response.json())["error_code"] == 1
