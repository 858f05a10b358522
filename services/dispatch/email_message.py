"""Building the e-mail itself (pure: no I/O).

``multipart/alternative`` from ``text_body`` and ``body`` (HTML); ``From`` / ``Reply-To``
from the request; a ``Message-ID`` derived from the ``ext_message_id`` (so a resend after a
crash carries the same id, and receivers that deduplicate on it show one mail); RFC 8058
one-click unsubscribe; our own open pixel and click redirects (signed, each for the one
URL that was in the mail); DKIM when a key is configured.

A preview or a staff mail (one with an ``activity_type``) goes to the request's
``to_email_address``, not to the player: it gets no pixel, no rewritten links and no
List-Unsubscribe, since every token names the player, and a staff member's click on
unsubscribe (or their mail client's one-click request) would opt the player out.
"""

from __future__ import annotations

import binascii
import functools
import html
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from services.dispatch.providers import Outbound
from shared.tracking import TrackingTokens

HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.IGNORECASE)
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class EmailParts:
    """What every e-mail provider needs, SMTP or HTTP."""

    sender: str  # the From header
    envelope_from: str  # the bare address of the From header (MAIL FROM)
    reply_to: str | None
    subject: str
    text: str | None
    html: str | None
    message_id: str  # with angle brackets
    unsubscribe_url: str | None

    def list_unsubscribe_headers(self) -> dict[str, str]:
        if not self.unsubscribe_url:
            return {}
        return {
            "List-Unsubscribe": f"<{self.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


@functools.lru_cache(maxsize=256)
def _bare_address(value: str) -> str:
    # A campaign sends from a handful of addresses: parse each once.
    return parseaddr(value)[1] or value


def sender_domain(sender: str) -> str | None:
    """The domain of a From header (lower case), or None if it names none."""
    _, _, domain = _bare_address(sender).rpartition("@")
    return domain.strip().lower() or None


@dataclass(frozen=True)
class EmailComposer:
    """What every e-mail provider renders a message with (SMTP or HTTP alike)."""

    default_from: str
    message_id_domain: str
    tokens: TrackingTokens | None  # None: no tracking links, pixel or unsubscribe headers

    def parts(self, message: Outbound) -> EmailParts:
        return email_parts(
            message,
            default_from=self.default_from,
            message_id_domain=self.message_id_domain,
            tokens=self.tokens,
        )


def message_id_for(ext_message_id: object, domain: str) -> str:
    return f"<{ext_message_id}@{domain}>"


def rewrite_links(body: str, tokens: TrackingTokens, mid: str, user: str) -> str:
    def replace(match: re.Match[str]) -> str:
        original = html.unescape(match.group(3))
        tracked = tokens.url("click", mid, user, url=original)
        return f"{match.group(1)}{match.group(2)}{html.escape(tracked)}{match.group(2)}"

    return HREF.sub(replace, body)


def add_open_pixel(body: str, pixel_url: str) -> str:
    pixel = (
        f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )
    ends = list(BODY_END.finditer(body))
    if not ends:
        return body + pixel
    at = ends[-1].start()  # the last </body>
    return body[:at] + pixel + body[at:]


def email_parts(
    message: Outbound, *, default_from: str, message_id_domain: str, tokens: TrackingTokens | None
) -> EmailParts:
    content = message.content
    mid, user = str(message.ext_message_id), message.ext_user_id
    sender = content.from_email_address or default_from
    body = content.body
    unsubscribe = None
    if tokens is not None and message.activity_type is None:
        unsubscribe = tokens.url("unsubscribe", mid, user)
        if body:
            body = add_open_pixel(
                rewrite_links(body, tokens, mid, user), tokens.url("open", mid, user)
            )
    return EmailParts(
        sender=sender,
        envelope_from=_bare_address(sender),
        reply_to=content.reply_to_email_address,
        subject=content.subject or "",
        text=content.text_body,
        html=body,
        message_id=message_id_for(mid, message_id_domain),
        unsubscribe_url=unsubscribe,
    )


def mime_bytes(parts: EmailParts, recipient: str, now: datetime | None = None) -> bytes:
    """The message as sent, CRLF line ends.  Written by hand: the standard library's
    EmailMessage costs over a millisecond per mail in header objects, which alone would cap
    a dispatcher below the 1,000 mails a second it is built for.  Header values are
    single-lined (no injection from a subject with a line break) and RFC 2047-encoded when
    not ASCII; bodies are UTF-8, quoted-printable."""
    headers = [
        ("From", _address_header(parts.sender)),
        ("To", _clean(recipient)),
    ]
    if parts.reply_to:
        headers.append(("Reply-To", _address_header(parts.reply_to)))
    headers += [
        ("Subject", _text_header(parts.subject)),
        ("Date", format_datetime(now) if now else _date_header(int(time.time()))),
        ("Message-ID", _clean(parts.message_id)),
        *((name, _clean(value)) for name, value in parts.list_unsubscribe_headers().items()),
        ("MIME-Version", "1.0"),
    ]
    if parts.html is not None and parts.text is not None:
        boundary = f"=_bp_{uuid.uuid4().hex}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        body = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                _part("plain", parts.text),
                f"\r\n--{boundary}\r\n".encode(),
                _part("html", parts.html),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
        return head + b"\r\n" + body
    subtype, text = ("html", parts.html) if parts.html is not None else ("plain", parts.text or "")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    return head + _part(subtype, text)


@functools.lru_cache(maxsize=1)
def _date_header(second: int) -> str:
    # Formatted once a second, not per mail (the header has no finer unit).
    return format_datetime(datetime.fromtimestamp(second, UTC))


def _part(subtype: str, text: str) -> bytes:
    """A part's headers, blank line and body (the body's lines end in CRLF)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode()
    encoded = binascii.b2a_qp(data, istext=True)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + encoded


def _clean(value: str) -> str:
    return " ".join(value.split()) if ("\n" in value or "\r" in value) else value


def _text_header(value: str) -> str:
    value = _clean(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76).encode("\r\n ")


def _address_header(value: str) -> str:
    value = _clean(value)
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if address else _text_header(value)


class DkimSigner:
    """Signs with dkimpy (relaxed/relaxed, rsa-sha256; the RSA itself by OpenSSL,
    ``dkim_rsa.py``); the signature covers the headers a receiver shows and the unsubscribe
    headers, so none can be altered in transit."""

    HEADERS = (
        b"From",
        b"To",
        b"Reply-To",
        b"Subject",
        b"Date",
        b"Message-ID",
        b"List-Unsubscribe",
        b"List-Unsubscribe-Post",
        b"MIME-Version",
        b"Content-Type",
    )

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        # Imported here: only deployments that sign need dkimpy loaded.
        from services.dispatch.dkim_rsa import rsa_key

        self.domain = domain.encode()
        self.selector = selector.encode()
        self.key = private_key_pem
        self.rsa = rsa_key(private_key_pem)  # None: a key only dkimpy signs with

    def sign(self, message: bytes) -> bytes:
        import dkim

        from services.dispatch.dkim_rsa import OpenSslRsaDkim

        options = {
            "canonicalize": (b"relaxed", b"relaxed"),
            "include_headers": list(self.HEADERS),
        }
        if self.rsa is None:
            signature = dkim.sign(message, self.selector, self.domain, self.key, **options)
        else:
            signer = OpenSslRsaDkim(message, self.rsa)
            signature = signer.sign(self.selector, self.domain, self.key, **options)
        return signature + message
