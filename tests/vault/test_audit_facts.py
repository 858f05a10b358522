"""The audit facts the relay publishes (services/vault/audit_facts.py): the fact kept from the
append that hashed a row is the very fact the table makes of it, carries what the row's
facts say with its seq and hash, and digests as `audit verify` expects."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from services.vault.audit import GENESIS, AuditEntry, Decision, StoredRow, fact_digest, hashed
from services.vault.audit import published as published_fact
from services.vault.audit_anchors import content_digest
from services.vault.audit_facts import KeptFacts, fact_key, fact_of

ENTRIES = [
    AuditEntry(
        caller="dispatch-email",
        scope="content",
        decision=Decision.READ,
        request_id='req-ü"1',  # escaped alike whichever way the JSON is made
        at=datetime(2026, 11, 28, 20, 0, 1, 123456, tzinfo=UTC),
        purpose="content-render",
        ext_user_id="player-1",
        fields=("content_key",),
        peer="127.0.0.1",
    ),
    AuditEntry(
        caller="resolver",
        scope="resolver",
        decision=Decision.NOT_FOUND,
        request_id="req-2",
        at=datetime(2026, 11, 28, 20, 0, 2, tzinfo=UTC),
        ext_message_id=uuid.uuid4(),
        detail="email",
    ),
]


def test_a_kept_fact_is_the_fact_the_table_makes_of_its_row() -> None:
    previous = GENESIS
    for seq, entry in enumerate(ENTRIES, start=1):
        row_hash, text = hashed(previous, seq, entry)
        kept = (fact_key(entry), published_fact(text, row_hash))
        row = StoredRow(seq, entry, previous, row_hash)
        assert kept == fact_of(row)

        fact = json.loads(kept[1])
        assert fact == {"seq": seq, **entry.facts(), "row_hash": row_hash.hex()}
        assert fact_digest(fact) == content_digest(row)
        previous = row_hash
    assert fact_key(ENTRIES[0]) == b"player-1"
    assert fact_key(ENTRIES[1]) == str(ENTRIES[1].ext_message_id).encode()


def test_kept_facts_are_taken_once_and_the_oldest_go_past_the_limit() -> None:
    kept = KeptFacts(limit=2)
    for n in range(3):
        kept.keep(bytes([n]), (b"k", bytes([n])))
    assert kept.take(bytes([0])) is None  # evicted: the relay makes it from the table
    assert kept.take(bytes([1])) == (b"k", b"\x01")
    assert kept.take(bytes([1])) is None
