"""Signed checkpoints and the published facts, held against a chain with no database: a
chain rewritten from an edited row on follows from itself, but not from what was signed and
published before the edit."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.vault.audit import GENESIS, AuditEntry, Decision, StoredRow, chain_hash
from services.vault.audit_anchors import Witnesses, content_digest, verify_anchored
from services.vault.checkpoints import Checkpoint, CheckpointKeys, CheckpointSigner

AT = datetime(2026, 1, 1, tzinfo=UTC)
SIGNER = CheckpointSigner(Ed25519PrivateKey.generate())
KEYS = CheckpointKeys([SIGNER.public])


IDS = [uuid.uuid4() for _ in range(10)]


def chain(purposes: list[str]) -> list[StoredRow]:
    rows, previous = [], GENESIS
    for seq, purpose in enumerate(purposes, 1):
        entry = AuditEntry(
            "resolver", "resolver", Decision.READ, f"r{seq}", AT, purpose, audit_id=IDS[seq]
        )
        row_hash = chain_hash(previous, seq, entry)
        rows.append(StoredRow(seq, entry, previous, row_hash))
        previous = row_hash
    return rows


def published(rows: list[StoredRow], signed_at: int) -> Witnesses:
    witnesses = Witnesses()
    for row in rows:
        witnesses.add_fact(row.seq, content_digest(row), row.row_hash)
    row = rows[signed_at - 1]
    witnesses.checkpoints.append(SIGNER.sign(row.seq, row.row_hash, AT))
    return witnesses


def rewritten(rows: list[StoredRow], seq: int) -> list[StoredRow]:
    """Row ``seq`` edited and every hash recomputed."""
    purposes = [row.entry.purpose or "" for row in rows]
    purposes[seq - 1] = "marketing"
    return chain(purposes)


def test_an_intact_chain_agrees_with_what_was_published_and_signed():
    rows = chain(["dispatch"] * 6)
    verdict = verify_anchored(rows, KEYS, published(rows, 6), (6, rows[-1].row_hash))
    assert verdict.ok, verdict.describe()


def test_a_rewritten_chain_is_named_at_the_edited_row():
    rows = chain(["dispatch"] * 6)
    witnesses = published(rows, 6)
    forged = rewritten(rows, 3)
    verdict = verify_anchored(forged, KEYS, witnesses, (6, forged[-1].row_hash))
    assert verdict.first_bad_seq == 3
    assert "differs from the fact published to Kafka (edited)" in verdict.describe()
    assert "row seq=6" in verdict.describe() and "signed checkpoint" in verdict.describe()


def test_the_checkpoints_alone_catch_it_and_bound_it():
    rows = chain(["dispatch"] * 6)
    witnesses = Witnesses()
    witnesses.checkpoints += [
        SIGNER.sign(2, rows[1].row_hash, AT),
        SIGNER.sign(5, rows[4].row_hash, AT),
    ]
    forged = rewritten(rows, 4)
    verdict = verify_anchored(forged, KEYS, witnesses, (6, forged[-1].row_hash))
    assert verdict.first_bad_seq == 5
    assert "rewritten after seq=2" in verdict.describe()


def test_a_forged_checkpoint_is_a_break_and_proves_nothing():
    rows = chain(["dispatch"] * 3)
    forger = CheckpointSigner(Ed25519PrivateKey.generate())
    witnesses = Witnesses(checkpoints=[forger.sign(3, rows[-1].row_hash, AT)])
    verdict = verify_anchored(rows, KEYS, witnesses, (3, rows[-1].row_hash))
    assert "signature is not valid" in verdict.describe()


def test_a_checkpoint_survives_publication():
    checkpoint = SIGNER.sign(7, b"\x01" * 32, AT)
    assert Checkpoint.from_facts(checkpoint.facts()) == checkpoint
    assert KEYS.valid(Checkpoint.from_facts(checkpoint.facts()))
    assert not KEYS.valid(dataclasses.replace(checkpoint, seq=8))


def test_a_subject_fact_carrying_another_hash_is_a_break():
    rows = chain(["dispatch"] * 3)
    witnesses = Witnesses(subject_marks={2: b"\x02" * 32})
    verdict = verify_anchored(rows, KEYS, witnesses, (3, rows[-1].row_hash))
    assert verdict.first_bad_seq == 2
    assert "subject's facts" in verdict.describe()
