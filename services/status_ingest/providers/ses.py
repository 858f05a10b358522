"""Amazon SES notifications delivered by Amazon SNS over HTTPS.

SNS signs each message with an RSA key whose certificate it names in ``SigningCertURL``;
``SignatureVersion`` 1 is SHA1withRSA, 2 is SHA256withRSA over a canonical string of the
message's fields.  We only ever fetch the certificate from ``https://sns.<region>.amazonaws.com``
(the host is checked before any fetch), only accept the configured ``TopicArn``s, and confirm
subscriptions by calling ``SubscribeURL`` on the same kind of host.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from prometheus_client import Counter
from yarl import URL

from services.status_ingest.providers import base
from shared.logging import get_logger

log = get_logger(__name__)

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
CERTIFICATE_PATH = re.compile(r"^/SimpleNotificationService-[0-9a-f]{16,64}\.pem$")
CERTIFICATES_KEPT = 16  # SNS rotates its certificate rarely; a handful covers every region
CERTIFICATE_FAILURES = Counter(
    "blindpost_status_sns_certificate_failures_total",
    "SNS signing certificates that could not be fetched or read (the webhook got a 4xx)",
    ["reason"],
)
SUBSCRIPTION_FAILURES = Counter(
    "blindpost_status_sns_subscription_failures_total",
    "SNS subscription confirmations whose SubscribeURL could not be fetched (answered 400)",
)
FETCH_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
Fetch = Callable[[URL], Awaitable[bytes]]
"""Fetches an https URL on an SNS host (tests serve it from a local server)."""
SNS_WINDOW_S = 3600.0  # SNS retries a delivery with the original Timestamp


def sns_url(raw: object) -> URL:
    """A URL we may fetch: https on sns.<region>.amazonaws.com, nothing else."""
    try:
        url = URL(str(raw))
    except ValueError:
        raise base.InvalidSignature("SNS URL unparseable") from None
    if (
        url.scheme != "https"
        or not SNS_HOST.match(url.raw_host or "")
        or url.user
        or url.port != 443
    ):
        raise base.InvalidSignature("SNS URL is not on an Amazon SNS host")
    return url


def certificate_url(raw: object) -> URL:
    """Only Amazon's certificate path, with no query or fragment: a URL that varies in
    anything else is not fetched (and cannot grow the certificate cache)."""
    url = sns_url(raw)
    if url.raw_query_string or url.raw_fragment or not CERTIFICATE_PATH.match(url.raw_path):
        raise base.InvalidSignature("SigningCertURL is not an SNS signing certificate")
    return url


def string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    fields = NOTIFICATION_FIELDS if kind == "Notification" else SUBSCRIPTION_FIELDS
    parts = []
    for name in fields:
        if name in message and message[name] is not None:
            parts.append(f"{name}\n{message[name]}\n")
    return "".join(parts).encode()


class Ses(base.Provider[tuple[dict[str, Any], dict[str, Any]]]):
    """A record is the SNS envelope and the SES notification it carries."""

    name = "ses"
    window_s = SNS_WINDOW_S

    def __init__(self, topic_arns: list[str], fetch: Fetch) -> None:
        self.topic_arns = set(topic_arns)
        self.fetch = fetch
        self._certificates: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        # SNS's signature covers fields of the JSON document; reading the document is the
        # first step of verifying it.  Nothing in it is used before it verifies.
        message = base.json_body(inbound, "SNS", base.InvalidSignature)
        if not isinstance(message, dict) or message.get("Type") not in (
            "Notification",
            "SubscriptionConfirmation",
            "UnsubscribeConfirmation",
        ):
            raise base.InvalidSignature("not an SNS message")
        if message.get("TopicArn") not in self.topic_arns:
            raise base.InvalidSignature("SNS topic is not one we subscribed to")
        version = str(message.get("SignatureVersion"))
        # SHA-1 only because SNS still signs SignatureVersion 1 with it (we cannot choose the
        # sender's algorithm); subscribe with SignatureVersion 2 to get SHA-256.
        algorithm: hashes.HashAlgorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(  # noqa: S303
            version, hashes.SHA256()
        )
        if version not in ("1", "2"):
            raise base.InvalidSignature("unsupported SNS SignatureVersion")
        key = await self._key(certificate_url(message.get("SigningCertURL")))
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
        except (CryptoInvalidSignature, binascii.Error, ValueError):
            raise base.InvalidSignature("SNS signature does not verify") from None
        try:
            signed_at = datetime.fromisoformat(str(message["Timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise base.InvalidSignature("SNS Timestamp missing") from None
        return base.Proof((string_to_sign(message),), signed_at.timestamp())

    async def _key(self, url: URL) -> rsa.RSAPublicKey:
        cached = self._certificates.get(str(url))
        if cached:
            self._certificates.move_to_end(str(url))
            return cached
        try:
            pem = await self.fetch(url)
        except FETCH_ERRORS:
            CERTIFICATE_FAILURES.labels("fetch").inc()
            raise base.InvalidSignature("SNS signing certificate unavailable") from None
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            key = None
        if not isinstance(key, rsa.RSAPublicKey):
            CERTIFICATE_FAILURES.labels("unreadable").inc()
            raise base.InvalidSignature("SNS signing certificate unreadable")
        self._certificates[str(url)] = key
        if len(self._certificates) > CERTIFICATES_KEPT:
            self._certificates.popitem(last=False)
        return key

    async def handshake(self, inbound: base.Inbound) -> base.Reply | None:
        """Confirm a (verified) subscription by calling its SubscribeURL on an SNS host."""
        message = json.loads(inbound.body)
        if message.get("Type") != "SubscriptionConfirmation":
            return None
        try:
            await self.fetch(sns_url(message.get("SubscribeURL")))
        except FETCH_ERRORS:
            SUBSCRIPTION_FAILURES.inc()
            raise base.Unusable("SNS SubscribeURL could not be fetched") from None
        log.info("SNS subscription confirmed", provider=self.name)
        return base.Reply("subscribed")

    def records(self, inbound: base.Inbound) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        envelope = json.loads(inbound.body)
        if envelope.get("Type") != "Notification":
            return []
        try:
            notification = json.loads(envelope["Message"])
        except (KeyError, TypeError, *base.JSON_ERRORS):
            notification = None
        if not isinstance(notification, dict):
            raise base.Unusable("SNS Message is not an SES notification")
        return [(envelope, notification)]

    def to_report(self, record: tuple[dict[str, Any], dict[str, Any]]) -> base.StatusReport:
        envelope, notification = record
        kind = str(notification.get("eventType") or notification.get("notificationType") or "")
        if not kind:
            raise base.Unusable("SES notification has no type")
        status = kind.lower()
        detail = None
        if status == "bounce":
            bounce = base.json_object(notification.get("bounce"))
            status = f"bounce:{str(bounce.get('bounceType', 'undetermined')).lower()}"
            detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"[:60]
        mail = base.json_object(notification.get("mail"))
        return self.report(
            status,
            str(envelope.get("MessageId")),
            ext_message_id=_ext_message_id(mail),
            provider_message_id=base.clean_id(mail.get("messageId")),
            reported_at=_time(mail.get("timestamp")),
            detail=detail,
        )


def _ext_message_id(mail: dict[str, Any]) -> str | None:
    """From the ``ext_message_id`` message tag, or our Message-ID header ``<uuid@domain>``."""
    tags = base.json_object(mail.get("tags"))
    if tags.get("ext_message_id"):
        value = tags["ext_message_id"]
        return base.clean_id(value[0] if isinstance(value, list) and value else value)
    common = base.json_object(mail.get("commonHeaders"))
    message_id = str(common.get("messageId") or "").strip("<>")
    local = message_id.split("@", 1)[0]
    try:
        return str(uuid.UUID(local))
    except ValueError:
        return None


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
