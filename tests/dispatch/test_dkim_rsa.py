"""DKIM with OpenSSL's RSA (``dkim_rsa``) writes the very bytes dkimpy alone writes, and a
key OpenSSL does not take is still dkimpy's to sign with (or to refuse) as before."""

from __future__ import annotations

import uuid

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from services.dispatch.email_message import DkimSigner, EmailComposer, mime_bytes
from services.dispatch.providers import Outbound
from shared.domain import Channel
from shared.events import MessageContent
from shared.tracking import TrackingTokens

CONTENTS = [
    MessageContent(subject="Weekend offer", body="<p>Hi</p>", text_body="Hi"),
    MessageContent(
        subject="Bonus für Sie " + "lang " * 30,
        body='<html><body><a href="https://casino.example/o?a=1&amp;b=2">Go</a></body></html>',
        from_email_address="Größtes Casino <news@casino.example>",
        reply_to_email_address="Support <help@casino.example>",
    ),
    MessageContent(text_body="plain\n.\nwith a dot line and trailing spaces   \n\n\n"),
]


def _pem(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, form: serialization.PrivateFormat
) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def _mail(content: MessageContent) -> bytes:
    composer = EmailComposer(
        "Blindpost <noreply@blindpost.test>",
        "blindpost.test",
        TrackingTokens(b"k", "https://t.test"),
    )
    message = Outbound(
        uuid.uuid4(), Channel.EMAIL, "u-1", "uid-1", "player@example.test", content, 1
    )
    return mime_bytes(composer.parts(message), message.recipient)


@pytest.mark.parametrize("bits", [1024, 2048])
@pytest.mark.parametrize(
    "form", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_the_signed_mail_is_byte_for_byte_dkimpys(
    bits: int, form: serialization.PrivateFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dkim.time, "time", lambda: 1_764_000_000.0)  # the t= tag
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=bits), form)
    signer = DkimSigner("casino.example", "mail", pem)
    assert signer.rsa is not None  # OpenSSL signs
    for content in CONTENTS:
        mail = _mail(content)
        theirs = dkim.sign(
            mail,
            b"mail",
            b"casino.example",
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(DkimSigner.HEADERS),
        )
        assert signer.sign(mail) == theirs + mail


def test_a_key_openssl_does_not_sign_with_fails_as_dkimpy_fails() -> None:
    pem = _pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8)
    signer = DkimSigner("casino.example", "mail", pem)
    assert signer.rsa is None
    with pytest.raises(dkim.KeyFormatError):
        signer.sign(_mail(CONTENTS[0]))
