"""Envelope encryption without I/O: round trips, tampering, values moved to another subject
or field, KEK rotation, and the blind index."""

from __future__ import annotations

import base64
import os

import pytest

from services.vault.crypto import (
    BlindIndex,
    IntegrityError,
    KeyMaterialError,
    Keyring,
    SubjectCipher,
    new_dek,
)


def kek_spec(kek_id: str) -> str:
    return f"{kek_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"


K1, K2 = kek_spec("k1"), kek_spec("k2")


def test_a_value_round_trips_and_the_ciphertext_does_not_contain_it():
    keyring = Keyring.parse([K1], "k1")
    dek = new_dek()
    wrapped = keyring.wrap(dek, "u1", 1)
    cipher = SubjectCipher(keyring.unwrap(wrapped, "u1", 1), "u1", 1)
    ciphertext = cipher.encrypt("email", "ada@example.org")
    assert b"ada" not in ciphertext and b"example" not in ciphertext
    assert cipher.decrypt("email", ciphertext) == "ada@example.org"
    # Two encryptions of one value differ (random nonces): equal addresses are not visible.
    assert cipher.encrypt("email", "ada@example.org") != ciphertext


def test_a_tampered_ciphertext_or_data_key_does_not_open():
    keyring = Keyring.parse([K1], "k1")
    dek = new_dek()
    cipher = SubjectCipher(dek, "u1", 1)
    ciphertext = bytearray(cipher.encrypt("phone", "+35799123456"))
    ciphertext[-1] ^= 1
    with pytest.raises(IntegrityError):
        cipher.decrypt("phone", bytes(ciphertext))
    wrapped = bytearray(keyring.wrap(dek, "u1", 1))
    wrapped[-5] ^= 1
    with pytest.raises(IntegrityError):
        keyring.unwrap(bytes(wrapped), "u1", 1)


def test_a_value_moved_to_another_subject_or_field_does_not_open():
    dek = new_dek()
    ciphertext = SubjectCipher(dek, "u1", 1).encrypt("email", "ada@example.org")
    with pytest.raises(IntegrityError):
        SubjectCipher(dek, "u2", 1).decrypt("email", ciphertext)  # even with the same key
    with pytest.raises(IntegrityError):
        SubjectCipher(dek, "u1", 1).decrypt("phone", ciphertext)
    keyring = Keyring.parse([K1], "k1")
    with pytest.raises(IntegrityError):
        keyring.unwrap(keyring.wrap(dek, "u1", 1), "u2", 1)


def test_rotation_rewraps_the_same_data_key_under_the_new_kek():
    old = Keyring.parse([K1], "k1")
    both = Keyring.parse([K1, K2], "k2")
    new_only = Keyring.parse([K2], "k2")
    dek = new_dek()
    wrapped = old.wrap(dek, "u1", 3)
    rewrapped = both.rewrap(wrapped, "u1", 3)
    assert both.kek_id_of(rewrapped) == "k2"
    assert new_only.unwrap(rewrapped, "u1", 3) == dek
    with pytest.raises(IntegrityError, match="not configured"):
        new_only.unwrap(wrapped, "u1", 3)


def test_key_material_is_checked_and_never_echoed():
    with pytest.raises(KeyMaterialError) as error:
        Keyring.parse(["k1:c2hvcnQ"], "k1")
    assert "c2hvcnQ" not in str(error.value)
    with pytest.raises(KeyMaterialError):
        Keyring.parse([K1], "k9")


def test_blind_index_is_deterministic_per_key_and_reveals_nothing_without_it():
    first = BlindIndex(os.urandom(32))
    second = BlindIndex(os.urandom(32))
    assert first.digest("email:ada@example.org") == first.digest("email:ada@example.org")
    assert first.digest("email:ada@example.org") != second.digest("email:ada@example.org")
    assert b"ada" not in first.digest("email:ada@example.org")
