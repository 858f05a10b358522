"""A webhook that passes its provider's signature (or could not carry one) but whose body
is not what the provider sends (not JSON, nested past what JSON decoding reads, empty, of
another shape, under another content type) is refused with a 4xx, counted and logged, and
records nothing: never a 500, which the provider would retry for hours or days.  A nested
field of another shape inside a body of the right shape is read as absent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import Ingest
from tests.support.metrics import sample_value

NOT_JSON = b"<status>delivered</status>"
TOO_DEEP = b"[" * 100_000  # json.loads raises RecursionError, not ValueError
FORM = "application/x-www-form-urlencoded"
ACCEPTED = (200, "accepted")
"""A nested field of another shape is read as absent: answered, and no status recorded."""


@dataclass(frozen=True)
class Malformed:
    what: str
    signed: p.Signed
    status: int = 400
    outcome: str = "unusable"


@dataclass(frozen=True)
class Route:
    path: str
    metric: str
    refused: str
    """The log line a refusal writes."""
    requests: list[Malformed]


def _signed_bodies(sign: Callable[..., p.Signed], wrong_shape: bytes) -> list[Malformed]:
    """The malformed bodies of a provider that signs the raw body."""
    return [
        Malformed("not JSON", sign(NOT_JSON)),
        Malformed("too deep", sign(TOO_DEEP)),
        Malformed("empty", sign(b"")),
        Malformed("wrong shape", sign(wrong_shape)),
        Malformed("form content type", sign(NOT_JSON, content_type=FORM)),
    ]


def _status(path: str, requests: list[Malformed]) -> Route:
    return Route(path, "blindpost_status_webhooks_total", "webhook refused", requests)


def _inbound(path: str, requests: list[Malformed]) -> Route:
    return Route(path, "blindpost_inbound_messages_total", "inbound message refused", requests)


def _unsigned(what: str, body: bytes, content_type: str = "application/json") -> Malformed:
    """Mailgun and SNS sign fields inside the JSON: a body that is not JSON carries none."""
    return Malformed(what, p.Signed({"Content-Type": content_type}, body), 401, "invalid_signature")


ROUTES: dict[str, Callable[[str], Route]] = {
    "sendgrid": lambda base_url: _status(
        "/webhooks/sendgrid", _signed_bodies(p.sendgrid_signed, b'{"event": "delivered"}')
    ),
    "whatsapp": lambda base_url: _status(
        "/webhooks/whatsapp", _signed_bodies(p.whatsapp_signed, b"[]")
    ),
    "generic": lambda base_url: _status(
        "/webhooks/generic", _signed_bodies(p.generic_signed, b"[1]")
    ),
    "viber": lambda base_url: _status(
        "/webhooks/viber", _signed_bodies(p.viber_signed, b'["seen"]')
    ),
    "vonage": lambda base_url: _status(
        "/webhooks/vonage",
        [
            *_signed_bodies(p.vonage_jwt_signed, b'[{"status": "delivered"}]'),
            Malformed("signed query without a status", p.vonage_signed_query({"messageId": "0A"})),
            Malformed(
                "unsigned JSON content type, not JSON",
                p.Signed({"Content-Type": "application/json"}, NOT_JSON),
            ),
        ],
    ),
    "mailgun": lambda base_url: _status(
        "/webhooks/mailgun",
        [
            _unsigned("not JSON", NOT_JSON),
            _unsigned("too deep", TOO_DEEP),
            _unsigned("empty", b""),
            Malformed("event-data not an object", p.mailgun_signed({"event-data": "delivered"})),
            # Read as far as it goes (a tolerant reader): no message id, so no status.
            Malformed(
                "message not an object",
                p.mailgun_signed({"event-data": {"event": "delivered", "message": "m"}}),
                *ACCEPTED,
            ),
        ],
    ),
    "ses": lambda base_url: _status(
        "/webhooks/ses",
        [
            _unsigned("not JSON", NOT_JSON, "text/plain"),
            _unsigned("empty", b"", "text/plain"),
            Malformed("Message not JSON", p.sns("delivered")),
            Malformed("Message too deep", p.sns("[" * 100_000)),
            Malformed("Message an array", p.sns("[1]")),
            Malformed(
                "mail and bounce not objects",
                p.sns('{"eventType": "Bounce", "bounce": "hard", "mail": "m"}'),
                *ACCEPTED,
            ),
        ],
    ),
    "twilio": lambda base_url: _status(
        "/webhooks/twilio",
        [
            Malformed("empty", p.twilio_signed(base_url, b"")),
            Malformed("not a form", p.twilio_signed(base_url, NOT_JSON)),
            Malformed(
                "JSON",
                p.twilio_signed(
                    base_url, b'{"MessageStatus": "delivered"}', content_type="application/json"
                ),
            ),
        ],
    ),
    "generic inbound": lambda base_url: _inbound(
        "/webhooks/generic/inbound", _signed_bodies(p.generic_signed, b'["STOP"]')
    ),
    "vonage inbound": lambda base_url: _inbound(
        "/webhooks/vonage/inbound", _signed_bodies(p.vonage_jwt_signed, b"[]")
    ),
}


@pytest.mark.parametrize("provider", ROUTES)
async def test_a_malformed_webhook_is_refused_with_a_4xx_counted_and_logged(
    ingest: Ingest, provider: str, capfd
) -> None:
    route = ROUTES[provider](ingest.base_url)
    name = provider.split()[0]
    outcomes = {m.outcome for m in route.requests}
    counted = {o: await _count(ingest, route.metric, name, o) for o in outcomes}
    capfd.readouterr()
    for malformed in route.requests:
        status, text = await ingest.send(route.path, malformed.signed)
        assert (status, bool(text)) == (malformed.status, True), (malformed.what, text)
    for outcome in outcomes:
        refused = sum(m.outcome == outcome for m in route.requests)
        now = await _count(ingest, route.metric, name, outcome)
        assert now - counted[outcome] == refused, outcome
    refusals = sum(m.status >= 400 for m in route.requests)
    assert capfd.readouterr().out.count(route.refused) == refusals
    assert await ingest.statuses_so_far() == []


async def _count(ingest: Ingest, metric: str, provider: str, outcome: str) -> float:
    labels = {"provider": provider, "outcome": outcome}
    return await sample_value(ingest.session, ingest.base_url, metric, **labels)
