"""Provider adapters without I/O: each verifies the provider's real wire format and refuses
look-alikes; parsing keeps ids and statuses and drops every address and number."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest
from yarl import URL

from services.status_ingest.providers.base import Inbound, InvalidSignature, Provider
from services.status_ingest.providers.generic import Generic, generic_signature
from services.status_ingest.providers.mailgun import Mailgun
from services.status_ingest.providers.registry import PROVIDERS, build_providers
from services.status_ingest.providers.sendgrid import SendGrid
from services.status_ingest.providers.ses import Ses, sns_url, string_to_sign
from services.status_ingest.providers.twilio import Twilio
from services.status_ingest.providers.viber import Viber
from services.status_ingest.providers.vonage import Vonage, vonage_sig
from services.status_ingest.providers.whatsapp import WhatsApp
from services.status_ingest.settings import StatusIngestSettings
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


def no_pii(reports) -> None:
    text = repr(reports)
    for pii in (p.EMAIL, p.PHONE, p.PHONE_BARE, p.VIBER_USER):
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


async def _serve_certificate(url: URL) -> bytes:
    return p.SNS_CERT_PEM


MID = str(uuid.uuid4())
READS = ("ext_message_id", "provider_message_id", "provider_status", "detail")


@dataclass(frozen=True)
class Reading:
    """A provider's genuine request and what its adapter reads from it, field by field."""

    adapter: Callable[[], Provider]
    request: Inbound
    expected: list[tuple[str | None, ...]]
    """One row per report: the values of READS."""


READINGS = {
    "ses bounce, signature v2": Reading(
        lambda: Ses([p.TOPIC_ARN], _serve_certificate),
        inbound(p.sns(p.ses_notification(MID, "Bounce", ses_message_id="x"), version="2")),
        [(MID, "x", "bounce:permanent", "Permanent/General")],
    ),
    "sendgrid custom_args and X-Message-Id": Reading(
        lambda: SendGrid(p.SENDGRID_PUBLIC_B64),
        inbound(
            p.sendgrid(p.sendgrid_events(MID, "14c5d75ce93.dfd.64b469", ["bounce:bounce", "click"]))
        ),
        [
            (MID, "14c5d75ce93", "bounce:bounce", "smtp 5.1.1"),
            (MID, "14c5d75ce93", "click", None),
        ],
    ),
    "mailgun permanent failure": Reading(
        lambda: Mailgun(p.MAILGUN_KEY),
        inbound(p.mailgun(MID, "failed", severity="permanent")),
        [(MID, "20260203192638.000be97f99f8cea1@mg.example", "failed:permanent", "smtp 550")],
    ),
    # Twilio signs the full URL, our bp_mid included.
    "twilio": Reading(
        lambda: Twilio(p.TWILIO_TOKEN),
        inbound(p.twilio(BASE, MID, "SMabc", "undelivered"), "/webhooks/twilio"),
        [(MID, "SMabc", "undelivered", "twilio error 30003")],
    ),
    "vonage signed query": Reading(
        lambda: Vonage(p.VONAGE_SECRET),
        inbound(p.vonage_signed_query(p.vonage_params(MID, "0A00", "rejected"))),
        [(MID, "0A00", "rejected", "err-code 5")],
    ),
    "vonage signed JWT": Reading(
        lambda: Vonage(p.VONAGE_SECRET),
        inbound(p.vonage_jwt_json(p.vonage_params(MID, "0A00", "rejected"))),
        [(MID, "0A00", "rejected", "err-code 5")],
    ),
    # In arrival order; the recipient's number is dropped.
    "whatsapp": Reading(
        lambda: WhatsApp(p.WHATSAPP_SECRET),
        inbound(
            p.whatsapp(
                [
                    (MID, "wamid.A", "read"),
                    (MID, "wamid.A", "delivered"),
                    (None, "wamid.B", "failed"),
                ]
            )
        ),
        [
            (MID, "wamid.A", "read", None),
            (MID, "wamid.A", "delivered", None),
            (None, "wamid.B", "failed", "whatsapp error 131026"),
        ],
    ),
    # Only the token names the message; the player's Viber id and Viber's text are dropped.
    "viber": Reading(
        lambda: Viber(p.VIBER_TOKEN),
        inbound(p.viber("failed", 5741311803571721088)),
        [(None, "5741311803571721088", "failed", None)],
    ),
}


@pytest.mark.parametrize("reading", READINGS.values(), ids=READINGS.keys())
async def test_each_adapter_verifies_its_provider_and_reads_only_ids_and_statuses(
    reading: Reading,
) -> None:
    adapter = reading.adapter()
    await adapter.verify(reading.request)
    reports = adapter.parse(reading.request)
    assert [tuple(getattr(r, name) for name in READS) for r in reports] == reading.expected
    no_pii(reports)


async def test_ses_never_fetches_a_certificate_for_an_unknown_topic() -> None:
    fetched: list[URL] = []

    async def fetch(url: URL) -> bytes:
        fetched.append(url)
        return p.SNS_CERT_PEM

    ses = Ses([p.TOPIC_ARN], fetch)
    with pytest.raises(InvalidSignature):
        await ses.verify(
            inbound(
                p.sns(
                    p.ses_notification(MID, "Delivery", ses_message_id="x"),
                    topic="arn:aws:sns:eu-west-1:1:other",
                )
            )
        )
    assert fetched == []


async def test_mailgun_needs_its_signature_block() -> None:
    with pytest.raises(InvalidSignature):
        await Mailgun(p.MAILGUN_KEY).verify(
            inbound(p.Signed({}, b'{"event-data": {"event": "delivered"}}'))
        )


async def test_twilio_refuses_its_signature_on_another_url() -> None:
    signed = p.twilio(BASE, MID, "SMabc", "undelivered")
    moved = Inbound(
        "POST",
        "http://other.example/webhooks/twilio?bp_mid=" + MID,
        signed.headers,
        {},
        signed.body,
    )
    with pytest.raises(InvalidSignature):
        await Twilio(p.TWILIO_TOKEN).verify(moved)


def test_vonage_sig_replaces_ampersands_and_equals_in_values() -> None:
    a = vonage_sig({"text": "a&b=c", "timestamp": "1"}, "s")
    b = vonage_sig({"text": "a_b_c", "timestamp": "1"}, "s")
    assert a == b
    assert vonage_sig({"b": "2", "a": "1", "sig": "ignored"}, "s") == vonage_sig(
        {"a": "1", "b": "2"}, "s"
    )


async def test_whatsapp_is_accepted_for_the_week_meta_retries() -> None:
    verified = await WhatsApp(p.WHATSAPP_SECRET).verify(READINGS["whatsapp"].request)
    assert verified.window_s == 7 * 24 * 3600


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


def test_only_providers_whose_secret_is_configured_get_an_endpoint() -> None:
    env = {
        "BLINDPOST_ENV": "local",  # short test secrets
        "DATABASE_URL": "postgresql://status@db.invalid/events",
        "BLINDPOST_TRACKING_SECRET": "t",
        "BLINDPOST_TWILIO_AUTH_TOKEN": p.TWILIO_TOKEN,
        "BLINDPOST_SES_SNS_TOPIC_ARNS": p.TOPIC_ARN,
    }
    built = build_providers(StatusIngestSettings.from_env(env), _serve_certificate)
    assert {name: type(provider) for name, provider in built.items()} == {
        "twilio": Twilio,
        "ses": Ses,
    }
    everything = StatusIngestSettings.from_env(
        {
            **env,
            "BLINDPOST_SENDGRID_WEBHOOK_PUBLIC_KEY": p.SENDGRID_PUBLIC_B64,
            "BLINDPOST_MAILGUN_WEBHOOK_SIGNING_KEY": p.MAILGUN_KEY,
            "BLINDPOST_VONAGE_SIGNATURE_SECRET": p.VONAGE_SECRET,
            "BLINDPOST_WHATSAPP_APP_SECRET": p.WHATSAPP_SECRET,
            "BLINDPOST_GENERIC_WEBHOOK_SECRET": p.GENERIC_SECRET,
            "BLINDPOST_VIBER_AUTH_TOKEN": p.VIBER_TOKEN,
        }
    )
    # Each endpoint is served by the provider of that name.
    served = build_providers(everything, _serve_certificate)
    assert {name: provider.name for name, provider in served.items()} == {n: n for n in PROVIDERS}
