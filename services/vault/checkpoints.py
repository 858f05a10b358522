"""Signed checkpoints of the audit chain: (seq, head hash) signed with an Ed25519 key held
outside the database.  Whoever can rewrite every row and the head (a superuser, the owner)
cannot forge the signature, so a rewritten chain no longer matches the checkpoints stored
in the database and published to the audit topic."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.ed25519_keys import public_keys
from shared.settings import SettingsError

_CONTEXT = b"blindpost audit checkpoint v1\x00"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: bytes
    at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        """What the signature covers (the context string keeps it from meaning anything else)."""
        body = {"seq": self.seq, "head_hash": self.head_hash.hex(), "at": self.at.isoformat()}
        return _CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def facts(self) -> dict[str, object]:
        """As published on the audit topic (key ``AUDIT_CHECKPOINT_KEY``)."""
        return {
            "checkpoint": {
                "seq": self.seq,
                "head_hash": self.head_hash.hex(),
                "at": self.at.isoformat(),
                "key_id": self.key_id,
                "signature": _b64(self.signature),
            }
        }

    @classmethod
    def from_facts(cls, facts: dict[str, object]) -> Checkpoint:
        body = facts["checkpoint"]
        assert isinstance(body, dict)
        return cls(
            seq=int(body["seq"]),
            head_hash=bytes.fromhex(str(body["head_hash"])),
            at=datetime.fromisoformat(str(body["at"])),
            key_id=str(body["key_id"]),
            signature=_unb64(str(body["signature"])),
        )


class CheckpointSigner:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)

    @classmethod
    def from_setting(cls, text: str) -> CheckpointSigner:
        try:
            raw = _unb64(text.strip())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SettingsError(
                "BLINDPOST_VAULT_AUDIT_SIGNING_KEY: an Ed25519 private key, base64url of 32 bytes"
            )
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def sign(self, seq: int, head_hash: bytes, at: datetime) -> Checkpoint:
        unsigned = Checkpoint(seq, head_hash, at, self.key_id, b"")
        return Checkpoint(seq, head_hash, at, self.key_id, self._private.sign(unsigned.message()))

    def sign_bytes(self, message: bytes) -> bytes:
        """For other signed documents (the erasure report): their own context string keeps
        such a signature from ever passing for a checkpoint's."""
        return self._private.sign(message)

    def public_key_text(self) -> str:
        return _b64(self.public.public_bytes(Encoding.Raw, PublicFormat.Raw))


class CheckpointKeys:
    """The public keys a verifier trusts, by key id."""

    def __init__(self, keys: list[Ed25519PublicKey]) -> None:
        self._keys = {key_id_of(key): key for key in keys}

    @classmethod
    def parse(cls, texts: list[str]) -> CheckpointKeys:
        return cls(public_keys(texts, "BLINDPOST_VAULT_AUDIT_PUBLIC_KEYS"))

    def __bool__(self) -> bool:
        return bool(self._keys)

    def valid(self, checkpoint: Checkpoint) -> bool:
        return self.verifies(checkpoint.key_id, checkpoint.signature, checkpoint.message())

    def verifies(self, key_id: str, signature: bytes, message: bytes) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
