"""Sealing message content under a player's content key (shared/content_sealing.py): the
player's data leaves the event, opens again with the key for that message only, and a
changed byte, another message or another key is refused."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from shared.content_sealing import (
    SEALED_FIELDS,
    ContentKey,
    ContentSealingError,
    key_id_of,
    open_content,
    seal,
)
from shared.events import MessageContent
from shared.sealing import SealingError

KEY = ContentKey("k1", os.urandom(32))
MESSAGE = uuid.uuid4()
CONTENT = MessageContent(
    subject="Your bonus, Ana",
    body="<p>Ana, 50 free spins</p>",
    text_body="Ana, 50 free spins",
    from_email_address="Casino <news@casino.example>",
    extension={"title": "Ana's bonus"},
)


def test_sealed_content_keeps_only_the_sender_and_opens_again_for_its_message() -> None:
    sealed = seal(CONTENT, KEY, MESSAGE)
    assert all(getattr(sealed, name) is None for name in SEALED_FIELDS)
    assert sealed.from_email_address == CONTENT.from_email_address
    assert key_id_of(sealed) == "k1"
    wire = sealed.model_dump_json()
    # Each fragment holds a character base64url cannot, so random ciphertext never matches it.
    for secret in ("Your bonus", "<p>Ana", "50 free spins", "Ana's"):
        assert secret not in wire
    assert open_content(sealed, KEY, MESSAGE) == CONTENT


def test_a_changed_byte_is_refused() -> None:
    sealed = seal(CONTENT, KEY, MESSAGE)
    assert sealed.sealed is not None
    version, key_id, nonce, ciphertext = sealed.sealed.split(".")
    raw = bytearray(base64.urlsafe_b64decode(ciphertext + "=" * (-len(ciphertext) % 4)))
    raw[3] ^= 1
    changed = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    tampered = sealed.model_copy(update={"sealed": ".".join((version, key_id, nonce, changed))})
    with pytest.raises(ContentSealingError, match="tampered"):
        open_content(tampered, KEY, MESSAGE)


def test_content_copied_onto_another_message_does_not_open() -> None:
    with pytest.raises(ContentSealingError, match="another message"):
        open_content(seal(CONTENT, KEY, MESSAGE), KEY, uuid.uuid4())


def test_another_key_does_not_open_it() -> None:
    sealed = seal(CONTENT, KEY, MESSAGE)
    with pytest.raises(ContentSealingError, match="another content key"):
        open_content(sealed, ContentKey("k2", os.urandom(32)), MESSAGE)
    # The same id with other bytes (a key made again under a reused id) fails its tag.
    with pytest.raises(ContentSealingError):
        open_content(sealed, ContentKey("k1", os.urandom(32)), MESSAGE)


@pytest.mark.parametrize("token", ["", "c1", "c1.k1.x", "c2.k1.AAAA.AAAA", "c1.k1.!!.AAAA"])
def test_a_malformed_token_is_a_sealing_error_never_a_crash(token: str) -> None:
    broken = MessageContent(sealed=token)
    with pytest.raises(SealingError):
        key_id_of(broken)
        open_content(broken, KEY, MESSAGE)


def test_content_written_before_sealing_is_read_as_it_is() -> None:
    assert key_id_of(CONTENT) is None
    assert open_content(CONTENT, KEY, MESSAGE) is CONTENT


def test_a_key_is_never_shown() -> None:
    assert KEY.key.hex() not in repr(KEY)
    with pytest.raises(ContentSealingError):
        ContentKey("k1", b"short")
