"""Building the e-mail itself (pure: no I/O).

``multipart/alternative`` from ``text_body`` and ``body`` (HTML); ``From`` / ``Reply-To``
from the request; a ``Message-ID`` derived from the ``ext_message_id`` (so a resend after a
crash carries the same id, and receivers that deduplicate on it show one mail); RFC 8058
one-click unsubscribe; our own open pixel and click redirects (signed, each for the one
URL that was in the mail); DKIM when a key is configured.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

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


def message_id_for(ext_message_id: object, domain: str) -> str:
    return f"<{ext_message_id}@{domain}>"


def rewrite_links(body: str, tokens: TrackingTokens, mid: str, user: str) -> str:
    def replace(match: re.Match[str]) -> str:
        original = html.unescape(match.group(3))
        tracked = tokens.url("click", mid, user, url=original)
        return f"{match.group(1)}{match.group(2)}{html.escape(tracked)}{match.group(2)}"

    return HREF.sub(replace, body)


def add_open_pixel(body: str, pixel_url: str) -> str:
    pixel = (f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" '
             'style="display:block;border:0;width:1px;height:1px" />')
    match = None
    for match in BODY_END.finditer(body):
        pass  # the last </body>
    if match is None:
        return body + pixel
    return body[: match.start()] + pixel + body[match.start():]


def email_parts(message: Outbound, *, default_from: str, message_id_domain: str,
                tokens: TrackingTokens | None) -> EmailParts:
    content = message.content
    mid, user = str(message.ext_message_id), message.ext_user_id
    sender = content.from_email_address or default_from
    body = content.body
    unsubscribe = None
    if tokens is not None:
        unsubscribe = tokens.url("unsubscribe", mid, user)
        if body:
            body = add_open_pixel(rewrite_links(body, tokens, mid, user), tokens.url("open", mid, user))
    return EmailParts(
        sender=sender,
        envelope_from=parseaddr(sender)[1] or sender,
        reply_to=content.reply_to_email_address,
        subject=content.subject or "",
        text=content.text_body,
        html=body,
        message_id=message_id_for(mid, message_id_domain),
        unsubscribe_url=unsubscribe,
    )


def mime_bytes(parts: EmailParts, recipient: str, now: datetime | None = None) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = parts.sender
    msg["To"] = recipient
    if parts.reply_to:
        msg["Reply-To"] = parts.reply_to
    msg["Subject"] = parts.subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = parts.message_id
    for name, value in parts.list_unsubscribe_headers().items():
        msg[name] = value
    if parts.text is not None or parts.html is None:
        msg.set_content(parts.text or "", subtype="plain", charset="utf-8")
        if parts.html is not None:
            msg.add_alternative(parts.html, subtype="html", charset="utf-8")
    else:
        msg.set_content(parts.html, subtype="html", charset="utf-8")
    return msg.as_bytes()


class DkimSigner:
    """Signs with dkimpy (relaxed/relaxed, rsa-sha256); the signature covers the headers a
    receiver shows and the unsubscribe headers, so none can be altered in transit."""

    HEADERS = (b"From", b"To", b"Reply-To", b"Subject", b"Date", b"Message-ID",
               b"List-Unsubscribe", b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type")

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        self.domain = domain.encode()
        self.selector = selector.encode()
        self.key = private_key_pem

    def sign(self, message: bytes) -> bytes:
        import dkim  # imported here: only deployments that sign need it loaded

        signature = dkim.sign(
            message, self.selector, self.domain, self.key,
            canonicalize=(b"relaxed", b"relaxed"), include_headers=list(self.HEADERS),
        )
        return signature + message
