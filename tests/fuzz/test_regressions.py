"""Each crash the fuzzer found, as the input that found it: the parser answers with the
error it documents (a 4xx, a refused extension, a dead-lettered token), never another one."""

from __future__ import annotations

import asyncio
import base64

import pytest

from services.status_ingest.providers.base import Inbound, InvalidSignature, Unusable
from services.status_ingest.providers.vonage import Vonage
from shared.cim_template import InvalidExtension
from shared.sealing import SealingError
from tests.fuzz import targets


def test_an_unclosed_ipv6_bracket_in_a_media_url_is_a_refused_extension() -> None:
    assert targets.TEMPLATE is not None
    with pytest.raises(InvalidExtension, match="extension.image must be an https URL"):
        targets.TEMPLATE.validate_extension({"title": "Hi", "image": "https://[i.exam.png"})


@pytest.mark.parametrize(
    "body",
    [
        b'{"entry": 1}',
        b'{"entry": [1, {"changes": ["x", {"value": []}]}]}',
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": "sent",'
        b' "errors": {"0": 1}}]}}]}]}',
    ],
)
def test_a_signed_whatsapp_body_of_another_shape_carries_no_status(body: bytes) -> None:
    provider, sign = targets.PROVIDERS["whatsapp"]
    reports = targets._through(provider, sign(body))
    assert [r.provider_status for r in reports] == (["sent"] if b"statuses" in body else [])


@pytest.mark.parametrize("body", [b"1", b"[]", b"not json", b"[" * 100_000])
def test_a_signed_whatsapp_body_that_is_not_a_json_object_is_unusable(body: bytes) -> None:
    """Refused with a 400, counted and logged (it was a 500 when the signature check read it)."""
    provider, sign = targets.PROVIDERS["whatsapp"]
    with pytest.raises(Unusable):
        targets._through(provider, sign(body))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("header", [b"1", b"[]", b'"HS256"', b"null"])
def test_a_vonage_jwt_whose_header_is_not_an_object_is_refused_unauthenticated(
    header: bytes,
) -> None:
    token = f"{_b64(header)}.{_b64(b'{}')}.{_b64(b'x')}"
    inbound = Inbound(
        "POST", "https://s.example/webhooks/vonage", {"Authorization": f"Bearer {token}"}, {}, b"{}"
    )
    with pytest.raises(InvalidSignature):
        asyncio.run(Vonage("secret").verify(inbound))


@pytest.mark.parametrize(
    "token",
    [
        "v1.email-1.AAAA.AAAA.AAAA",  # a 3-byte ephemeral key
        "v1.email-1." + "A" * 43 + ".AAAA.AAAA",  # a 3-byte nonce
        "v1.email-1.A.AAAA.AAAA",  # not base64 at all
    ],
)
def test_a_malformed_sealed_token_is_a_sealing_error(token: str) -> None:
    with pytest.raises(SealingError):
        targets.KEYRING.open(token, b"context")


def test_a_signed_viber_callback_from_beyond_year_9999_has_no_report_time() -> None:
    provider, sign = targets.PROVIDERS["viber"]
    body = b'{"event": "delivered", "timestamp": 179587410425874104249, "message_token": 1}'
    (report,) = targets._through(provider, sign(body))
    assert report.reported_at is None
