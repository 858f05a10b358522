"""Sealing addresses for one dispatcher: X25519 + HKDF-SHA256 + AES-256-GCM (an ECIES box).

The resolver (and intake, for a preview's ``to_email_address``) holds only the public key
of each channel family; only that family's dispatcher holds the private key.  A token is
``v1.<key id>.<ephemeral public key>.<nonce>.<ciphertext>`` in URL-safe base64, and the
associated data binds it to one message (``shared.work.sealing_context``).

The resolver seals a whole fetch in one :class:`SealingSession`: one ephemeral key and one
key agreement for the batch (two X25519 operations per message were a quarter of its CPU),
each box with its own random nonce and its own message in the associated data.  Boxes of
one batch share the ephemeral key, which says only that they were resolved together (as
their offsets already do); the dispatcher then agrees a key once per batch too.
"""

from __future__ import annotations

import base64
import os
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SealingError(ValueError):
    """A token or key that cannot be used: malformed (base64, lengths), wrong key, wrong
    message, or tampered.  Every decoding error is one of these, so a dispatcher fails the one
    message instead of dying on a bare ``ValueError``."""


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        raise SealingError("sealed token or key is not URL-safe base64") from None


def _derive(shared_secret: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=b"blindpost-seal-v1"
    ).derive(shared_secret)


def _public_key(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SealingError("an X25519 public key is 32 bytes") from None


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SealingPublicKey:
    key_id: str
    key: X25519PublicKey

    @classmethod
    def parse(cls, spec: str) -> SealingPublicKey:
        """``<key id>:<base64 raw public key>``"""
        key_id, _, encoded = spec.partition(":")
        if not key_id or not encoded:
            raise SealingError("a sealing public key is '<key id>:<base64 key>'")
        return cls(key_id, _public_key(b64d(encoded)))

    def seal(self, plaintext: bytes, context: bytes) -> str:
        return self.session().seal(plaintext, context)

    def session(self) -> SealingSession:
        """A fresh ephemeral key for the boxes of one batch."""
        ephemeral = X25519PrivateKey.generate()
        ephemeral_raw = _raw_public(ephemeral.public_key())
        key = _derive(ephemeral.exchange(self.key), ephemeral_raw, _raw_public(self.key))
        return SealingSession(self.key_id, b64e(ephemeral_raw), AESGCM(key))


@dataclass(frozen=True)
class SealingSession:
    key_id: str
    ephemeral: str
    aead: AESGCM = field(repr=False)

    def seal(self, plaintext: bytes, context: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self.aead.encrypt(nonce, plaintext, context + self.key_id.encode())
        return ".".join((VERSION, self.key_id, self.ephemeral, b64e(nonce), b64e(ciphertext)))


# Keys agreed with recent batches' ephemeral keys, per dispatcher: a batch's boxes share one.
_AGREED_KEYS = 64


@dataclass(frozen=True)
class SealingKeyring:
    """A dispatcher's private keys by key id: several during a rotation."""

    keys: dict[str, X25519PrivateKey]
    _agreed: OrderedDict[tuple[str, str], AESGCM] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )

    @classmethod
    def parse(cls, specs: list[str]) -> SealingKeyring:
        keys = {}
        for spec in specs:
            key_id, _, encoded = spec.partition(":")
            if not key_id or not encoded:
                raise SealingError("a sealing private key is '<key id>:<base64 key>'")
            try:
                keys[key_id] = X25519PrivateKey.from_private_bytes(b64d(encoded))
            except ValueError:
                raise SealingError(f"sealing private key {key_id!r} is not 32 bytes") from None
        return cls(keys)

    def open(self, token: str, context: bytes) -> bytes:
        try:
            version, key_id, ephemeral_b64, nonce_b64, ciphertext_b64 = token.split(".")
        except ValueError:
            raise SealingError("malformed sealed token") from None
        if version != VERSION:
            raise SealingError(f"unknown sealed token version {version!r}")
        aead = self._aead(key_id, ephemeral_b64)
        nonce, ciphertext = b64d(nonce_b64), b64d(ciphertext_b64)
        if len(nonce) != NONCE_BYTES:
            raise SealingError("sealed token has a nonce of the wrong length")
        try:
            return aead.decrypt(nonce, ciphertext, context + key_id.encode())
        except InvalidTag:
            raise SealingError(
                "sealed token does not open: tampered, or for another message"
            ) from None

    def _aead(self, key_id: str, ephemeral_b64: str) -> AESGCM:
        agreed = self._agreed.get((key_id, ephemeral_b64))
        if agreed is not None:
            return agreed
        private = self.keys.get(key_id)
        if private is None:
            raise SealingError(f"no private key with id {key_id!r} (was the key rotated out?)")
        ephemeral_raw = b64d(ephemeral_b64)
        try:
            shared = private.exchange(_public_key(ephemeral_raw))
        except ValueError:  # a low-order ephemeral key: the exchange yields all zeroes
            raise SealingError("sealed token carries an unusable ephemeral key") from None
        agreed = AESGCM(_derive(shared, ephemeral_raw, _raw_public(private.public_key())))
        self._agreed[(key_id, ephemeral_b64)] = agreed
        while len(self._agreed) > _AGREED_KEYS:
            self._agreed.popitem(last=False)
        return agreed


def generate_keypair(key_id: str) -> tuple[str, str]:
    """(private spec, public spec) for configuration."""
    private = X25519PrivateKey.generate()
    private_raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return f"{key_id}:{b64e(private_raw)}", f"{key_id}:{b64e(_raw_public(private.public_key()))}"
