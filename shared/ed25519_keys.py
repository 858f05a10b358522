"""Ed25519 public keys as settings give them: base64url of their 32 bytes, several at once
(a key being replaced and its successor), each known by a short id derived from it."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.env_settings import SettingsError


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_keys(texts: list[str], variable: str) -> list[Ed25519PublicKey]:
    """The keys of a setting; an error names the variable and the key's place, not its text."""
    keys = []
    for number, text in enumerate(texts, 1):
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(unb64(text.strip())))
        except (binascii.Error, ValueError):
            raise SettingsError(
                f"{variable}: key {number} is not an Ed25519 public key (base64url of 32 bytes)"
            ) from None
    return keys
