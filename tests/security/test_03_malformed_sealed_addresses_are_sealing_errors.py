"""Item 3 of #16: a malformed sealed address is a :class:`SealingError` (which the
dispatcher turns into a failed message with the reason ``recipient_unsealable``), never a bare
``ValueError`` that escapes the delivery and takes the consumer task down."""

from __future__ import annotations

import uuid

import pytest

from shared.domain import Channel
from shared.sealing import SealingError, SealingKeyring, SealingPublicKey, generate_keypair
from shared.work import sealing_context

PRIVATE, PUBLIC = generate_keypair("k1")
CONTEXT = sealing_context(uuid.uuid4(), Channel.EMAIL)


def _good_token() -> list[str]:
    return SealingPublicKey.parse(PUBLIC).seal(b"player@example.test", CONTEXT).split(".")


def _with(index: int, value: str) -> str:
    parts = _good_token()
    parts[index] = value
    return ".".join(parts)


MALFORMED = {
    "ephemeral key not base64": _with(2, "!!!not-base64!!!"),
    "ephemeral key too short": _with(2, "AAAA"),
    "ephemeral key of low order": _with(2, "A" * 43),  # 32 zero bytes
    "nonce not base64": _with(3, "@@@@"),
    "nonce of the wrong length": _with(3, "AAAAAAAA"),
    "empty nonce": _with(3, ""),
    "ciphertext not base64": _with(4, "a" * 5),  # one character too many for base64
    "too few parts": "v1.k1.abc",
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_every_malformed_token_is_a_sealing_error(token: str) -> None:
    keyring = SealingKeyring.parse([PRIVATE])
    with pytest.raises(SealingError) as raised:
        keyring.open(token, CONTEXT)
    assert type(raised.value) is SealingError
    assert raised.value.__cause__ is None  # nothing of the token chained along


def test_malformed_configured_keys_are_sealing_errors() -> None:
    with pytest.raises(SealingError):
        SealingPublicKey.parse("k1:AAAA")
    with pytest.raises(SealingError):
        SealingKeyring.parse(["k1:%%%%"])
    with pytest.raises(SealingError):
        SealingKeyring.parse(["k1:AAAA"])


def test_a_good_token_still_opens() -> None:
    keyring = SealingKeyring.parse([PRIVATE])
    assert keyring.open(".".join(_good_token()), CONTEXT) == b"player@example.test"
