"""Custom IM: the operator's own notification centre (``BLINDPOST_CIM_URL``).

``POST`` JSON ``{"ext_user_id", "body", "im_uid", "ext_message_id", "extension"}`` with
``X-Blindpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
and ``Idempotency-Key: <ext_message_id>``.  The operator verifies the signature with
:func:`verify_signature` semantics (docs/dispatch.md); the answer is any 2xx, optionally
JSON with ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from services.dispatch.outcomes import PermanentFailure, Sent
from services.dispatch.providers import Outbound, Redelivery
from services.dispatch.providers.http import HttpProvider, json_answer
from services.dispatch.settings import CimSettings
from shared.cim_template import CimTemplate, InvalidExtension
from shared.domain import Channel
from shared.logging import get_logger

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Blindpost-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secrets: list[bytes],
    header: str,
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """What the operator runs: any v1 matching any current secret, within the window."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return any(
        hmac.compare_digest(sign(secret, body, timestamp).split("v1=")[1], candidate)
        for secret in secrets
        for candidate in parts.get("v1", [])
    )


class CimProvider(HttpProvider):
    name = "cim"
    redelivery: Redelivery = "idempotency_key"

    def __init__(
        self, *, url: str, secret: bytes, template: CimTemplate | None, concurrency: int = 100
    ) -> None:
        super().__init__(concurrency)
        self.url = url
        self.secret = secret
        self.template = template

    def payload(self, message: Outbound) -> bytes:
        if self.template is not None:
            try:
                self.template.validate_extension(message.content.extension)
            except InvalidExtension as problem:
                # The message names the field, never its value.
                log.warning(
                    "custom IM extension refused by the template",
                    ext_message_id=str(message.ext_message_id),
                    problem=str(problem),
                )
                raise PermanentFailure("invalid_extension") from None
        return json.dumps(
            {
                "ext_user_id": message.ext_user_id,
                "body": message.content.body or "",
                "im_uid": message.uid,
                "ext_message_id": str(message.ext_message_id),
                "extension": message.content.extension or {},
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    async def send(self, message: Outbound) -> Sent:
        raw = self.payload(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, raw, int(time.time())),
            "Idempotency-Key": str(message.ext_message_id),
        }
        async with self.session.post(self.url, data=raw, headers=headers) as response:
            body = await json_answer(response)
        message_id = body.get("id") or body.get("message_id")
        return Sent(str(message_id) if message_id else None)


def build(settings: CimSettings, channel: Channel) -> CimProvider:
    return CimProvider(
        url=settings.cim_url,
        secret=settings.secret("cim_signing_secret").encode(),
        template=CimTemplate.from_setting(settings.cim_template),
        concurrency=settings.limits(channel).concurrency,
    )
