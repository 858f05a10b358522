"""The pure parts: segment counting, the custom IM template and signature, the circuit
breaker, and the e-mail as bytes (encoding, header injection, DKIM)."""

from __future__ import annotations

import base64
import email
import time
import uuid
from email.policy import default as default_policy

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.dispatch.email_message import DkimSigner, email_parts, mime_bytes
from services.dispatch.guard import CircuitBreaker, TokenBucket
from services.dispatch.providers import Outbound
from services.dispatch.providers.cim import sign, verify_signature
from services.dispatch.segments import count_segments
from shared.cim_template import CimTemplate, InvalidExtension
from shared.domain import Channel
from shared.events import MessageContent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("gsm7", 1)),
        ("a" * 161, ("gsm7", 2)),
        ("a" * 306, ("gsm7", 2)),
        ("a" * 307, ("gsm7", 3)),
        ("€" * 80, ("gsm7", 1)),  # extension characters take two septets
        ("€" * 81, ("gsm7", 2)),
        ("Привет" + "a" * 64, ("ucs2", 1)),
        ("Привет" + "a" * 65, ("ucs2", 2)),
        ("😀" * 35, ("ucs2", 1)),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, ("ucs2", 2)),
    ],
)
def test_segments(text, expected):
    assert count_segments(text) == expected


TEMPLATE = CimTemplate.parse(
    '{"title": {"type": "string", "required": true},'
    ' "action": {"type": "choice", "choices": ["BUY", "SELL"]},'
    ' "urgent": {"type": "boolean"}, "image": {"type": "media_url"}}'
)


@pytest.mark.parametrize(
    ("extension", "problem"),
    [
        ({"title": "t"}, None),
        (
            {"title": "t", "action": "BUY", "urgent": False, "image": "https://cdn.example/a.png"},
            None,
        ),
        ({}, "extension.title is required"),
        ({"title": 5}, "extension.title must be a string"),
        ({"title": "t", "action": "HOLD"}, "extension.action is not one of the template's choices"),
        ({"title": "t", "urgent": "yes"}, "extension.urgent must be a boolean"),
        ({"title": "t", "image": "javascript:alert(1)"}, "extension.image must be an https URL"),
        ({"title": "t", "colour": "red"}, "extension fields not in the template: colour"),
    ],
)
def test_cim_template(extension, problem):
    assert TEMPLATE is not None
    if problem is None:
        TEMPLATE.validate_extension(extension)
    else:
        with pytest.raises(InvalidExtension, match=problem):
            TEMPLATE.validate_extension(extension)


def test_cim_signature_verifies_rotates_and_expires():
    body = b'{"ext_user_id":"u1","body":"hi"}'
    now = int(time.time())
    header = sign(b"new-secret", body, now)
    assert verify_signature([b"old-secret", b"new-secret"], header, body)
    assert not verify_signature([b"old-secret"], header, body)
    assert not verify_signature([b"new-secret"], header, body + b" ")
    assert not verify_signature([b"new-secret"], sign(b"new-secret", body, now - 3600), body)
    assert not verify_signature([b"new-secret"], "v1=deadbeef", body)


def test_circuit_breaker_opens_probes_and_closes():
    clock = [0.0]
    breaker = CircuitBreaker("test", threshold=3, cooldown_s=10, clock=lambda: clock[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.record_transient_failure()
    assert not breaker.allow() and breaker.retry_in() == 10
    clock[0] = 10
    assert breaker.allow()  # one probe
    assert not breaker.allow()
    breaker.record_transient_failure()  # the probe failed: open again
    assert not breaker.allow()
    clock[0] = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow() and breaker.allow()


def _outbound(**content) -> Outbound:
    return Outbound(
        uuid.uuid4(),
        Channel.EMAIL,
        "u-1",
        "uid-1",
        "player@example.test",
        MessageContent(**content),
        1,
    )


def _mail(message: Outbound, **kwargs) -> bytes:
    parts = email_parts(
        message,
        default_from="Blindpost <noreply@blindpost.test>",
        message_id_domain="blindpost.test",
        tokens=None,
    )
    return mime_bytes(parts, message.recipient)


def test_non_ascii_headers_are_encoded_and_line_breaks_cannot_inject_headers():
    message = _outbound(
        subject="Bonus für Sie\r\nBcc: victim@example.test",
        text_body="Grüße\n",
        from_email_address="Café Casino <news@cafe.example>",
    )
    raw = _mail(message)
    assert b"\r\nBcc:" not in raw and raw.isascii()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Bonus für Sie Bcc: victim@example.test"
    assert parsed["From"].addresses[0].display_name == "Café Casino"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == "Grüße\n"  # canonical CRLF


def test_html_only_mail_is_a_single_html_part():
    parsed = email.message_from_bytes(
        _mail(_outbound(subject="s", body="<p>x</p>")), policy=default_policy
    )
    assert parsed.get_content_type() == "text/html"
    assert parsed.get_content().strip() == "<p>x</p>"


def test_dkim_signature_verifies_against_the_published_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name, timeout=5):
        assert name == b"mail._domainkey.blindpost.test."
        return record

    signed = DkimSigner("blindpost.test", "mail", pem).sign(
        _mail(_outbound(subject="s", text_body="t", body="<p>h</p>"))
    )
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"Subject: s", b"Subject: S"), dnsfunc=dns)


async def test_token_bucket_spaces_calls_at_the_configured_rate():
    clock = [100.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(10, burst=2, clock=lambda: clock[0], sleep=fake_sleep)
    for _ in range(6):
        await bucket.acquire()
    # a burst of two, then one call every 0.1 s of (simulated) time
    assert waits == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert clock[0] == pytest.approx(100.4)
