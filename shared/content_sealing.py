"""Sealing a message's content under its player's content key (AES-256-GCM), so that erasing
the player (the vault destroys the key) makes every copy unreadable at once: the topics, the
event store, the dispatch ledger and their backups.

Sealed: subject, body, text body and the custom IM's extension, as one JSON object in
``MessageContent.sealed``: ``c1.<key id>.<nonce>.<ciphertext>`` in URL-safe base64.  The
operator's sender fields are not the player's data and stay as they are.  The associated
data names the message and the key id, so a ciphertext copied onto another message does not
open.  Pure: the keys come from the vault (``shared.content_keys``).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.events import MessageContent
from shared.sealing import SealingError, b64d, b64e

VERSION = "c1"
NONCE_BYTES = 12
KEY_BYTES = 32
SEALED_FIELDS = ("subject", "body", "text_body", "extension")


class ContentSealingError(SealingError):
    """Sealed content that cannot be opened: malformed, tampered, for another message, or
    under another key than the one given."""


@dataclass(frozen=True)
class ContentKey:
    """One player's content key, as the vault hands it out."""

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES or not self.key_id or "." in self.key_id:
            raise ContentSealingError("a content key is 32 bytes with an id without dots")


def _associated_data(ext_message_id: uuid.UUID, key_id: str) -> bytes:
    return f"blindpost-content:{VERSION}:{ext_message_id}:{key_id}".encode()


def seal(content: MessageContent, key: ContentKey, ext_message_id: uuid.UUID) -> MessageContent:
    """``content`` with its player's data replaced by one sealed token."""
    secret = {name: getattr(content, name) for name in SEALED_FIELDS}
    plaintext = json.dumps(
        {name: value for name, value in secret.items() if value is not None},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.key).encrypt(
        nonce, plaintext, _associated_data(ext_message_id, key.key_id)
    )
    token = ".".join((VERSION, key.key_id, b64e(nonce), b64e(ciphertext)))
    return content.model_copy(update={**dict.fromkeys(SEALED_FIELDS), "sealed": token})


def key_id_of(content: MessageContent) -> str | None:
    """The content key a sealed content needs (None: not sealed, written before sealing)."""
    if content.sealed is None:
        return None
    version, key_id, *_rest = content.sealed.split(".") + ["", ""]
    if version != VERSION or not key_id:
        raise ContentSealingError("malformed sealed content")
    return key_id


def open_content(
    content: MessageContent, key: ContentKey, ext_message_id: uuid.UUID
) -> MessageContent:
    """The content in clear, as Smartico sent it.  Raises :class:`ContentSealingError`."""
    if content.sealed is None:
        return content
    try:
        version, key_id, nonce_b64, ciphertext_b64 = content.sealed.split(".")
    except ValueError:
        raise ContentSealingError("malformed sealed content") from None
    if version != VERSION:
        raise ContentSealingError(f"unknown sealed content version {version!r}")
    if key_id != key.key_id:
        raise ContentSealingError("sealed under another content key")
    nonce = b64d(nonce_b64)
    if len(nonce) != NONCE_BYTES:
        raise ContentSealingError("sealed content has a nonce of the wrong length")
    try:
        plaintext = AESGCM(key.key).decrypt(
            nonce, b64d(ciphertext_b64), _associated_data(ext_message_id, key_id)
        )
    except InvalidTag:
        raise ContentSealingError(
            "sealed content does not open: tampered, or for another message"
        ) from None
    secret = json.loads(plaintext)
    return content.model_copy(
        update={**{name: secret.get(name) for name in SEALED_FIELDS}, "sealed": None}
    )
