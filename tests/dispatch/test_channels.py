"""Viber and WhatsApp each have their own dispatcher: their own topic, consumer group and
process, sending to providers that speak their wire formats (Viber's own bot API among
them).  Work written to the SMS topic before the split (by a resolver from before it) is
handed on, not lost."""

from __future__ import annotations

import functools
import json
import uuid

from aiohttp import web

from services.dispatch.settings import SmsSettings, ViberSettings
from services.dispatch.sms_main import create_sms_app
from services.dispatch.viber_main import create_viber_app
from shared.domain import Channel
from shared.events import DispatchFailed, DispatchSucceeded, Event
from shared.kafka import admin_client
from shared.topics import Topics
from tests.dispatch.support import (
    Served,
    dispatch_until_settled,
    make_work,
    outcomes,
    produce_work,
    settled,
    wait_for_events,
)
from tests.dispatch.test_sms_providers import generic_fake, meta_fake
from tests.support.events import payload_of
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

VIBER_PHONE = "+380501234567"
WA_PHONE = "+4915123456789"


async def committed_topics(bootstrap: str, group: str) -> set[str]:
    """The topics on which ``group`` has committed an offset."""
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        return {tp.topic for tp in await admin.list_consumer_group_offsets(group)}
    finally:
        await admin.close()


def sent_by(events: list[Event], ext_message_id: uuid.UUID) -> DispatchSucceeded:
    return payload_of(outcomes(events)[ext_message_id][-1], DispatchSucceeded)


async def test_viber_and_whatsapp_are_sent_by_their_own_dispatchers(
    dispatch_env, topics: Topics, keypair, kafka_bootstrap, tmp_path
):
    viber_provider, meta = generic_fake(), meta_fake()
    ports = {"viber": free_port(), "whatsapp": free_port()}
    async with (
        Served(viber_provider.app("/viber")) as vb,
        Served(meta.app("/v21.0/{pnid}/messages")) as mt,
    ):
        env = {
            **dispatch_env,
            "BLINDPOST_VIBER_HTTP_URL": f"{vb.url}/viber",
            "BLINDPOST_WHATSAPP_PROVIDER": "meta",
            "BLINDPOST_META_ACCESS_TOKEN": "meta-token",
            "BLINDPOST_META_PHONE_NUMBER_ID": "1055",
            "BLINDPOST_META_BASE_URL": mt.url,
            "BLINDPOST_DISPATCH_VIBER_PORT": str(ports["viber"]),
            "BLINDPOST_DISPATCH_WHATSAPP_PORT": str(ports["whatsapp"]),
        }
        processes = [
            ServiceProcess(f"dispatch-{name}", env, port, tmp_path / f"dispatch-{name}.log")
            for name, port in ports.items()
        ]
        viber = make_work(Channel.VIBER, VIBER_PHONE, keypair[1], body="Viber hello")
        whatsapp = make_work(Channel.WHATSAPP, WA_PHONE, keypair[1], body="WhatsApp hello")
        # Left on the SMS topic by a resolver from before each channel had its own.
        legacy = make_work(Channel.VIBER, VIBER_PHONE, keypair[1], body="from before")
        try:
            for process in processes:
                await process.start()
            await produce_work(kafka_bootstrap, topics.dispatch(Channel.VIBER), [viber])
            await produce_work(kafka_bootstrap, topics.dispatch(Channel.WHATSAPP), [whatsapp])
            await produce_work(kafka_bootstrap, topics.dispatch(Channel.SMS), [legacy])
            async with Served(create_sms_app(SmsSettings.from_env(env))):
                events = await wait_for_events(
                    kafka_bootstrap, topics.message_events, settled(3), timeout_s=60
                )
        finally:
            for process in processes:
                process.stop()

    assert sent_by(events, viber.ext_message_id).provider_message_id == "gen-1"
    assert sent_by(events, viber.ext_message_id).sending_domain is None  # e-mail only
    assert sent_by(events, legacy.ext_message_id).provider == "generic"
    assert sent_by(events, whatsapp.ext_message_id).provider_message_id == "wamid.HBgL1"
    sources = {e.producer for e in events if e.ext_message_id == whatsapp.ext_message_id}
    assert sources == {"dispatch-whatsapp"}
    assert {e.producer for e in events if e.ext_message_id == legacy.ext_message_id} == {
        "dispatch-viber"
    }
    bodies = sorted(json.loads(raw)["body"] for _request, raw in viber_provider.requests)
    assert bodies == ["Viber hello", "from before"]
    ((_request, raw),) = meta.requests
    assert json.loads(raw)["to"] == WA_PHONE.lstrip("+")

    # Each consumed by its own group, on its own topic only.
    expected = {
        "dispatch-viber": {topics.dispatch(Channel.VIBER)},
        "dispatch-whatsapp": {topics.dispatch(Channel.WHATSAPP)},
        "dispatch-sms": {topics.dispatch(Channel.SMS)},
    }
    for stage, consumed in expected.items():
        await eventually(
            functools.partial(committed_topics, kafka_bootstrap, topics.group(stage)),
            within=20,
            what=f"{stage} to commit its offsets",
        )
        assert await committed_topics(kafka_bootstrap, topics.group(stage)) == consumed


class ViberBotApi:
    """Viber's REST bot API as it answers: HTTP 200 with a JSON ``status`` (0 = sent)."""

    def __init__(self, statuses: dict[str, list[int]]) -> None:
        self.statuses = statuses  # per receiver, the statuses to answer in turn (then 0)
        self.requests: list[tuple[dict[str, str], dict]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pa/send_message", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        pending = self.statuses.get(body["receiver"], [])
        status = pending.pop(0) if pending else 0
        if status:
            return web.json_response({"status": status, "status_message": "refused"})
        token = 5741311803571721087 + len(self.requests)
        return web.json_response(
            {"status": 0, "status_message": "ok", "message_token": token, "chat_hostname": "SN-1"}
        )


async def test_viber_through_viber_s_own_bot_api(dispatch_env, topics, keypair, kafka_bootstrap):
    api = ViberBotApi({"viber-busy": [12], "viber-gone": [6]})
    async with Served(api.app()) as served:
        env = {
            **dispatch_env,
            "BLINDPOST_VIBER_PROVIDER": "viber",
            "BLINDPOST_VIBER_AUTH_TOKEN": "viber-token",
            "BLINDPOST_VIBER_SENDER_NAME": "Amazing Casino",
            "BLINDPOST_VIBER_BASE_URL": served.url,
        }
        sent, busy, gone = (
            make_work(Channel.VIBER, receiver, keypair[1], body=f"hello {receiver}")
            for receiver in ("viber-abc", "viber-busy", "viber-gone")
        )
        events = await dispatch_until_settled(
            create_viber_app(ViberSettings.from_env(env)),
            kafka_bootstrap,
            topics,
            [sent, busy, gone],
        )

    # Sent concurrently: the first message's request is found by its receiver.
    ((headers, body),) = [(h, b) for h, b in api.requests if b["receiver"] == "viber-abc"]
    assert headers["X-Viber-Auth-Token"] == "viber-token"
    assert body == {
        "receiver": "viber-abc",
        "min_api_version": 1,
        "sender": {"name": "Amazing Casino"},
        "tracking_data": str(sent.ext_message_id),
        "type": "text",
        "text": "hello viber-abc",
    }
    assert sent_by(events, sent.ext_message_id).provider == "viber"
    assert sent_by(events, busy.ext_message_id).attempt == 2  # 12 (too many requests): again
    failed = payload_of(outcomes(events)[gone.ext_message_id][-1], DispatchFailed)
    assert (failed.reason, failed.retryable) == ("viber_receiver_not_subscribed", False)
    assert "refused" not in "".join(e.model_dump_json() for e in events)  # never Viber's text
