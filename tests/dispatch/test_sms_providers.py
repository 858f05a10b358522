"""SMS, Viber and WhatsApp reach local servers speaking Twilio's, Vonage's, Meta's and the
generic provider's wire formats."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from services.dispatch.settings import SmsSettings, ViberSettings, WhatsAppSettings
from services.dispatch.sms_main import create_sms_app
from services.dispatch.viber_main import create_viber_app
from services.dispatch.whatsapp_main import create_whatsapp_app
from shared.domain import Channel
from shared.events import DispatchSucceeded, EventType
from tests.dispatch.support import FakeProvider, Served, dispatch_until_settled, make_work, outcomes
from tests.support.events import payload_of

PHONE = "+447700900123"
WA_PHONE = "+4915123456789"
VIBER_PHONE = "+380501234567"


def twilio_fake() -> FakeProvider:
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        return web.json_response({"sid": f"SM{n:032d}", "status": "queued"}, status=201)

    return FakeProvider(answer)


def vonage_fake() -> FakeProvider:
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        form = parse_qs(raw.decode())
        return web.json_response(
            {
                "message-count": "1",
                "messages": [
                    {
                        "to": form["to"][0],
                        "message-id": f"vonage-{n}",
                        "status": "0",
                        "remaining-balance": "3.14",
                        "message-price": "0.03",
                        "network": "12345",
                        "client-ref": form["client-ref"][0],
                    }
                ],
            }
        )

    return FakeProvider(answer)


def meta_fake() -> FakeProvider:
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        body = json.loads(raw)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": f"wamid.HBgL{n}"}],
            }
        )

    return FakeProvider(answer)


def generic_fake() -> FakeProvider:
    def answer(request: web.Request, raw: bytes, n: int) -> web.Response:
        return web.json_response({"message_id": f"gen-{n}"})

    return FakeProvider(answer)


def twilio_app(fake: FakeProvider) -> web.Application:
    return fake.app("/2010-04-01/Accounts/{sid}/Messages.json")


def phone_dispatchers(env: dict[str, str]) -> list[web.Application]:
    """The SMS, Viber and WhatsApp dispatchers, each its own app as each is its own process."""
    return [
        create_sms_app(SmsSettings.from_env(env)),
        create_viber_app(ViberSettings.from_env(env)),
        create_whatsapp_app(WhatsAppSettings.from_env(env)),
    ]


async def test_twilio_sms_meta_whatsapp_generic_viber(
    dispatch_env, topics, keypair, kafka_bootstrap
):
    twilio, meta, generic = twilio_fake(), meta_fake(), generic_fake()
    async with (
        Served(twilio_app(twilio)) as tw,
        Served(meta.app("/v21.0/{pnid}/messages")) as mt,
        Served(generic.app("/sms")) as gen,
    ):
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_PROVIDER": "twilio",
            "BLINDPOST_WHATSAPP_PROVIDER": "meta",
            "BLINDPOST_TWILIO_ACCOUNT_SID": "AC123",
            "BLINDPOST_TWILIO_AUTH_TOKEN": "tw-token",
            "BLINDPOST_TWILIO_BASE_URL": tw.url,
            "BLINDPOST_META_ACCESS_TOKEN": "meta-token",
            "BLINDPOST_META_PHONE_NUMBER_ID": "1055",
            "BLINDPOST_META_BASE_URL": mt.url,
            "BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms",
        }
        sms = make_work(
            Channel.SMS, PHONE, keypair[1], body="Best offer ever", from_number="Amazing"
        )
        wa = make_work(Channel.WHATSAPP, WA_PHONE, keypair[1], body="Your bonus is here")
        viber = make_work(Channel.VIBER, VIBER_PHONE, keypair[1], body="Viber hello")
        events = await dispatch_until_settled(
            phone_dispatchers(env), kafka_bootstrap, topics, [sms, wa, viber]
        )

    ((request, raw),) = twilio.requests
    assert request.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:tw-token").decode()
    )
    form = parse_qs(raw.decode())
    assert (
        form["To"] == [PHONE]
        and form["From"] == ["Amazing"]
        and form["Body"] == ["Best offer ever"]
    )
    callback = urlsplit(form["StatusCallback"][0])
    assert callback.path == "/webhooks/twilio"
    assert parse_qs(callback.query)["bp_mid"] == [str(sms.ext_message_id)]

    ((request, raw),) = meta.requests
    assert request.headers["Authorization"] == "Bearer meta-token"
    body = json.loads(raw)
    assert body["messaging_product"] == "whatsapp" and body["to"] == WA_PHONE.lstrip("+")
    assert body["text"]["body"] == "Your bonus is here"
    assert body["biz_opaque_callback_data"] == str(wa.ext_message_id)

    ((request, raw),) = generic.requests
    assert json.loads(raw)["to"] == VIBER_PHONE and json.loads(raw)["channel"] == "viber"

    by_id = outcomes(events)
    sent = {
        w.ext_message_id: payload_of(by_id[w.ext_message_id][-1], DispatchSucceeded)
        for w in (sms, wa, viber)
    }
    assert sent[sms.ext_message_id].provider_message_id == f"SM{1:032d}"
    assert sent[wa.ext_message_id].provider_message_id == "wamid.HBgL1"
    assert sent[viber.ext_message_id].provider_message_id == "gen-1"
    for event in events:
        text = event.model_dump_json()
        assert PHONE not in text and WA_PHONE.lstrip("+") not in text and VIBER_PHONE not in text


async def test_vonage_sms_and_twilio_whatsapp(dispatch_env, topics, keypair, kafka_bootstrap):
    vonage, twilio = vonage_fake(), twilio_fake()
    async with Served(vonage.app("/sms/json")) as vn, Served(twilio_app(twilio)) as tw:
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_PROVIDER": "vonage",
            "BLINDPOST_WHATSAPP_PROVIDER": "twilio",
            "BLINDPOST_VONAGE_API_KEY": "vkey",
            "BLINDPOST_VONAGE_API_SECRET": "vsecret",
            "BLINDPOST_VONAGE_BASE_URL": vn.url,
            "BLINDPOST_TWILIO_ACCOUNT_SID": "AC9",
            "BLINDPOST_TWILIO_AUTH_TOKEN": "t",
            "BLINDPOST_TWILIO_BASE_URL": tw.url,
            "BLINDPOST_TWILIO_WHATSAPP_FROM": "+14155238886",
        }
        sms = make_work(
            Channel.SMS, PHONE, keypair[1], body="Привет, бонус!", from_number="Amazing"
        )
        wa = make_work(Channel.WHATSAPP, WA_PHONE, keypair[1], body="WA via Twilio")
        events = await dispatch_until_settled(
            phone_dispatchers(env), kafka_bootstrap, topics, [sms, wa]
        )

    ((_request, raw),) = vonage.requests
    form = parse_qs(raw.decode())
    assert form["api_key"] == ["vkey"] and form["api_secret"] == ["vsecret"]
    assert form["to"] == [PHONE.lstrip("+")] and form["from"] == ["Amazing"]
    assert form["text"] == ["Привет, бонус!"] and form["type"] == ["unicode"]
    assert form["client-ref"] == [str(sms.ext_message_id)]
    ((_request, raw),) = twilio.requests
    form = parse_qs(raw.decode())
    assert form["To"] == [f"whatsapp:{WA_PHONE}"] and form["From"] == ["whatsapp:+14155238886"]

    by_id = outcomes(events)
    dispatched = payload_of(by_id[sms.ext_message_id][-1], DispatchSucceeded)
    assert dispatched.provider == "vonage" and dispatched.provider_message_id == "vonage-1"
    assert dispatched.segments == 1
    assert by_id[wa.ext_message_id][-1].type == EventType.DISPATCH_SUCCEEDED


async def test_generic_provider_gets_idempotency_key_and_long_unicode_counts_segments(
    dispatch_env, topics, keypair, kafka_bootstrap
):
    generic = generic_fake()
    async with Served(generic.app("/sms")) as gen:
        env = {
            **dispatch_env,
            "BLINDPOST_SMS_HTTP_URL": f"{gen.url}/sms",
            "BLINDPOST_SMS_HTTP_TOKEN": "gen-token",
        }
        body = "Ставка дня! " * 12  # 144 UCS-2 characters: 3 segments of 67
        sms = make_work(Channel.SMS, PHONE, keypair[1], body=body, from_number="+15550001111")
        events = await dispatch_until_settled(
            create_sms_app(SmsSettings.from_env(env)), kafka_bootstrap, topics, [sms]
        )
    request, raw = generic.requests[0]
    assert request.headers["Idempotency-Key"] == str(sms.ext_message_id)
    assert request.headers["Authorization"] == "Bearer gen-token"
    assert json.loads(raw) == {
        "to": PHONE,
        "from": "+15550001111",
        "body": body,
        "channel": "sms",
        "ext_message_id": str(sms.ext_message_id),
    }
    dispatched = payload_of(outcomes(events)[sms.ext_message_id][-1], DispatchSucceeded)
    assert dispatched.segments == 3 and dispatched.provider_message_id == "gen-1"
