"""Every parser that reads outside input, as a fuzz target: bytes in, and either a result or
one of the errors the parser documents.  Any other exception is a crash (a 500, a stage that
dead-letters a readable record, a dispatcher that stops).

Webhook targets sign whatever they are given with the provider's own scheme (keys from
``tests.status_ingest.payloads``), so the fuzzer reaches the parsers behind the signature; a
second, unsigned pass feeds the same bytes to the verifier as headers and parameters.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from pydantic import ValidationError
from yarl import URL

from services.bounce.outcomes import events_for
from services.bounce.reports import read_report
from services.intake.requests import InvalidRequest, parse_request
from services.status_ingest.providers import base
from services.status_ingest.providers.generic import Generic, GenericStops, generic_signature
from services.status_ingest.providers.mailgun import Mailgun
from services.status_ingest.providers.sendgrid import SIGNATURE, TIMESTAMP, SendGrid
from services.status_ingest.providers.ses import Ses, string_to_sign
from services.status_ingest.providers.stops import StopReader
from services.status_ingest.providers.twilio import Twilio, TwilioStops, twilio_signature
from services.status_ingest.providers.viber import HEADER as VIBER_SIGNATURE
from services.status_ingest.providers.viber import Viber, viber_signature
from services.status_ingest.providers.vonage import Vonage, VonageStops, vonage_sig
from services.status_ingest.providers.whatsapp import WhatsApp
from shared.cim_template import CimTemplate, InvalidExtension
from shared.domain import Channel
from shared.events import read_event
from shared.sealing import SealingError, SealingKeyring, generate_keypair
from shared.tracking import NONCE_BYTES as TOKEN_NONCE_BYTES
from shared.tracking import VERSION as TOKEN_VERSION
from shared.tracking import InvalidToken, Kind, TrackingTokens
from shared.verp import Verp
from shared.work import sealing_context
from tests.status_ingest import payloads as p

SIGNED_AT = "1700000000"
PUBLIC_URL = "https://status.casino.example/webhooks/twilio?bp_mid=m"


@dataclass(frozen=True)
class Target:
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    """The errors the parser documents; anything else is a crash."""
    pending: tuple[type[BaseException], ...] = ()
    """Crashes already known, each with an xfail regression test in tests/fuzz/, tolerated
    until their fix lands so that the fuzzer looks for new ones."""

    def __call__(self, data: bytes) -> None:
        try:
            self.run(data)
        except self.allowed + self.pending:
            pass


def _json(data: bytes) -> object:
    """The decoded JSON body, as intake and the stages decode it; None when it is not."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


# --- intake ---------------------------------------------------------------------------


def _intake(channel: Channel) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        request = parse_request(channel, _json(data))
        return request.content()

    return run


# --- custom IM template -----------------------------------------------------------------

TEMPLATE = CimTemplate.parse(
    json.dumps(
        {
            "title": {"type": "string", "required": True, "max_length": 80},
            "action": {"type": "choice", "choices": ["BUY", "SELL"]},
            "urgent": {"type": "boolean"},
            "image": {"type": "media_url"},
        }
    )
)


def _cim_extension(data: bytes) -> None:
    assert TEMPLATE is not None
    extension = _json(data)
    if isinstance(extension, dict) or extension is None:
        TEMPLATE.validate_extension(extension)


def _cim_template(data: bytes) -> None:
    CimTemplate.parse(data.decode("utf-8", "replace"))


# --- sealed addresses and tracking tokens -----------------------------------------------

PRIVATE, PUBLIC = generate_keypair("email-1")
KEYRING = SealingKeyring.parse([PRIVATE])
SEALED_FOR = uuid.UUID("6f1c1b1e-0000-4000-8000-000000000001")


def _open_sealed(data: bytes) -> bytes:
    return KEYRING.open(data.decode("utf-8", "replace"), sealing_context(SEALED_FOR, Channel.EMAIL))


TOKENS = TrackingTokens(b"tracking-secret-for-fuzzing", "https://t.example")


def _tracking(data: bytes) -> None:
    token = data.decode("utf-8", "replace")
    kinds: tuple[Kind, ...] = ("open", "click", "unsubscribe")
    for kind in kinds:
        try:
            TOKENS.verify(token, kind)
        except InvalidToken:
            pass
    # The same bytes as the claims of a genuine token, sealed with the current key and
    # signed as an older token was: what verify hands the routes once a token opens.
    key = TOKENS._keys()[0]
    header = bytes([TOKEN_VERSION]) + key.key_id
    nonce = bytes(TOKEN_NONCE_BYTES)
    sealed = header + nonce + key.aead.encrypt(nonce, data, header + b"click")
    for token in (
        base64.urlsafe_b64encode(sealed).rstrip(b"=").decode(),
        _legacy_token(key.secret, data),
    ):
        try:
            TOKENS.verify(token, "click")
        except InvalidToken:
            pass


def _legacy_token(secret: bytes, claims: bytes) -> str:
    body = base64.urlsafe_b64encode(claims).rstrip(b"=")
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    return f"{body.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# --- events -------------------------------------------------------------------------------


VERP = Verp("bounces.casino.example", b"fuzz-verp-key-0123456789abcdef-00")


def _bounce_report(data: bytes) -> None:
    """What the bounce receiver does with a mail: the report's kind and class, the event it
    becomes; and the recipient check at RCPT, on the same bytes as an address."""
    report = read_report(data)
    if report is not None:
        events_for(uuid.UUID(int=1), report)
    VERP.message_of(data.decode("utf-8", "replace"))


def _event(data: bytes) -> None:
    read_event(data, "fuzz")


# --- provider webhooks --------------------------------------------------------------------

LOOP = asyncio.new_event_loop()


async def _certificate(url: URL) -> bytes:
    return p.SNS_CERT_PEM


def _inbound(
    body: bytes,
    headers: dict[str, str],
    *,
    query: str = "",
    method: str = "POST",
    content_type: str = "application/json",
) -> base.Inbound:
    url = PUBLIC_URL + (f"&{query}" if query else "")
    return base.Inbound(
        method=method,
        url=url,
        headers=headers,
        query={"bp_mid": "m", **dict(parse_qsl(query))},
        body=body,
        content_type=content_type,
    )


def _through(provider: base.Provider, inbound: base.Inbound) -> list[base.StatusReport]:
    """What the webhook endpoint does with a request: verify, handshake, parse."""

    async def run() -> list[base.StatusReport]:
        await provider.verify(inbound)
        if await provider.handshake(inbound) is not None:
            return []
        return provider.parse(inbound)

    return LOOP.run_until_complete(run())


def _unsigned_headers(data: bytes) -> dict[str, str]:
    text = data.decode("utf-8", "replace")
    return {
        name: text
        for name in (
            "X-Blindpost-Signature",
            "X-Twilio-Signature",
            "X-Hub-Signature-256",
            VIBER_SIGNATURE,
            SIGNATURE,
            TIMESTAMP,
            "Authorization",
        )
    }


def _webhook(
    provider: base.Provider, sign: Callable[[bytes], base.Inbound]
) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        try:
            forged = _inbound(data, _unsigned_headers(data), query=data.decode("latin-1"))
            _through(provider, forged)
        except (base.InvalidSignature, base.Unusable):
            pass
        return _through(provider, sign(data))

    return run


def _now() -> str:
    """Inbound readers refuse a stale signed time, so theirs is signed now."""
    return str(int(time.time()))


def _sign_generic(body: bytes, signed_at: str = SIGNED_AT) -> base.Inbound:
    header = generic_signature(p.GENERIC_SECRET, signed_at, body)
    return _inbound(body, {"X-Blindpost-Signature": header})


def _sign_mailgun(body: bytes) -> base.Inbound:
    document = _json(body)
    if isinstance(document, dict):
        token = hashlib.sha256(body).hexdigest()
        document["signature"] = {
            "timestamp": SIGNED_AT,
            "token": token,
            "signature": base.hmac_hex(p.MAILGUN_KEY.encode(), (SIGNED_AT + token).encode()),
        }
        body = json.dumps(document).encode()
    return _inbound(body, {})


def _sign_sendgrid(body: bytes) -> base.Inbound:
    signature = p.SENDGRID_KEY.sign(SIGNED_AT.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: SIGNED_AT}
    return _inbound(body, headers)


def _sign_ses(body: bytes) -> base.Inbound:
    document = _json(body)
    if isinstance(document, dict):
        document.update(TopicArn=p.TOPIC_ARN, SigningCertURL=p.CERT_URL, SignatureVersion="2")
        signature = p.SNS_KEY.sign(string_to_sign(document), padding.PKCS1v15(), hashes.SHA256())
        document["Signature"] = base64.b64encode(signature).decode()
        body = json.dumps(document).encode()
    return _inbound(body, {}, content_type="text/plain")


def _sign_twilio(body: bytes) -> base.Inbound:
    form = body.decode("utf-8", "replace")
    params = parse_qsl(form, keep_blank_values=True)
    signature = twilio_signature(p.TWILIO_TOKEN, PUBLIC_URL, params)
    return _inbound(
        body,
        {"X-Twilio-Signature": signature},
        content_type="application/x-www-form-urlencoded",
    )


def _sign_vonage(body: bytes, signed_at: str = SIGNED_AT) -> base.Inbound:
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params.update(timestamp=signed_at)
    params["sig"] = vonage_sig(params, p.VONAGE_SECRET)
    return base.Inbound("GET", PUBLIC_URL, {}, params, b"")


def _sign_whatsapp(body: bytes) -> base.Inbound:
    header = "sha256=" + base.hmac_hex(p.WHATSAPP_SECRET.encode(), body)
    return _inbound(body, {"X-Hub-Signature-256": header})


def _sign_viber(body: bytes) -> base.Inbound:
    return _inbound(body, {VIBER_SIGNATURE: viber_signature(p.VIBER_TOKEN, body)})


PROVIDERS: dict[str, tuple[base.Provider, Callable[[bytes], base.Inbound]]] = {
    "generic": (Generic([p.GENERIC_SECRET]), _sign_generic),
    "mailgun": (Mailgun(p.MAILGUN_KEY), _sign_mailgun),
    "sendgrid": (SendGrid(p.SENDGRID_PUBLIC_B64), _sign_sendgrid),
    "ses": (Ses([p.TOPIC_ARN], _certificate), _sign_ses),
    "twilio": (Twilio(p.TWILIO_TOKEN), _sign_twilio),
    "vonage": (Vonage(p.VONAGE_SECRET), _sign_vonage),
    "whatsapp": (WhatsApp(p.WHATSAPP_SECRET), _sign_whatsapp),
    "viber": (Viber(p.VIBER_TOKEN), _sign_viber),
}

# --- players' replies (STOP) ----------------------------------------------------------------


def _stops(reader: StopReader, sign: Callable[[bytes], base.Inbound]) -> Callable[[bytes], object]:
    """What the inbound endpoint does with a request: read it (verify, then parse), unsigned
    and then signed by the fuzzer."""

    def run(data: bytes) -> object:
        try:
            forged = _inbound(data, _unsigned_headers(data), query=data.decode("latin-1"))
            LOOP.run_until_complete(reader.read(forged))
        except (base.InvalidSignature, base.Unusable):
            pass
        return LOOP.run_until_complete(reader.read(sign(data)))

    return run


READERS: dict[str, tuple[StopReader, Callable[[bytes], base.Inbound]]] = {
    "twilio": (TwilioStops(Twilio(p.TWILIO_TOKEN)), _sign_twilio),
    "vonage": (
        VonageStops(Vonage(p.VONAGE_SECRET)),
        lambda body: _sign_vonage(body, _now()),
    ),
    "generic": (
        GenericStops(Generic([p.GENERIC_SECRET]), window_s=300),
        lambda body: _sign_generic(body, _now()),
    ),
}

WEBHOOK_ERRORS = (base.InvalidSignature, base.Unusable)

TARGETS: dict[str, Target] = {
    **{
        f"intake_{channel.value}": Target(_intake(channel), (InvalidRequest,))
        for channel in (Channel.EMAIL, Channel.SMS, Channel.CIM)
    },
    "cim_extension": Target(_cim_extension, (InvalidExtension,)),
    # The template is the operator's setting: a bad one is refused at start-up.
    "cim_template": Target(_cim_template, (ValueError,)),
    # test_regressions.py::test_a_malformed_sealed_token_is_a_sealing_error
    "sealed_address": Target(_open_sealed, (SealingError,)),
    "tracking_token": Target(_tracking, (InvalidToken,)),
    "event_envelope": Target(_event, (ValidationError,)),
    # Never raises: a report it cannot read is no report.
    "bounce_report": Target(_bounce_report, ()),
    **{
        f"webhook_{name}": Target(_webhook(provider, sign), WEBHOOK_ERRORS)
        for name, (provider, sign) in PROVIDERS.items()
    },
    **{
        f"inbound_{name}": Target(_stops(reader, sign), WEBHOOK_ERRORS)
        for name, (reader, sign) in READERS.items()
    },
}
"""name -> target; the corpus of each is ``tests/fuzz/corpus/<name>/``."""
