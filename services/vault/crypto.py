"""Envelope encryption for the vault (AES-256-GCM from ``cryptography``).

Each subject has its own data key (DEK).  The DEK is stored only wrapped by a key-encryption
key (KEK): a configured one, or the current KEK epoch (services/vault/kek_epochs.py).
Erasing a subject deletes its wrapped DEK, which makes every ciphertext of that subject
unreadable (crypto-shredding); in backups taken before, once the epochs that wrapped it
are destroyed.

Formats (all versioned, so that keys and algorithms can change without a flag day):

* wrapped DEK: ``0x01 | len(kek id) | kek id | nonce(12) | AES-GCM(KEK, DEK)``, associated
  data ``blindpost-vault-dek:v1:<ext_user_id>:<dek version>:<kek id>``;
* field value: ``0x01 | dek version (4 bytes) | nonce(12) | AES-GCM(DEK, value)``, associated
  data ``blindpost-vault-field:v1:<ext_user_id>:<field>:<dek version>``: a ciphertext moved to
  another subject or another field does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 1
NONCE_BYTES = 12


class KeyMaterialError(Exception):
    """Key material is missing or malformed (configuration problem)."""


class IntegrityError(Exception):
    """A ciphertext does not open: tampered, moved to another subject/field, or its key is
    gone.  The message never contains the ciphertext or a key."""


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EpochKeys(Protocol):
    """Where KEK epochs come from (services/vault/kek_epochs.py)."""

    def keys(self) -> dict[str, bytes]: ...
    def current(self) -> str | None: ...
    def key(self, kek_id: str) -> bytes | None: ...
    def why_missing(self, kek_id: str) -> str | None: ...


class Keyring:
    """The configured KEKs by id, and the one new DEKs are wrapped with.  With KEK epochs,
    their keys join the configured ones and the current epoch wraps new DEKs; the configured
    KEKs then only open what was wrapped before the first epoch (until rotated away)."""

    def __init__(
        self, keks: dict[str, bytes], active_id: str, epochs: EpochKeys | None = None
    ) -> None:
        self._static = keks
        self._static_active = active_id
        self.epochs = epochs

    @property
    def keks(self) -> dict[str, bytes]:
        return {**self._static, **(self.epochs.keys() if self.epochs else {})}

    @property
    def active_id(self) -> str:
        current = self.epochs.current() if self.epochs else None
        return current or self._static_active

    @classmethod
    def parse(cls, specs: list[str], active_id: str, epochs: EpochKeys | None = None) -> Keyring:
        keks: dict[str, bytes] = {}
        for spec in specs:
            kek_id, _, encoded = spec.partition(":")
            try:
                raw = _b64d(encoded.strip())
            except (ValueError, TypeError):
                raw = b""
            if not kek_id or len(raw) != 32:
                raise KeyMaterialError("each KEK is '<id>:<base64url of 32 bytes>'")
            if kek_id.strip().startswith("epoch-"):
                raise KeyMaterialError("KEK ids starting with 'epoch-' name KEK epochs")
            keks[kek_id.strip()] = raw
        if active_id not in keks:
            raise KeyMaterialError("the active KEK id is not among the configured KEKs")
        return cls(keks, active_id, epochs)

    def _kek(self, kek_id: str) -> bytes:
        kek = self._static.get(kek_id)
        if kek is None and self.epochs is not None:
            kek = self.epochs.key(kek_id)
        if kek is None:
            why = self.epochs.why_missing(kek_id) if self.epochs else None
            raise IntegrityError(
                f"data key wrapped by KEK {kek_id!r}, which {why or 'is not configured'}"
            )
        return kek

    def wrap(self, dek: bytes, ext_user_id: str, dek_version: int) -> bytes:
        kek_id = self.active_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._kek(kek_id)).encrypt(
            nonce, dek, _dek_aad(ext_user_id, dek_version, kek_id)
        )
        encoded_id = kek_id.encode()
        return bytes([FORMAT, len(encoded_id)]) + encoded_id + nonce + sealed

    def unwrap(self, wrapped: bytes, ext_user_id: str, dek_version: int) -> bytes:
        kek_id, nonce, sealed = self._split(wrapped)
        kek = self._kek(kek_id)
        try:
            return AESGCM(kek).decrypt(nonce, sealed, _dek_aad(ext_user_id, dek_version, kek_id))
        except InvalidTag:
            raise IntegrityError("data key does not open: tampered or moved") from None

    def kek_id_of(self, wrapped: bytes) -> str:
        return self._split(wrapped)[0]

    def rewrap(self, wrapped: bytes, ext_user_id: str, dek_version: int) -> bytes:
        """The same DEK wrapped by the active KEK: the data it protects is not touched."""
        return self.wrap(self.unwrap(wrapped, ext_user_id, dek_version), ext_user_id, dek_version)

    @staticmethod
    def _split(wrapped: bytes) -> tuple[str, bytes, bytes]:
        if len(wrapped) < 2 or wrapped[0] != FORMAT:
            raise IntegrityError("unknown wrapped data key format")
        id_length = wrapped[1]
        kek_id = wrapped[2 : 2 + id_length].decode(errors="replace")
        rest = wrapped[2 + id_length :]
        return kek_id, rest[:NONCE_BYTES], rest[NONCE_BYTES:]


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class SubjectCipher:
    """Encrypts and decrypts one subject's fields with its DEK."""

    def __init__(self, dek: bytes, ext_user_id: str, dek_version: int) -> None:
        self._aead = AESGCM(dek)
        self.ext_user_id = ext_user_id
        self.dek_version = dek_version

    def encrypt(self, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        header = bytes([FORMAT]) + struct.pack(">I", self.dek_version)
        sealed = self._aead.encrypt(nonce, value.encode(), self._aad(field, self.dek_version))
        return header + nonce + sealed

    def decrypt(self, field: str, ciphertext: bytes) -> str:
        if len(ciphertext) < 5 + NONCE_BYTES or ciphertext[0] != FORMAT:
            raise IntegrityError(f"{field}: unknown ciphertext format")
        (version,) = struct.unpack(">I", ciphertext[1:5])
        nonce = ciphertext[5 : 5 + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(
                nonce, ciphertext[5 + NONCE_BYTES :], self._aad(field, version)
            )
        except InvalidTag:
            raise IntegrityError(f"{field}: ciphertext does not open (tampered or moved)") from None
        return plain.decode()

    def _aad(self, field: str, version: int) -> bytes:
        return f"blindpost-vault-field:v1:{self.ext_user_id}:{field}:{version}".encode()


def _dek_aad(ext_user_id: str, dek_version: int, kek_id: str) -> bytes:
    return f"blindpost-vault-dek:v1:{ext_user_id}:{dek_version}:{kek_id}".encode()


BUCKET_BYTES = 2
"""A blind-index entry keeps this much of the HMAC: a bucket that many addresses share (about
one in 65536), not a fingerprint.  Whoever reads the table can no longer tell which subjects
share an address; a lookup finds the bucket's subjects and keeps those whose stored address,
decrypted, is equal."""


class BlindIndex:
    """Keyed HMAC of a normalised address, truncated to a bucket, under a numbered key: the
    active version indexes new writes, earlier versions (until a re-index has moved every row)
    are still searched, so the key can change without a flag day."""

    def __init__(self, key: bytes, version: int = 1, previous: dict[int, bytes] | None = None):
        keys = {version: key, **(previous or {})}
        if any(len(k) < 32 for k in keys.values()):
            raise KeyMaterialError("each blind-index key must be at least 32 bytes")
        self.version = version
        self._keys = keys

    @classmethod
    def from_setting(
        cls, encoded: str, version: int = 1, previous: list[str] | None = None
    ) -> BlindIndex:
        try:
            older = {}
            for spec in previous or []:
                number, _, key = spec.partition(":")
                older[int(number)] = _b64d(key.strip())
            return cls(_b64d(encoded.strip()), version, older)
        except (ValueError, TypeError):
            raise KeyMaterialError(
                "the blind-index key is base64url of 32 bytes; earlier ones '<version>:<key>'"
            ) from None

    def digest(self, normalised: str) -> bytes:
        """The bucket under the active key (what a write stores)."""
        return self.bucket(self.version, normalised)

    def buckets(self, normalised: str) -> list[tuple[int, bytes]]:
        """(version, bucket) under every configured key (what a lookup searches)."""
        return [(version, self.bucket(version, normalised)) for version in sorted(self._keys)]

    def bucket(self, version: int, normalised: str) -> bytes:
        mac = hmac.new(self._keys[version], normalised.encode(), hashlib.sha256)
        return mac.digest()[:BUCKET_BYTES]
