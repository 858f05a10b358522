"""SMTP with aiosmtplib: a small pool of reused connections, STARTTLS or implicit TLS,
authentication.  Replies 4xx (and a dropped connection) are transient, 5xx permanent.

SMTP has no idempotency key; the ``Message-ID`` is derived from the ``ext_message_id``, so a
resend after a crash (the default, unless ``BLINDPOST_DISPATCH_UNKNOWN_OUTCOME=fail``) carries the
same id and receivers that deduplicate on it (the bundled sink, many mailbox providers)
keep one copy.  With ``BLINDPOST_BOUNCE_DOMAIN`` and ``BLINDPOST_BOUNCE_KEY`` set, the envelope
sender is the message's VERP address (``shared.verp``), where the bounce receiver listens.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiosmtplib

from services.dispatch.email_message import DkimSigner, EmailComposer, mime_bytes
from services.dispatch.outcomes import (
    PermanentFailure,
    ProviderFailure,
    Sent,
    TransientFailure,
)
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.smtp_transaction import send_one
from services.dispatch.settings import EmailSettings
from shared.domain import Channel
from shared.settings import SettingsError
from shared.verp import Verp


def smtp_failure(exc: Exception) -> ProviderFailure:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not this message: keep it (the breaker parks the rest).
        return TransientFailure("smtp_auth")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
        if 400 <= code < 500:
            return TransientFailure(f"smtp_{code}")
        if 500 <= code < 600:
            return PermanentFailure(f"smtp_{code}")
        return TransientFailure("smtp_unexpected_reply")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | asyncio.TimeoutError | TimeoutError):
        return TransientFailure("timeout")
    return TransientFailure("connection_error")


class SmtpPool:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: str = "none",
        username: str | None = None,
        password: str | None = None,
        validate_certs: bool = True,
        size: int = 8,
        timeout_s: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = dict(
            hostname=host,
            port=port,
            use_tls=tls == "implicit",
            start_tls=tls == "starttls",
            validate_certs=validate_certs,
            timeout=timeout_s,
            tls_context=tls_context,
        )
        self.username = username
        self.password = password
        self.size = size
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(size)
        self._open: set[aiosmtplib.SMTP] = set()

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(**self.options)  # type: ignore[arg-type]
        await client.connect()
        if self.username:
            await client.login(self.username, self.password or "")
        self._open.add(client)
        return client

    async def sendmail(self, sender: str, recipient: str, data: bytes) -> str:
        async with self._slots:
            client = None
            while not self._idle.empty():
                candidate = self._idle.get_nowait()
                if candidate.is_connected:
                    client = candidate
                    break
                self._open.discard(candidate)
            try:
                if client is None:
                    client = await self._connect()
                reply = await send_one(client, sender, recipient, data)
            except Exception:
                if client is not None:
                    await self._discard(client)
                raise
            self._idle.put_nowait(client)
            return reply

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._open.discard(client)
        try:
            client.close()
        except Exception:  # noqa: BLE001, S110 - already broken
            pass

    async def close(self) -> None:
        for client in list(self._open):
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), 2)
            except Exception:  # noqa: BLE001
                client.close()
        self._open.clear()


class SmtpProvider:
    name = "smtp"
    redelivery: Redelivery = "message_id"

    def __init__(
        self,
        pool: SmtpPool,
        *,
        composer: EmailComposer,
        dkim: DkimSigner | None = None,
        verp: Verp | None = None,
    ) -> None:
        self.pool = pool
        self.composer = composer
        self.dkim = dkim
        self.verp = verp

    def render(self, message: Outbound) -> tuple[str, bytes, str]:
        parts = self.composer.parts(message)
        data = mime_bytes(parts, message.recipient)
        if self.dkim is not None:
            data = self.dkim.sign(data)
        # Bounces and feedback reports come back to the envelope sender: a VERP address
        # naming this message (and no one's address) lets the bounce receiver match them.
        envelope_from = (
            self.verp.address(message.ext_message_id) if self.verp else parts.envelope_from
        )
        return envelope_from, data, parts.message_id

    async def send(self, message: Outbound) -> Sent:
        envelope_from, data, message_id = self.render(message)
        try:
            await self.pool.sendmail(envelope_from, message.recipient, data)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise smtp_failure(exc) from None
        return Sent(message_id.strip("<>"))

    async def close(self) -> None:
        await self.pool.close()


def load_pem(value: str) -> bytes:
    """A PEM given inline, or the path of a file holding it."""
    if "-----BEGIN" in value:
        return value.encode()
    return Path(value).read_bytes()


def build(settings: EmailSettings, channel: Channel) -> SmtpProvider:
    dkim = None
    if settings.dkim_private_key is not None:
        if not (settings.dkim_domain and settings.dkim_selector):
            raise SettingsError(
                "BLINDPOST_DKIM_DOMAIN and BLINDPOST_DKIM_SELECTOR go with "
                "BLINDPOST_DKIM_PRIVATE_KEY"
            )
        dkim = DkimSigner(
            settings.dkim_domain,
            settings.dkim_selector,
            load_pem(settings.secret("dkim_private_key")),
        )
    pool = SmtpPool(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.secret("smtp_password") if settings.smtp_password else None,
        validate_certs=settings.smtp_validate_certs,
        size=settings.smtp_pool_size,
        timeout_s=settings.dispatch_send_timeout_s,
    )
    return SmtpProvider(
        pool, composer=settings.composer(), dkim=dkim, verp=settings.bounce.verp()
    )
