"""Every provider's webhook, as the provider sends it, through a running status ingest to
the event log: valid ones become statuses, forged ones and replays do not."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from shared.events import StatusReported
from shared.kafka import start_producer
from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import Ingest
from tests.support import events as build
from tests.support.events import payload_of


def _mid() -> str:
    return str(uuid.uuid4())


def ses(mid: str | None, kind: str, ses_message_id: str, **signing: Any) -> p.Signed:
    """An SES notification as SNS delivers it."""
    return p.sns(p.ses_notification(mid, kind, ses_message_id=ses_message_id), **signing)


def valid_webhooks(base_url: str) -> list[tuple[str, str, p.Signed, list[tuple[str, str]]]]:
    """(name, path, signed request, expected (ext_message_id, status) pairs)."""
    m = [_mid() for _ in range(12)]
    return [
        (
            "sendgrid",
            "/webhooks/sendgrid",
            p.sendgrid(
                p.sendgrid_events(
                    m[0],
                    "14c5d75ce93.dfd.64b469",
                    ["processed", "deferred", "delivered", "open", "click", "spamreport"],
                )
            ),
            [(m[0], s) for s in ("accepted", "delivered", "opened", "clicked", "complained")],
        ),
        (
            "sendgrid bounce",
            "/webhooks/sendgrid",
            p.sendgrid(p.sendgrid_events(m[1], "sgbounce1", ["bounce:blocked"])),
            [(m[1], "rejected")],
        ),
        ("mailgun", "/webhooks/mailgun", p.mailgun(m[2], "delivered"), [(m[2], "delivered")]),
        (
            "mailgun failure",
            "/webhooks/mailgun",
            p.mailgun(m[3], "failed", severity="permanent"),
            [(m[3], "failed")],
        ),
        (
            "mailgun temporary",
            "/webhooks/mailgun",
            p.mailgun(m[3], "failed", severity="temporary"),
            [],
        ),
        ("ses v1", "/webhooks/ses", ses(m[4], "Delivery", "ses-1"), [(m[4], "delivered")]),
        (
            "ses v2 bounce",
            "/webhooks/ses",
            ses(m[5], "Bounce", "ses-2", version="2"),
            [(m[5], "failed")],
        ),
        ("ses complaint", "/webhooks/ses", ses(m[5], "Complaint", "ses-2"), [(m[5], "complained")]),
        (
            "twilio",
            "/webhooks/twilio",
            p.twilio(base_url, m[6], "SM" + "a" * 32, "delivered"),
            [(m[6], "delivered")],
        ),
        (
            "twilio queued",
            "/webhooks/twilio",
            p.twilio(base_url, m[6], "SM" + "a" * 32, "queued"),
            [],
        ),
        (
            "vonage sig",
            "/webhooks/vonage",
            p.vonage_signed_query(p.vonage_params(m[7], "0A0000001234ABCD", "delivered")),
            [(m[7], "delivered")],
        ),
        (
            "vonage jwt",
            "/webhooks/vonage",
            p.vonage_jwt_json(p.vonage_params(m[8], "0A0000001234ABCE", "expired")),
            [(m[8], "failed")],
        ),
        # Out of order, as WhatsApp may send them: read before delivered before sent.
        (
            "whatsapp",
            "/webhooks/whatsapp",
            p.whatsapp(
                [
                    (m[9], "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", s)
                    for s in ("read", "delivered", "sent")
                ]
            ),
            [(m[9], "opened"), (m[9], "delivered"), (m[9], "accepted")],
        ),
        (
            "whatsapp failed",
            "/webhooks/whatsapp",
            p.whatsapp([(m[10], "wamid.F", "failed")]),
            [(m[10], "failed")],
        ),
        (
            "generic",
            "/webhooks/generic",
            p.generic(
                [
                    {"ext_message_id": m[11], "status": "delivered", "event_id": "e1"},
                    {"ext_message_id": m[11], "status": "read", "event_id": "e2"},
                ]
            ),
            [(m[11], "delivered"), (m[11], "opened")],
        ),
        # Viber names only its message token: parked until the dispatch event names it.
        ("viber", "/webhooks/viber", p.viber("delivered", 5741311803571721099), []),
        ("viber reply", "/webhooks/viber", p.viber("message", 4912661846655238145), []),
    ]


async def test_each_provider_s_signed_webhook_becomes_smartico_statuses_and_replays_are_refused(
    ingest: Ingest,
) -> None:
    cases = valid_webhooks(ingest.base_url)
    expected: Counter[tuple[str, str]] = Counter()
    for name, path, signed, statuses in cases:
        status, text = await ingest.send(path, signed)
        assert status == 200, (name, text)
        expected.update(statuses)
    # A 200 means recorded: every status is on the log by the time the provider has its answer
    # (what lets the other tests prove an absence with statuses_so_far).
    answered = await ingest.statuses_so_far()
    assert (
        Counter((str(e.ext_message_id), payload_of(e, StatusReported).status) for e in answered)
        == expected
    )
    for name, path, signed, _ in cases:  # the very same requests again
        status, _text = await ingest.send(path, signed)
        assert status == 409, name

    events = await ingest.statuses(expect=sum(expected.values()))
    got = Counter((str(e.ext_message_id), payload_of(e, StatusReported).status) for e in events)
    assert got == expected
    by_provider = Counter(payload_of(e, StatusReported).provider for e in events)
    assert set(by_provider) == {
        "sendgrid",
        "mailgun",
        "ses",
        "twilio",
        "vonage",
        "whatsapp",
        "generic",
    }


OTHER_TOPIC = "arn:aws:sns:eu-west-1:999999999999:evil"
CERTIFICATES_OFF_SNS = {
    "off amazon": "https://evil.example/sns.pem",
    "lookalike": "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
    "over http": p.CERT_URL.replace("https", "http"),
}


def forged_webhooks(base_url: str) -> list[tuple[str, str, p.Signed]]:
    mid = _mid()
    other_ec = p.ec.generate_private_key(p.ec.SECP256R1())
    other_rsa = p.rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = p.sendgrid(p.sendgrid_events(mid, "x", ["delivered"]))
    tampered_body = good.body.replace(b"delivered", b"open\x20\x20\x20\x20\x20")
    twilio_good = p.twilio(base_url, mid, "SMb", "delivered")
    whatsapp_good = p.whatsapp([(mid, "wamid.X", "delivered")])
    viber_good = p.viber("delivered", 5741311803571721000)
    return [
        (
            "sendgrid wrong key",
            "/webhooks/sendgrid",
            p.sendgrid(p.sendgrid_events(mid, "x", ["delivered"]), key=other_ec),
        ),
        ("sendgrid tampered", "/webhooks/sendgrid", p.Signed(good.headers, tampered_body)),
        (
            "sendgrid unsigned",
            "/webhooks/sendgrid",
            p.Signed({"Content-Type": "application/json"}, good.body),
        ),
        ("mailgun wrong key", "/webhooks/mailgun", p.mailgun(mid, "delivered", key="not-the-key")),
        ("ses wrong key", "/webhooks/ses", ses(mid, "Delivery", "s", key=other_rsa)),
        ("ses other topic", "/webhooks/ses", ses(mid, "Delivery", "s", topic=OTHER_TOPIC)),
        *(
            (f"ses cert {where}", "/webhooks/ses", ses(mid, "Delivery", "s", cert_url=url))
            for where, url in CERTIFICATES_OFF_SNS.items()
        ),
        (
            "twilio wrong token",
            "/webhooks/twilio",
            p.twilio(base_url, mid, "SMb", "delivered", token="nope"),
        ),
        (
            "twilio other url",
            "/webhooks/twilio",
            p.Signed(twilio_good.headers, twilio_good.body, f"bp_mid={_mid()}"),
        ),
        (
            "vonage wrong secret",
            "/webhooks/vonage",
            p.vonage_signed_query(p.vonage_params(mid, "0A1", "delivered"), secret="nope"),
        ),
        (
            "vonage unsigned",
            "/webhooks/vonage",
            p.Signed({}, b"", "messageId=0A1&status=delivered", "GET"),
        ),
        (
            "vonage jwt wrong secret",
            "/webhooks/vonage",
            p.vonage_jwt_json(p.vonage_params(mid, "0A1", "delivered"), secret="nope"),
        ),
        (
            "vonage jwt other body",
            "/webhooks/vonage",
            p.Signed(
                p.vonage_jwt_json(p.vonage_params(mid, "0A1", "delivered")).headers,
                p.vonage_jwt_json(p.vonage_params(mid, "0A1", "failed")).body,
            ),
        ),
        (
            "whatsapp wrong secret",
            "/webhooks/whatsapp",
            p.whatsapp([(mid, "wamid.X", "delivered")], secret="nope"),
        ),
        (
            "whatsapp tampered",
            "/webhooks/whatsapp",
            p.Signed(
                whatsapp_good.headers,
                whatsapp_good.body.replace(b"delivered", b"read\x20\x20\x20\x20\x20"),
            ),
        ),
        (
            "generic wrong secret",
            "/webhooks/generic",
            p.generic({"ext_message_id": mid, "status": "delivered"}, secret="nope"),
        ),
        ("viber wrong token", "/webhooks/viber", p.viber("delivered", 1, token="nope")),
        (
            "viber tampered",
            "/webhooks/viber",
            p.Signed(viber_good.headers, viber_good.body.replace(b'"delivered"', b'"seen"')),
        ),
    ]


async def test_forged_webhooks_are_refused_before_anything_is_recorded(
    ingest: Ingest, sns_stand_in
) -> None:
    for name, path, signed in forged_webhooks(ingest.base_url):
        status, _ = await ingest.send(path, signed)
        assert status == 401, name
    assert await ingest.statuses_so_far() == []
    # Certificates were only ever fetched for the genuine Amazon SNS URL.
    assert all(path.startswith("/SimpleNotificationService-") for path in sns_stand_in.fetched)


async def test_signed_but_stale_webhooks_are_refused(ingest: Ingest) -> None:
    mid = _mid()
    old = int(time.time()) - 3600
    cases = [
        (
            "/webhooks/sendgrid",
            p.sendgrid(p.sendgrid_events(mid, "x", ["delivered"]), timestamp=old),
        ),
        ("/webhooks/mailgun", p.mailgun(mid, "delivered", timestamp=old)),
        (
            "/webhooks/vonage",
            p.vonage_signed_query(p.vonage_params(mid, "0A1", "delivered"), timestamp=old),
        ),
        ("/webhooks/vonage", p.vonage_jwt_json(p.vonage_params(mid, "0A1", "delivered"), iat=old)),
        (
            "/webhooks/generic",
            p.generic({"ext_message_id": mid, "status": "delivered"}, timestamp=old),
        ),
        (
            "/webhooks/ses",
            ses(mid, "Delivery", "s", timestamp=datetime.now(UTC) - timedelta(hours=3)),
        ),
        (
            "/webhooks/whatsapp",
            p.whatsapp([(mid, "wamid.X", "delivered")], timestamp=old - 8 * 86400),
        ),
        # Viber retries for an hour: its window is two.
        ("/webhooks/viber", p.viber("delivered", 1, timestamp_ms=(old - 2 * 3600) * 1000)),
    ]
    for path, signed in cases:
        status, text = await ingest.send(path, signed)
        assert status == 401 and "window" in text, path
    assert await ingest.statuses_so_far() == []


async def test_sns_subscription_is_confirmed_only_when_signed(ingest: Ingest, sns_stand_in) -> None:
    forged = p.sns(
        "You have chosen to subscribe",
        kind="SubscriptionConfirmation",
        key=p.rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    assert (await ingest.send("/webhooks/ses", forged))[0] == 401
    assert sns_stand_in.confirmations == []
    genuine = p.sns("You have chosen to subscribe", kind="SubscriptionConfirmation", version="2")
    assert (await ingest.send("/webhooks/ses", genuine))[0] == 200
    assert [c["TopicArn"] for c in sns_stand_in.confirmations] == [p.TOPIC_ARN]


async def test_whatsapp_hub_challenge(ingest: Ingest) -> None:
    ok = f"{ingest.base_url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444"
    async with ingest.session.get(ok) as response:
        assert response.status == 200 and await response.text() == "1158201444"
    async with ingest.session.get(ok.replace("meta-verify-token", "guess")) as response:
        assert response.status == 403


async def test_statuses_before_their_dispatch_are_parked_then_matched_and_no_pii_is_kept(
    ingest: Ingest, events_dsn: str
) -> None:
    mids = [uuid.uuid4() for _ in range(4)]
    early = [
        # Only the provider's id: no ext_message_id anywhere.
        (
            "/webhooks/ses",
            ses(None, "Delivery", "0102-ses-early"),
            "ses",
            "0102-ses-early",
        ),
        ("/webhooks/whatsapp", p.whatsapp([(None, "wamid.EARLY", "read")]), "meta", "wamid.EARLY"),
        (
            "/webhooks/sendgrid",
            p.sendgrid(p.sendgrid_events(None, "sgEARLY", ["delivered"])),
            "sendgrid",
            "sgEARLY",
        ),
        (
            "/webhooks/generic",
            p.generic({"message_id": "gen-EARLY", "status": "delivered"}),
            "generic",
            "gen-EARLY",
        ),
    ]
    for path, signed, _provider, _pmid in early:
        assert (await ingest.send(path, signed))[0] == 200
    assert await ingest.statuses_so_far() == []  # parked, not dropped, not guessed

    producer = await start_producer(ingest.bootstrap)
    try:
        for mid, (_path, _signed, provider, pmid) in zip(mids, early, strict=True):
            event = build.dispatched(mid, provider=provider, provider_message_id=pmid)
            await producer.send_and_wait(
                ingest.topics.message_events, event.to_bytes(), key=event.key
            )
    finally:
        await producer.stop()
    events = await ingest.statuses(expect=8, timeout_s=20)
    got = {(e.ext_message_id, payload_of(e, StatusReported).status) for e in events}
    assert got == {
        (mids[0], "delivered"),
        (mids[1], "opened"),
        (mids[2], "delivered"),
        (mids[3], "delivered"),
    }

    # Later statuses for the same provider ids are matched at once.
    assert (
        await ingest.send("/webhooks/whatsapp", p.whatsapp([(None, "wamid.EARLY", "delivered")]))
    )[0] == 200
    events = await ingest.statuses(expect=9, timeout_s=10)
    assert (mids[1], "delivered") in {
        (e.ext_message_id, payload_of(e, StatusReported).status) for e in events
    }

    # No address or number from the payloads is in the log or the tables.
    records = await p_read_all(ingest)
    for value in records:
        for pii in (p.EMAIL, p.PHONE, p.PHONE_BARE):
            assert pii.encode() not in value
    conn = await asyncpg.connect(events_dsn)
    try:
        for table in ("webhook_nonces", "provider_messages", "parked_statuses"):
            dump = str(await conn.fetch(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
            assert p.EMAIL not in dump and p.PHONE_BARE not in dump
    finally:
        await conn.close()


async def p_read_all(ingest: Ingest) -> list[bytes]:
    from tests.support.kafka import read_topic

    return [
        r.value for r in await read_topic(ingest.bootstrap, ingest.topics.message_events, expect=9)
    ]


@pytest.mark.parametrize("path", ["/webhooks/nosuch", "/webhooks/"])
async def test_unknown_provider_paths_are_404(ingest: Ingest, path: str) -> None:
    status, _ = await ingest.send(
        path, p.generic({"ext_message_id": _mid(), "status": "delivered"})
    )
    assert status == 404
