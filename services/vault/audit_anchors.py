"""Checking the chain against what lives outside the database, with no I/O: the signed
checkpoints (stored and published) and the facts published to Kafka (each with its seq and
row hash; subject facts carry the hash of the row that recorded their change).  Whoever
rewrites a row and recomputes every later hash and the head passes the chain check; these
name the row they rewrote."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.vault.audit import Break, ChainVerifier, StoredRow, Verdict, canonical
from services.vault.checkpoints import Checkpoint, CheckpointKeys


def content_digest(row: StoredRow) -> bytes:
    """As :func:`fact_digest` of the row's published fact."""
    return hashlib.sha256(canonical(row.seq, row.entry)).digest()


@dataclass
class Witnesses:
    """What was published, by seq: an audit fact's content digest and row hash, the row
    hash a subject fact carries, and every checkpoint found (stored or published)."""

    facts: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    subject_marks: dict[int, bytes] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    conflicts: list[Break] = field(default_factory=list)

    def add_fact(self, seq: int, digest: bytes, row_hash: bytes) -> None:
        known = self.facts.setdefault(seq, (digest, row_hash))
        if known != (digest, row_hash):
            # Published at least once: a repeat must say the same.
            self.conflicts.append(Break(seq, None, "published twice with different content"))


class AnchoredVerifier:
    def __init__(
        self,
        keys: CheckpointKeys,
        witnesses: Witnesses,
        anchor_seq: int,
        anchor_hash: bytes,
    ) -> None:
        self.chain = ChainVerifier(anchor_seq, anchor_hash)
        self.witnesses = witnesses
        self.signed: dict[int, bytes] = {}
        self.last_good_checkpoint = 0
        self.recomputed = 0
        # Without a public key checkpoints cannot be told from forgeries: only the chain
        # and the published facts are checked.
        checkpoints = witnesses.checkpoints if keys else []
        for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
            if keys.valid(checkpoint):
                self.signed[checkpoint.seq] = checkpoint.head_hash
            else:
                self._add(Break(checkpoint.seq, None, "a checkpoint's signature is not valid"))
        self.chain.breaks.extend(witnesses.conflicts)
        if keys and anchor_seq and self.signed.get(anchor_seq) != anchor_hash:
            self._add(
                Break(
                    anchor_seq,
                    None,
                    "the pruned log's starting point matches no signed checkpoint",
                )
            )

    def _add(self, found: Break) -> None:
        self.chain.breaks.append(found)

    def feed(self, row: StoredRow) -> None:
        before = len(self.chain.breaks)
        self.chain.feed(row)
        reasons = self._witness_reasons(row)
        if not reasons:
            return
        breaks = self.chain.breaks
        if len(breaks) > before and breaks[-1].seq == row.seq:
            reasons.insert(0, breaks.pop().reason)
        breaks.append(Break(row.seq, row.entry.audit_id, "; ".join(reasons)))

    def _witness_reasons(self, row: StoredRow) -> list[str]:
        reasons = []
        published = self.witnesses.facts.get(row.seq)
        if published is not None:
            digest, published_hash = published
            if digest != content_digest(row):
                reasons.append("differs from the fact published to Kafka (edited)")
            elif published_hash != row.row_hash:
                # Content as published, hash not: the chain was recomputed over an edit
                # further back.  Counted, not listed: it follows from that edit.
                self.recomputed += 1
        mark = self.witnesses.subject_marks.get(row.seq)
        if mark is not None and mark != row.row_hash:
            reasons.append("its hash differs from the one its subject's facts carry")
        signed = self.signed.get(row.seq)
        if signed is not None:
            if signed != row.row_hash:
                reasons.append(
                    "does not match the signed checkpoint at this seq (the chain was "
                    f"rewritten after seq={self.last_good_checkpoint})"
                )
            else:
                self.last_good_checkpoint = row.seq
        return reasons

    def finish(self, head_seq: int, head_hash: bytes) -> Verdict:
        beyond = [seq for seq in self.signed if seq > head_seq]
        beyond += [seq for seq in self.witnesses.facts if seq > head_seq]
        if beyond:
            self._add(
                Break(
                    None,
                    None,
                    f"rows up to seq={max(beyond)} were checkpointed or published, but the "
                    f"head is at seq={head_seq} (rows at the end were deleted)",
                )
            )
        if self.recomputed:
            self._add(
                Break(
                    None,
                    None,
                    f"{self.recomputed} rows hash differently from their published facts: "
                    "the chain was recomputed after an edit",
                )
            )
        return self.chain.finish(head_seq, head_hash)


def verify_anchored(
    rows: Iterable[StoredRow],
    keys: CheckpointKeys,
    witnesses: Witnesses,
    head: tuple[int, bytes],
    anchor: tuple[int, bytes] = (0, b"\x00" * 32),
) -> Verdict:
    verifier = AnchoredVerifier(keys, witnesses, *anchor)
    for row in rows:
        verifier.feed(row)
    return verifier.finish(*head)
