"""A subject's stored form: applying a validated change to it (the one place that decides when
a subject gets a new data key and how ciphertexts and blind-index digests follow a change),
opening its ciphertexts, and the facts it publishes.  Used by the API and bulk import alike."""

from __future__ import annotations

from dataclasses import dataclass

from services.vault.access import now
from services.vault.audit_store import ChainPoint
from services.vault.crypto import BlindIndex, IntegrityError, Keyring, SubjectCipher, new_dek
from services.vault.domain import (
    UNSET,
    ContactField,
    SubjectChange,
    blind_index_input,
    channels_with_address,
)
from services.vault.repository import StoredSubject
from shared.domain import Channel
from shared.subject_facts import SubjectFacts


@dataclass
class AppliedChange:
    subject: StoredSubject
    new_key: tuple[str, bytes] | None
    digests: dict[ContactField, bytes | None]


def apply_change(
    current: StoredSubject | None, change: SubjectChange, keyring: Keyring, blind_index: BlindIndex
) -> AppliedChange:
    new_key = None
    if current is None or current.erased:
        # A new subject, or one written again after erasure: a fresh data key, and a new
        # key version so nothing sealed under the shredded key could ever be mistaken for it.
        key_version = current.key_version + 1 if current else 1
        dek = new_dek()
        wrapped = keyring.wrap(dek, change.ext_user_id, key_version)
        new_key = (keyring.kek_id_of(wrapped), wrapped)
        subject = StoredSubject(
            change.ext_user_id,
            key_version,
            {},
            None,
            set(),
            set(),
            current.facts_version if current else 0,
            None,
            new_key[1],
        )
    else:
        subject = current
        assert subject.wrapped_key is not None
        dek = keyring.unwrap(subject.wrapped_key, subject.ext_user_id, subject.key_version)
    cipher = SubjectCipher(dek, subject.ext_user_id, subject.key_version)
    digests: dict[ContactField, bytes | None] = {}
    for field, value in change.contacts.items():
        if value is None:
            subject.ciphertexts.pop(field, None)
            digests[field] = None
        else:
            subject.ciphertexts[field] = cipher.encrypt(field.value, value)
            digests[field] = blind_index.digest(blind_index_input(field, value))
    if change.locale is not UNSET:
        subject.locale = change.locale  # type: ignore[assignment]
    if change.opted_out is not None:
        subject.opted_out = {c.value for c in change.opted_out}
    subject.channels = {
        c.value for c in channels_with_address(dict.fromkeys(subject.ciphertexts, "x"))
    }
    subject.facts_version += 1
    return AppliedChange(subject, new_key, digests)


def subject_cipher(keyring: Keyring, subject: StoredSubject) -> SubjectCipher:
    """The cipher that opens this subject's ciphertexts (its data key, unwrapped)."""
    if subject.wrapped_key is None:
        raise IntegrityError("subject has no data key")
    dek = keyring.unwrap(subject.wrapped_key, subject.ext_user_id, subject.key_version)
    return SubjectCipher(dek, subject.ext_user_id, subject.key_version)


def facts_of(subject: StoredSubject, recorded_by: ChainPoint | None = None) -> SubjectFacts:
    """``recorded_by``: the audit row that recorded the change, carried along."""
    return SubjectFacts(
        ext_user_id=subject.ext_user_id,
        channels=frozenset(Channel(c) for c in subject.channels),
        opted_out=frozenset(Channel(c) for c in subject.opted_out),
        suppressed=frozenset(Channel(c) for c in subject.suppressed),
        updated_at=now(),
        version=subject.facts_version,
        audit_seq=recorded_by.seq if recorded_by else None,
        audit_hash=recorded_by.hash.hex() if recorded_by else None,
    )
