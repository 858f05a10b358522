"""Vonage SMS API delivery receipts (GET query, form POST or JSON POST): ``messageId``,
``status``, ``err-code``, ``client-ref`` (our ext_message_id), ``message-timestamp``.

Verified either way Vonage signs webhooks:
- signed SMS webhooks: ``sig`` over the other parameters sorted by name, each ``&name=value``
  (``&`` and ``=`` in values replaced by ``_``), HMAC with the signature secret (the
  method chosen in the dashboard: md5/sha1/sha256/sha512), with signed ``timestamp`` and
  ``nonce`` parameters;
- signed webhooks with a JWT (``Authorization: Bearer``), HS256 with the signature secret,
  claims ``iat``, ``jti`` and ``payload_hash`` (SHA-256 of the body).

Inbound messages (the SMS API's inbound webhook: ``msisdn``, ``to``, ``messageId``, ``text``,
``type``, ``keyword``, ``message-timestamp``) are signed the same way; :class:`VonageStops`
reads a STOP from them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import ClassVar

from services.status_ingest.providers import base
from services.status_ingest.providers.stops import Answer, Stop, check_window, is_stop_word
from shared.domain import Channel

HASHES = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def signed_text(params: Mapping[str, str]) -> str:
    return "".join(
        f"&{name}={str(value).replace('&', '_').replace('=', '_')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )


def vonage_sig(params: Mapping[str, str], secret: str, method: str = "sha256") -> str:
    return hmac.new(secret.encode(), signed_text(params).encode(), HASHES[method]).hexdigest()


# Vonage resends an inbound message it got no 2xx for during 24 hours.
VONAGE_INBOUND_WINDOW_S = 24 * 3600.0 + 300.0
TEXT_TYPES = frozenset({"text", "unicode"})


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class Vonage(base.Provider[dict[str, str]]):
    name = "vonage"

    def __init__(self, signature_secret: str, method: str = "sha256") -> None:
        if method not in HASHES:
            raise ValueError("Vonage signature method must be md5, sha1, sha256 or sha512")
        self.secret = signature_secret
        self.method = method

    def params(self, inbound: base.Inbound) -> dict[str, str]:
        if inbound.method == "GET":
            return dict(inbound.query)
        if "json" in inbound.content_type:
            data = base.json_body(inbound, "Vonage")
            if not isinstance(data, dict):
                raise base.Unusable("a Vonage JSON body is an object")
            return {k: str(v) for k, v in data.items()}
        return inbound.form()

    async def signature(self, inbound: base.Inbound) -> base.Proof:
        authorization = inbound.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            if inbound.method != "POST" or inbound.query:
                # The JWT covers the body (payload_hash), not the URL: a status read from an
                # unsigned query could be anything.
                raise base.InvalidSignature("Vonage JWT webhooks are a POST without a query")
            return self._verify_jwt(authorization.removeprefix("Bearer ").strip(), inbound.body)
        params = self.params(inbound)
        sig = params.get("sig", "")
        timestamp = params.get("timestamp", "")
        if not sig or not timestamp.isdigit():
            raise base.InvalidSignature("Vonage receipt is not signed")
        if not base.same(vonage_sig(params, self.secret, self.method), sig.lower()):
            raise base.InvalidSignature("Vonage sig does not verify")
        return base.Proof((signed_text(params),), float(timestamp))

    def _verify_jwt(self, token: str, body: bytes) -> base.Proof:
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_b64url(header_b64))
            expected = hmac.new(
                self.secret.encode(), f"{header_b64}.{claims_b64}".encode(), hashlib.sha256
            ).digest()
            valid = (
                isinstance(header, dict)
                and header.get("alg") == "HS256"
                and hmac.compare_digest(expected, _b64url(signature_b64))
            )
            claims = json.loads(_b64url(claims_b64)) if valid else None
        except base.JSON_ERRORS:
            raise base.InvalidSignature("Vonage JWT malformed") from None
        if not isinstance(claims, dict):
            raise base.InvalidSignature("Vonage JWT does not verify")
        if not base.same(str(claims.get("payload_hash", "")), hashlib.sha256(body).hexdigest()):
            raise base.InvalidSignature("Vonage JWT payload_hash does not match the body")
        if not isinstance(claims.get("iat"), int | float):
            raise base.InvalidSignature("Vonage JWT without iat")
        # The signed header and claims (jti and payload_hash among them), not the signature:
        # base64url has more than one spelling of the same signature bytes.
        return base.Proof((f"{header_b64}.{claims_b64}",), float(claims["iat"]))

    def records(self, inbound: base.Inbound) -> list[dict[str, str]]:
        return [self.params(inbound)]

    def to_report(self, record: dict[str, str]) -> base.StatusReport:
        status = record.get("status")
        message_id = base.clean_id(record.get("messageId") or record.get("message_uuid"))
        if not status or not message_id:
            raise base.Unusable("Vonage receipt without messageId/status")
        code = record.get("err-code")
        return self.message_status(
            message_id,
            status,
            ext_message_id=base.clean_id(record.get("client-ref") or record.get("client_ref")),
            detail=f"err-code {code}" if code and code.isdigit() and code != "0" else None,
        )


class VonageStops:
    """``GET`` or ``POST /webhooks/vonage/inbound``.  Only a whole text message counts: a
    binary one, or one part of a concatenated message, is never a STOP on its own.  The
    ``msisdn`` is international without ``+``; the vault is given it in E.164."""

    name: ClassVar[str] = "vonage"
    answer: ClassVar[Answer] = Answer()

    def __init__(self, vonage: Vonage) -> None:
        self.vonage = vonage

    async def read(self, inbound: base.Inbound) -> Stop | None:
        proof = await self.vonage.signature(inbound)
        check_window(proof.signed_at, VONAGE_INBOUND_WINDOW_S)
        message = self.vonage.params(inbound)
        if "msisdn" not in message:
            raise base.Unusable("a Vonage inbound message names its msisdn")
        if message.get("type", "text") not in TEXT_TYPES or message.get("concat") == "true":
            return None
        msisdn = message.get("msisdn", "").strip().removeprefix("+")
        if not is_stop_word(message.get("text")) or not (msisdn.isascii() and msisdn.isdigit()):
            return None
        return Stop(Channel.SMS, "+" + msisdn)
