"""Issue #16 item 5: a replayed webhook is refused however its signature is re-spelt (an
extra generic ``v1=``, upper-case hex, ECDSA's (r, n-s)); the nonce is the signed bytes.  A
Vonage JWT must bind the body (``payload_hash``) and cannot carry statuses in an unsigned
query.  A status names a message only through its own provider's ids."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from shared.events import StatusReported
from shared.kafka import start_producer
from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import Ingest
from tests.support import events as build
from tests.support.events import payload_of
from tests.support.polling import eventually

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SG_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"


def _with(signed: p.Signed, header: str, value: str) -> p.Signed:
    return dataclasses.replace(signed, headers={**signed.headers, header: value})


def _other_s(signature_b64: str) -> str:
    r, s = decode_dss_signature(base64.b64decode(signature_b64))
    return base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()


async def test_a_replay_with_a_respelt_signature_is_refused(ingest: Ingest) -> None:
    generic = p.generic({"ext_message_id": str(uuid.uuid4()), "status": "delivered"})
    whatsapp = p.whatsapp([(str(uuid.uuid4()), "wamid.R1", "delivered")])
    sendgrid = p.sendgrid(p.sendgrid_events(str(uuid.uuid4()), "sgR1", ["delivered"]))
    vonage = p.vonage_signed_query(p.vonage_params(str(uuid.uuid4()), "0AR1", "delivered"))
    sig = dict(pair.split("=", 1) for pair in vonage.query.split("&"))["sig"]
    respelt = [
        (
            "/webhooks/generic",
            generic,
            _with(
                generic,
                "X-Blindpost-Signature",
                generic.headers["X-Blindpost-Signature"] + ",v1=00ff",
            ),
        ),
        (
            "/webhooks/whatsapp",
            whatsapp,
            _with(
                whatsapp,
                "X-Hub-Signature-256",
                whatsapp.headers["X-Hub-Signature-256"].upper().replace("SHA256=", "sha256="),
            ),
        ),
        (
            "/webhooks/sendgrid",
            sendgrid,
            _with(sendgrid, SG_SIGNATURE, _other_s(sendgrid.headers[SG_SIGNATURE])),
        ),
        (
            "/webhooks/vonage",
            vonage,
            dataclasses.replace(
                vonage, query=vonage.query.replace(f"sig={sig}", f"sig={sig.upper()}")
            ),
        ),
    ]
    for path, original, replay in respelt:
        assert (await ingest.send(path, original))[0] == 200, path
        status, _ = await ingest.send(path, replay)
        assert status in (401, 409), (path, status)
    assert len(await ingest.statuses_so_far()) == len(respelt)


def _jwt_without_payload_hash(params: dict[str, str]) -> p.Signed:
    body = json.dumps(params).encode()
    header = p._b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = p._b64url(json.dumps({"iat": int(time.time()), "jti": uuid.uuid4().hex}).encode())
    mac = hmac.new(p.VONAGE_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256)
    token = f"{header}.{claims}.{p._b64url(mac.digest())}"
    return p.Signed({"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, body)


async def test_a_vonage_jwt_must_bind_the_body_and_sign_whatever_is_read(ingest: Ingest) -> None:
    params = p.vonage_params(str(uuid.uuid4()), "0AJ1", "delivered")
    assert (await ingest.send("/webhooks/vonage", _jwt_without_payload_hash(params)))[0] == 401
    # A valid JWT cannot carry statuses in the query it does not sign.
    smuggled = dataclasses.replace(
        p.vonage_jwt_json({"api-key": "abcd1234"}),
        query="messageId=0AJ2&status=delivered&client-ref=" + str(uuid.uuid4()),
    )
    assert (await ingest.send("/webhooks/vonage", smuggled))[0] == 401
    assert await ingest.statuses_so_far() == []


async def _dispatched(ingest: Ingest, mid: uuid.UUID, provider: str, pmid: str) -> None:
    producer = await start_producer(ingest.bootstrap)
    try:
        event = build.dispatched(mid, provider=provider, provider_message_id=pmid)
        await producer.send_and_wait(ingest.topics.message_events, event.to_bytes(), key=event.key)
    finally:
        await producer.stop()


async def test_a_status_is_matched_only_to_its_own_provider_s_message(ingest: Ingest) -> None:
    twilio_mid, vonage_mid = uuid.uuid4(), uuid.uuid4()
    await _dispatched(ingest, twilio_mid, "twilio", "SAME-ID")
    twilio = p.twilio(ingest.base_url, None, "SAME-ID", "delivered")
    assert (await ingest.send("/webhooks/twilio", twilio))[0] == 200

    async def twilio_matched() -> bool:
        return any(e.ext_message_id == twilio_mid for e in await ingest.statuses_so_far())

    # Matched (at once or once released from parking): twilio's id is now known.
    await eventually(twilio_matched, within=20, what="twilio's status for its message")
    vonage = p.vonage_signed_query(p.vonage_params(None, "SAME-ID", "failed"))
    assert (await ingest.send("/webhooks/vonage", vonage))[0] == 200
    # Parked for vonage's own message, not reported against twilio's.
    await _dispatched(ingest, vonage_mid, "vonage", "SAME-ID")
    events = await ingest.statuses(expect=2, timeout_s=20)
    got = {(e.ext_message_id, payload_of(e, StatusReported).provider) for e in events}
    assert got == {(twilio_mid, "twilio"), (vonage_mid, "vonage")}
