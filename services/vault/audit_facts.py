"""The audit facts the relay publishes to Kafka (``services/vault/audit_relay.py``): each a
record key and its JSON, made from a committed row of the audit table.

The append that hashes a row has its canonical JSON in hand, so it keeps the fact it makes
(:data:`KEPT`) and the relay takes it by the row's hash instead of reading the whole row back,
decoding it and encoding it again (twice the JSON work of every audited access).  Taking by
hash is exact: the hash covers the row's ``seq``, every published field and the row before,
so a fact kept under the hash a committed row stores is that row's fact, whichever
transaction, process or database kept it.  A row whose fact was not kept here (written by
another replica, an operator's command, before a restart, or evicted) is read in full and
its fact made from the table, the same bytes."""

from __future__ import annotations

from collections import OrderedDict

from services.vault.audit import AuditEntry, StoredRow, canonical_text, published

# (key, value) of one record on the audit topic.
Fact = tuple[bytes, bytes]


def fact_key(entry: AuditEntry) -> bytes:
    # By message where there is one (the audit join), else by subject, else by itself.
    key = entry.ext_message_id or entry.ext_user_id or entry.audit_id
    return str(key).encode()


def fact_of(row: StoredRow) -> Fact:
    return fact_key(row.entry), published(canonical_text(row.seq, row.entry), row.row_hash)


class KeptFacts:
    """Facts by row hash, until the relay takes them; the oldest go past ``limit`` (a row
    whose transaction rolled back is never taken)."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._facts: OrderedDict[bytes, Fact] = OrderedDict()

    def keep(self, row_hash: bytes, fact: Fact) -> None:
        self._facts[row_hash] = fact
        if len(self._facts) > self.limit:
            self._facts.popitem(last=False)

    def take(self, row_hash: bytes) -> Fact | None:
        return self._facts.pop(row_hash, None)


KEPT = KeptFacts()
