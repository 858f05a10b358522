"""Every refusal is an event: ``message.refused`` on the refusal's own stream, with the code
and our reason, the uid and ext_user_id when the request had valid ones, and nothing else
from the request (no address, no content)."""

from __future__ import annotations

import uuid

from shared.domain import Channel, ErrorCode
from shared.events import Event, EventType, MessageRefused, refusal_id_for
from shared.topics import Topics
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


async def refusals(bootstrap: str, topics: Topics, expect: int) -> list[Event]:
    records = await read_topic(bootstrap, topics.message_events, expect=expect)
    events = [Event.from_bytes(r.value) for r in records]
    assert {e.type for e in events} == {EventType.MESSAGE_REFUSED}
    return events


async def test_each_refusal_is_an_event_on_its_own_stream_without_the_request(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics
):
    uid = uuid.uuid4().hex
    body = email_body("nobody-knows-me", uid)
    assert (await intake.post("/v1/email", body))["error_code"] == ErrorCode.USER_NOT_FOUND
    assert (await intake.post("/v1/email", body))["error_code"] == ErrorCode.USER_NOT_FOUND
    assert (await intake.post("/v1/sms", im_body("x"), secret=None))["error_code"] == 3
    invalid = {**im_body("someone"), "im_uid": ""}
    assert (await intake.post("/v1/viber", invalid))["error_code"] == ErrorCode.INVALID_REQUEST

    events = await refusals(kafka_bootstrap, topics, expect=4)
    by_code = {payload_of(e, MessageRefused).error_code: e for e in events}
    assert set(by_code) == {1, 2, 3}
    unknown = by_code[1]
    assert unknown.ext_message_id == refusal_id_for(Channel.EMAIL, uid, 1)
    assert payload_of(unknown, MessageRefused) == MessageRefused(
        channel=Channel.EMAIL,
        error_code=1,
        reason="user_not_found",
        uid=uid,
        ext_user_id="nobody-knows-me",
    )
    # The retry is the same refusal: the same event id, stored once.
    assert len({e.event_id for e in events if e.ext_message_id == unknown.ext_message_id}) == 1
    for code, reason in ((2, "invalid_request"), (3, "unauthorized")):
        refused = payload_of(by_code[code], MessageRefused)
        assert (refused.reason, refused.uid, refused.ext_user_id) == (reason, None, None)
    # Nothing of the request but its ids: not its sender, subject or body.
    for event in events:
        raw = event.to_bytes().decode()
        for value in (body["from_email_address"], body["subject"], body["body"], "Best offer"):
            assert value not in raw


async def test_a_suppressed_player_is_refused_with_5_recorded_as_suppressed(
    intake: IntakeClient, kafka_bootstrap: str, topics: Topics, events_dsn: str
):
    """The vault's facts name the channels on its suppression list apart from the player's
    opt-outs: both are answered 5, and the refusal's event says which it was."""
    user = f"bounced-{uuid.uuid4().hex[:8]}"
    channels = {Channel.EMAIL, Channel.SMS, Channel.VIBER}
    bounced = facts(user, channels, {Channel.VIBER}, suppressed={Channel.EMAIL})
    await publish_facts(kafka_bootstrap, topics, bounced)
    await wait_for_directory(events_dsn, user)
    by_channel = {}
    for channel, body in ((Channel.EMAIL, email_body(user)), (Channel.VIBER, im_body(user))):
        answer = await intake.post(f"/v1/{channel.value}", body)
        assert answer["error_code"] == ErrorCode.OPTED_OUT
        by_channel[channel] = refusal_id_for(channel, body.get("email_uid") or body["im_uid"], 5)

    events = {e.ext_message_id: e for e in await refusals(kafka_bootstrap, topics, expect=2)}
    assert payload_of(events[by_channel[Channel.EMAIL]], MessageRefused).reason == "suppressed"
    assert payload_of(events[by_channel[Channel.VIBER]], MessageRefused).reason == "opted_out"
