"""Provider adapters without I/O: each verifies the provider's real wire format and refuses
look-alikes; parsing keeps ids and statuses and drops every address and number."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

import pytest
from yarl import URL

from services.status_ingest.providers.base import Inbound, InvalidSignature
from services.status_ingest.providers.generic import Generic, generic_signature
from services.status_ingest.providers.mailgun import Mailgun
from services.status_ingest.providers.sendgrid import SendGrid
from services.status_ingest.providers.ses import Ses, sns_url, string_to_sign
from services.status_ingest.providers.twilio import Twilio
from services.status_ingest.providers.vonage import Vonage, vonage_sig
from services.status_ingest.providers.whatsapp import WhatsApp
from tests.status_ingest import payloads as p

BASE = "https://status.casino.example"


def inbound(signed: p.Signed, path: str = "/webhooks/x") -> Inbound:
    url = BASE + path + (f"?{signed.query}" if signed.query else "")
    return Inbound(
        method=signed.method,
        url=url,
        headers=signed.headers,
        query=dict(parse_qsl(signed.query)),
        body=signed.body,
        content_type=signed.headers.get("Content-Type", "").split(";")[0],
    )


def no_pii(reports) -> None:  # type: ignore[no-untyped-def]
    text = repr(reports)
    for pii in (p.EMAIL, p.PHONE, p.PHONE_BARE):
        assert pii not in text


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
        ("http://sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com:8443/x.pem", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/x.pem", False),
        ("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://user@sns.eu-west-1.amazonaws.com/x.pem", False),
        ("https://s3.amazonaws.com/sns/x.pem", False),
        ("https://127.0.0.1/x.pem", False),
    ],
)
def test_sns_certificates_come_only_from_amazon_sns_hosts(url: str, ok: bool) -> None:
    if ok:
        assert sns_url(url) == URL(url)
    else:
        with pytest.raises(InvalidSignature):
            sns_url(url)


def test_sns_string_to_sign_follows_the_documented_field_order() -> None:
    note = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "t",
        "Message": "x",
        "Timestamp": "ts",
        "Subject": "s",
        "SignatureVersion": "1",
        "Signature": "z",
    }
    assert (
        string_to_sign(note)
        == b"Message\nx\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    )
    sub = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "k",
        "TopicArn": "t",
        "Message": "x",
        "SubscribeURL": "u",
        "Timestamp": "ts",
    }
    assert string_to_sign(sub) == (
        b"Message\nx\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
    )


async def test_ses_never_fetches_a_certificate_for_an_unknown_topic() -> None:
    fetched: list[URL] = []

    async def fetch(url: URL) -> bytes:
        fetched.append(url)
        return p.SNS_CERT_PEM

    ses = Ses([p.TOPIC_ARN], fetch)
    mid = str(uuid.uuid4())
    with pytest.raises(InvalidSignature):
        await ses.verify(
            inbound(
                p.sns(
                    p.ses_notification(mid, "Delivery", ses_message_id="x"),
                    topic="arn:aws:sns:eu-west-1:1:other",
                )
            )
        )
    assert fetched == []
    signed = inbound(p.sns(p.ses_notification(mid, "Bounce", ses_message_id="x"), version="2"))
    await ses.verify(signed)
    (report,) = ses.parse(signed)
    assert (report.ext_message_id, report.provider_status) == (mid, "bounce:permanent")
    no_pii([report])


async def test_sendgrid_reads_custom_args_and_the_x_message_id() -> None:
    sendgrid = SendGrid(p.SENDGRID_PUBLIC_B64)
    mid = str(uuid.uuid4())
    signed = inbound(
        p.sendgrid(p.sendgrid_events(mid, "14c5d75ce93.dfd.64b469", ["bounce:bounce", "click"]))
    )
    await sendgrid.verify(signed)
    reports = sendgrid.parse(signed)
    assert [(r.ext_message_id, r.provider_message_id, r.provider_status) for r in reports] == [
        (mid, "14c5d75ce93", "bounce:bounce"),
        (mid, "14c5d75ce93", "click"),
    ]
    assert reports[0].detail == "smtp 5.1.1"
    no_pii(reports)


async def test_mailgun_needs_its_signature_block() -> None:
    mailgun = Mailgun(p.MAILGUN_KEY)
    with pytest.raises(InvalidSignature):
        await mailgun.verify(inbound(p.Signed({}, b'{"event-data": {"event": "delivered"}}')))
    mid = str(uuid.uuid4())
    signed = inbound(p.mailgun(mid, "failed", severity="permanent"))
    await mailgun.verify(signed)
    (report,) = mailgun.parse(signed)
    assert (report.ext_message_id, report.provider_status, report.detail) == (
        mid,
        "failed:permanent",
        "smtp 550",
    )
    no_pii([report])


async def test_twilio_signs_the_full_url_with_our_bp_mid() -> None:
    twilio = Twilio(p.TWILIO_TOKEN)
    mid = str(uuid.uuid4())
    signed = p.twilio(BASE, mid, "SMabc", "undelivered")
    request = inbound(signed, "/webhooks/twilio")
    await twilio.verify(request)
    (report,) = twilio.parse(request)
    assert (report.ext_message_id, report.provider_message_id, report.detail) == (
        mid,
        "SMabc",
        "twilio error 30003",
    )
    no_pii([report])
    moved = Inbound(
        "POST",
        "http://other.example/webhooks/twilio?bp_mid=" + mid,
        signed.headers,
        {},
        signed.body,
    )
    with pytest.raises(InvalidSignature):
        await twilio.verify(moved)


def test_vonage_sig_replaces_ampersands_and_equals_in_values() -> None:
    a = vonage_sig({"text": "a&b=c", "timestamp": "1"}, "s")
    b = vonage_sig({"text": "a_b_c", "timestamp": "1"}, "s")
    assert a == b
    assert vonage_sig({"b": "2", "a": "1", "sig": "ignored"}, "s") == vonage_sig(
        {"a": "1", "b": "2"}, "s"
    )


async def test_vonage_receipts_signed_either_way() -> None:
    vonage = Vonage(p.VONAGE_SECRET)
    mid = str(uuid.uuid4())
    for signed in (
        p.vonage_signed_query(p.vonage_params(mid, "0A00", "rejected")),
        p.vonage_jwt_json(p.vonage_params(mid, "0A00", "rejected")),
    ):
        request = inbound(signed)
        await vonage.verify(request)
        (report,) = vonage.parse(request)
        assert (report.ext_message_id, report.provider_message_id, report.provider_status) == (
            mid,
            "0A00",
            "rejected",
        )
        assert report.detail == "err-code 5"
        no_pii([report])


async def test_whatsapp_keeps_statuses_in_arrival_order_and_drops_recipient_numbers() -> None:
    whatsapp = WhatsApp(p.WHATSAPP_SECRET)
    mid = str(uuid.uuid4())
    request = inbound(
        p.whatsapp(
            [(mid, "wamid.A", "read"), (mid, "wamid.A", "delivered"), (None, "wamid.B", "failed")]
        )
    )
    verified = await whatsapp.verify(request)
    assert verified.window_s == 7 * 24 * 3600
    reports = whatsapp.parse(request)
    assert [(r.ext_message_id, r.provider_status) for r in reports] == [
        (mid, "read"),
        (mid, "delivered"),
        (None, "failed"),
    ]
    assert (
        reports[2].provider_message_id == "wamid.B" and reports[2].detail == "whatsapp error 131026"
    )
    no_pii(reports)


async def test_generic_accepts_either_secret_during_rotation() -> None:
    generic = Generic(["old-secret", "new-secret"])
    body = b'{"ext_message_id": "x", "status": "delivered"}'
    for secret in ("old-secret", "new-secret"):
        header = generic_signature(secret, 1_700_000_000, body)
        verified = await generic.verify(
            Inbound("POST", BASE, {"X-Blindpost-Signature": header}, {}, body)
        )
        assert verified.signed_at == 1_700_000_000
    header = generic_signature("other", 1_700_000_000, body)
    with pytest.raises(InvalidSignature):
        await generic.verify(Inbound("POST", BASE, {"X-Blindpost-Signature": header}, {}, body))
