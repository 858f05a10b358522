"""Sealed tokens for e-mail tracking and one-click unsubscribe.

The e-mail dispatcher writes them into the mail (open pixel, click redirects, the
List-Unsubscribe URL); status ingest opens them.  Links end up in proxy logs, mail scanners
and forwarded mails, so a token says nothing to whoever reads it: the claims (message id,
``ext_user_id``, a click's destination URL, when it was issued) are AES-256-GCM sealed.

A token is ``base64url(0x02 | key id (4) | nonce (12) | AES-GCM(key, claims))``, with the
version, key id and link kind as associated data (an open token is no click token).  The key
is derived from the tracking secret and its id names it, so a rotation keeps earlier links
working while the old secret is listed among ``previous``.  Open and click tokens expire
(``ttl_s``, 90 days by default); unsubscribe tokens do not, as RFC 8058 expects of a
List-Unsubscribe URL in a mail that may be read months later.

Tokens minted before sealing (``<base64url JSON>.<base64url HMAC>``, readable claims) are
still accepted, so links in mails already sent keep working; none is minted any more.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

Kind = Literal["open", "click", "unsubscribe"]
PATHS: dict[str, str] = {"open": "/t/o/", "click": "/t/c/", "unsubscribe": "/u/"}
VERSION = 2
KEY_ID_BYTES = 4
NONCE_BYTES = 12
DEFAULT_TTL_S = 90 * 24 * 3600.0
NEVER_EXPIRE: frozenset[str] = frozenset({"unsubscribe"})
# json.dumps with separators builds an encoder per call: one, reused, writes the same text.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


class InvalidToken(ValueError):
    pass


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class _Key:
    key_id: bytes
    aead: AESGCM
    secret: bytes  # for tokens minted before sealing

    @classmethod
    def of(cls, secret: bytes) -> _Key:
        derived = HKDF(hashes.SHA256(), 32, salt=None, info=b"blindpost-tracking-aead-v2").derive(
            secret
        )
        key_id = hashlib.sha256(b"blindpost-tracking-key-id:" + derived).digest()[:KEY_ID_BYTES]
        return cls(key_id, AESGCM(derived), secret)


@dataclass(frozen=True)
class TrackingTokens:
    secret: bytes
    base_url: str
    previous: tuple[bytes, ...] = ()
    """Secrets rotated out whose links are still honoured."""
    ttl_s: float = DEFAULT_TTL_S
    """How long an open or click token is honoured after it was minted."""

    def sign(
        self,
        kind: Kind,
        ext_message_id: str,
        ext_user_id: str,
        *,
        issued_at: float | None = None,
        **extra: Any,
    ) -> str:
        claims = {"m": ext_message_id, "u": ext_user_id, "i": int(issued_at or time.time())}
        key = self._keys()[0]
        header = bytes([VERSION]) + key.key_id
        nonce = os.urandom(NONCE_BYTES)
        plain = _COMPACT_JSON.encode({**claims, **extra}).encode()
        return _b64e(header + nonce + key.aead.encrypt(nonce, plain, header + kind.encode()))

    def url(self, kind: Kind, ext_message_id: str, ext_user_id: str, **extra: Any) -> str:
        return (
            self.base_url.rstrip("/")
            + PATHS[kind]
            + self.sign(kind, ext_message_id, ext_user_id, **extra)
        )

    def verify(self, token: str, kind: Kind) -> dict[str, Any]:
        claims = self._legacy(token, kind) if "." in token else self._open(token, kind)
        if not isinstance(claims, dict):
            raise InvalidToken("token claims malformed")
        issued = claims.get("i")
        if kind not in NEVER_EXPIRE and isinstance(issued, int | float):
            if time.time() - issued > self.ttl_s:
                raise InvalidToken("link expired")
        return claims

    def _keys(self) -> tuple[_Key, ...]:
        return self._derived_keys

    @functools.cached_property
    def _derived_keys(self) -> tuple[_Key, ...]:
        # Derived once: an HKDF per token cost the e-mail dispatcher about 5 % of its CPU.
        return tuple(_Key.of(secret) for secret in (self.secret, *self.previous))

    def _open(self, token: str, kind: Kind) -> Any:
        try:
            raw = _b64d(token)
        except ValueError:
            raise InvalidToken("malformed token") from None
        header, rest = raw[: 1 + KEY_ID_BYTES], raw[1 + KEY_ID_BYTES :]
        key = next((k for k in self._keys() if header == bytes([VERSION]) + k.key_id), None)
        if key is None or len(rest) <= NONCE_BYTES:
            raise InvalidToken("token of an unknown key or version")
        try:
            plain = key.aead.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + kind.encode())
            return json.loads(plain)
        except (InvalidTag, ValueError):
            raise InvalidToken("token does not open (altered, or another kind)") from None

    def _legacy(self, token: str, kind: Kind) -> Any:
        body, _, mac = token.partition(".")
        for key in self._keys():
            expected = hmac.new(key.secret, body.encode(), hashlib.sha256).digest()
            try:
                if not hmac.compare_digest(_b64d(mac), expected):
                    continue
                claims = json.loads(_b64d(body))
            except (ValueError, UnicodeDecodeError):
                raise InvalidToken("malformed token") from None
            if isinstance(claims, dict) and claims.get("k") == kind:
                return claims
        raise InvalidToken("token signature or kind does not match")
