"""Players' replies without I/O: which texts are a STOP, and each provider's reader of its
inbound messages (verified first, the number kept out of every repr).  Viber's callbacks
that are no status."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from services.status_ingest.providers.base import InvalidSignature, Unusable
from services.status_ingest.providers.generic import Generic, GenericStops
from services.status_ingest.providers.stops import Stop, is_stop_word
from services.status_ingest.providers.twilio import Twilio, TwilioStops, twilio_signature
from services.status_ingest.providers.viber import Viber, viber_signature
from services.status_ingest.providers.vonage import Vonage, VonageStops
from shared.domain import Channel
from tests.status_ingest import payloads as p
from tests.status_ingest.test_providers import BASE, inbound


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        (" stop ", True),
        ("Stop.", True),
        ("STOPALL", True),
        ("unsubscribe!", True),
        ("Cancel", True),
        ("end", True),
        ("QUIT", True),
        ("stop sending me offers", False),
        ("please stop", False),
        ("STOP STOP", False),
        ("", False),
        (None, False),
        (7, False),
    ],
)
def test_a_stop_is_one_opt_out_keyword_alone(text: object, stop: bool) -> None:
    assert is_stop_word(text) is stop


def test_a_stop_never_shows_its_number() -> None:
    assert p.PHONE not in repr(Stop(Channel.SMS, p.PHONE))


async def test_twilio_reads_advanced_opt_out_and_whatsapp_senders() -> None:
    url = BASE + "/webhooks/twilio/inbound"
    form = [("From", f"whatsapp:{p.PHONE}"), ("Body", "no thanks"), ("OptOutType", "STOP")]
    signed = p.Signed(
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(p.TWILIO_TOKEN, url, form),
        },
        urlencode(form).encode(),
    )
    stop = await TwilioStops(Twilio(p.TWILIO_TOKEN)).read(
        inbound(signed, "/webhooks/twilio/inbound")
    )
    assert stop == Stop(Channel.WHATSAPP, p.PHONE)


async def test_vonage_reads_whole_text_messages_only_and_gives_the_number_in_e164() -> None:
    reader = VonageStops(Vonage(p.VONAGE_SECRET))
    stop = p.vonage_inbound(p.PHONE_BARE, "STOP")
    assert await reader.read(inbound(p.vonage_signed_query(stop))) == Stop(Channel.SMS, p.PHONE)
    assert await reader.read(inbound(p.vonage_jwt_json(stop))) == Stop(Channel.SMS, p.PHONE)
    for other in (
        {**stop, "type": "binary"},
        {**stop, "concat": "true", "concat-part": "2", "concat-total": "2"},
        {**stop, "text": "stop it"},
        {**stop, "msisdn": "Casino"},
    ):
        assert await reader.read(inbound(p.vonage_signed_query(other))) is None
    with pytest.raises(InvalidSignature):
        await reader.read(inbound(p.vonage_signed_query(stop, secret="not-ours")))
    two_days_ago = int(time.time()) - 2 * 86400
    with pytest.raises(InvalidSignature, match="window"):
        await reader.read(inbound(p.vonage_signed_query(stop, timestamp=two_days_ago)))


async def test_generic_reads_its_documented_inbound_format() -> None:
    reader = GenericStops(Generic([p.GENERIC_SECRET]), window_s=300)
    message = {"from": p.PHONE, "to": "Casino", "body": "END", "channel": "whatsapp"}
    assert await reader.read(inbound(p.generic(message))) == Stop(Channel.WHATSAPP, p.PHONE)
    assert await reader.read(inbound(p.generic({**message, "body": "hello"}))) is None
    for unreadable in ({**message, "channel": "email"}, {"body": "STOP"}, [message]):
        with pytest.raises(Unusable):
            await reader.read(inbound(p.generic(unreadable)))
    with pytest.raises(InvalidSignature, match="window"):
        await reader.read(inbound(p.generic(message, timestamp=int(time.time()) - 3600)))


async def test_viber_s_url_check_is_answered_and_other_events_name_no_status() -> None:
    viber = Viber(p.VIBER_TOKEN)
    check = inbound(p.viber("webhook", 4912661846655238145))
    await viber.verify(check)
    assert await viber.handshake(check) is not None
    subscribed = inbound(p.viber("subscribed", None))
    assert await viber.handshake(subscribed) is None
    ((report,),) = [viber.parse(subscribed)]
    assert (report.provider_status, report.provider_message_id) == ("subscribed", None)
    body = json.dumps([{"event": "delivered"}]).encode()
    signed = p.Signed({"X-Viber-Content-Signature": viber_signature(p.VIBER_TOKEN, body)}, body)
    await viber.verify(inbound(signed))
    with pytest.raises(Unusable):
        viber.parse(inbound(signed))
