"""Signed tokens for e-mail tracking and one-click unsubscribe.

The e-mail dispatcher writes them into the mail (open pixel, click redirects, the
List-Unsubscribe URL); status ingest verifies them.  A token is
``<base64url JSON claims>.<base64url HMAC-SHA256>``; claims carry no address.  A click
token carries the one URL it may redirect to, so no open redirect is possible.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["open", "click", "unsubscribe"]
PATHS: dict[str, str] = {"open": "/t/o/", "click": "/t/c/", "unsubscribe": "/u/"}


class InvalidToken(ValueError):
    pass


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TrackingTokens:
    secret: bytes
    base_url: str

    def sign(self, kind: Kind, ext_message_id: str, ext_user_id: str, **extra: Any) -> str:
        claims = {"k": kind, "m": ext_message_id, "u": ext_user_id, **extra}
        body = _b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64e(self._mac(body))}"

    def url(self, kind: Kind, ext_message_id: str, ext_user_id: str, **extra: Any) -> str:
        return (
            self.base_url.rstrip("/")
            + PATHS[kind]
            + self.sign(kind, ext_message_id, ext_user_id, **extra)
        )

    def verify(self, token: str, kind: Kind) -> dict[str, Any]:
        body, _, mac = token.partition(".")
        try:
            valid = hmac.compare_digest(_b64d(mac), self._mac(body))
            claims = json.loads(_b64d(body)) if valid else None
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("malformed token") from None
        if not isinstance(claims, dict) or claims.get("k") != kind:
            raise InvalidToken("token signature or kind does not match")
        return claims

    def _mac(self, body: str) -> bytes:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
