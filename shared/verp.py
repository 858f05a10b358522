"""VERP envelope senders: ``b-<message>-<tag>@BLINDPOST_BOUNCE_DOMAIN``.

Every campaign mail's envelope sender (Return-Path) names its message, so a bounce or a
feedback report that comes back to it says which message it is about without us parsing the
original mail (which a DSN may not quote).  The local part holds the ``ext_message_id``
(16 bytes) and a keyed tag (HMAC-SHA256, truncated to 10 bytes), both base32: 45 characters,
case-insensitive (MTAs may fold the case), well under SMTP's 64.  It names no player and no
address; without the key nobody can make one up, so the bounce receiver refuses at RCPT
anything it did not mint.  Rotation: addresses made with a previous key stay valid while it
is listed (``BLINDPOST_BOUNCE_PREVIOUS_KEYS``).
"""

from __future__ import annotations

import base64
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import CsvList, EnvSettings, SettingsError

PREFIX = "b-"
_TAG_BYTES = 10
_CONTEXT = b"blindpost-verp:v1:"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


@dataclass(frozen=True)
class Verp:
    domain: str
    key: bytes
    previous_keys: Sequence[bytes] = ()

    def _tag(self, key: bytes, mid: uuid.UUID) -> str:
        return _b32(hmac.digest(key, _CONTEXT + mid.bytes, "sha256")[:_TAG_BYTES])

    def address(self, ext_message_id: uuid.UUID) -> str:
        tag = self._tag(self.key, ext_message_id)
        return f"{PREFIX}{_b32(ext_message_id.bytes)}-{tag}@{self.domain}"

    def message_of(self, address: str) -> uuid.UUID | None:
        """The message an address names, or None when we did not mint it (wrong domain,
        wrong shape, or a tag that does not verify under any of our keys)."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain.lower():
            return None
        local = local.lower()
        # ASCII only (an SMTPUTF8 client may send anything; compare_digest refuses non-ASCII).
        if not local.isascii() or not local.startswith(PREFIX) or len(local) != 45:
            return None
        encoded, dash, tag = local[len(PREFIX) :].partition("-")
        if not dash or len(encoded) != 26 or len(tag) != 16:
            return None
        try:
            mid = uuid.UUID(bytes=_unb32(encoded))
        except ValueError:
            return None
        for key in (self.key, *self.previous_keys):
            if hmac.compare_digest(tag, self._tag(key, mid)):
                return mid
        return None


class BounceAddresses(EnvSettings):
    """``BLINDPOST_BOUNCE_*``: read the same way by the e-mail dispatcher (which mints the
    addresses) and the bounce receiver (which checks them).  Without a domain and a secret
    the dispatcher keeps the From address as the envelope sender."""

    model_config = SettingsConfigDict(env_prefix="BLINDPOST_BOUNCE_")
    domain: str | None = None
    key: SecretStr | None = None  # the HMAC key of the tags
    # Rotation: addresses minted with these earlier keys are still accepted.
    previous_keys: CsvList = Field(default_factory=list, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.domain and self.key and self.key.get_secret_value())

    def verp(self) -> Verp | None:
        if not self.configured:
            return None
        return Verp(
            str(self.domain),
            self.secret("key").encode(),
            tuple(k.encode() for k in self.previous_keys if k),
        )

    def require(self) -> Verp:
        verp = self.verp()
        if verp is None:
            raise SettingsError(
                "BLINDPOST_BOUNCE_DOMAIN and BLINDPOST_BOUNCE_KEY are required "
                "for the bounce receiver"
            )
        return verp
