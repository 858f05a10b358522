"""Resolution tickets: intake's signed word that it accepted this message for this player on
this channel, valid until a time.  The vault gives the resolver an address only against one,
so a resolver token alone cannot walk the player base (issue 17).

Ed25519, not a shared HMAC key: intake holds the private key and the vault only public
keys, so neither the vault nor anyone who reads its configuration can mint a ticket.  The
signature covers (message id, ext_user_id, channel, expiry) and the vault checks it against
the values of the request it comes with, so a ticket does not open another player, channel
or message.  Wire form: ``v1.<key id>.<expiry, unix seconds>.<signature, base64url>``: the
request names the player, the ticket carries no value of its own.
"""

from __future__ import annotations

import binascii
import json
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from shared.domain import Channel
from shared.ed25519_keys import b64, key_id_of, public_keys, raw_public, unb64
from shared.env_settings import SettingsError

VERSION = "v1"
_CONTEXT = b"blindpost resolution ticket v1\x00"
MAX_TICKET_CHARS = 256


class TicketRefusal(StrEnum):
    """Why a ticket does not admit a read (our words: audited, and told to the resolver)."""

    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    # A forged ticket, or a genuine one presented for another player, channel or message.
    INVALID_SIGNATURE = "invalid_signature"
    EXPIRED = "expired"


@dataclass(frozen=True)
class TicketSubject:
    """What a ticket admits: one read, for one message, of one player's address on a channel."""

    ext_message_id: uuid.UUID
    ext_user_id: str
    channel: Channel

    def signed(self, expires: int) -> bytes:
        claims = [str(self.ext_message_id), self.ext_user_id, self.channel.value, expires]
        return _CONTEXT + json.dumps(claims, separators=(",", ":")).encode()


class TicketSigner:
    """Intake's half: issues a ticket valid for ``ttl_s``."""

    def __init__(self, private: Ed25519PrivateKey, ttl_s: float) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)
        self.ttl_s = ttl_s

    @classmethod
    def from_setting(cls, text: str, ttl_s: float, variable: str) -> TicketSigner:
        try:
            raw = unb64(text.strip())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SettingsError(f"{variable}: an Ed25519 private key, base64url of 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw), ttl_s)

    def issue(self, subject: TicketSubject, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl_s)
        signature = self._private.sign(subject.signed(expires))
        return f"{VERSION}.{self.key_id}.{expires}.{b64(signature)}"

    def public_key_text(self) -> str:
        return b64(raw_public(self.public))


class TicketVerifier:
    """The vault's half: the public keys it accepts (several while intake's key changes)."""

    def __init__(self, keys: list[Ed25519PublicKey]) -> None:
        self._keys = {key_id_of(key): key for key in keys}

    @classmethod
    def parse(cls, texts: list[str], variable: str) -> TicketVerifier:
        if not texts:
            raise SettingsError(
                f"{variable}: required, the public key(s) of intake's ticket signing key"
            )
        return cls(public_keys(texts, variable))

    def refusal(
        self, ticket: str | None, subject: TicketSubject, now: float | None = None
    ) -> TicketRefusal | None:
        """None when ``ticket`` admits reading ``subject``; else why not."""
        if not ticket:
            return TicketRefusal.MISSING
        parts = ticket.split(".")
        if len(ticket) > MAX_TICKET_CHARS or len(parts) != 4 or parts[0] != VERSION:
            return TicketRefusal.MALFORMED
        _, key_id, expiry, signature = parts
        try:
            expires, raw = int(expiry), unb64(signature)
        except (binascii.Error, ValueError):
            return TicketRefusal.MALFORMED
        key = self._keys.get(key_id)
        if key is None:
            return TicketRefusal.UNKNOWN_KEY
        try:
            key.verify(raw, subject.signed(expires))
        except InvalidSignature:
            return TicketRefusal.INVALID_SIGNATURE
        # Checked after the signature: a forged expiry is a forgery, not a late read.
        if expires <= (time.time() if now is None else now):
            return TicketRefusal.EXPIRED
        return None


def generate_keypair() -> tuple[str, str]:
    """(intake's private key, the vault's public key), as their settings take them."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return b64(raw), b64(raw_public(private.public_key()))
