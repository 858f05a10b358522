"""Subject facts cross a rolling upgrade both ways: an intake older than the vault reads
facts with a field it does not know, and a newer intake reads facts without the newest one."""

from datetime import UTC, datetime

from shared.domain import Channel
from shared.subject_facts import SubjectFacts


def test_a_field_from_a_newer_vault_is_ignored_not_refused():
    raw = (
        b'{"ext_user_id": "p-1", "channels": ["email"], "updated_at": "2026-11-28T10:00:00Z",'
        b' "version": 3, "reputation": {"score": 7}}'
    )
    facts = SubjectFacts.from_bytes(raw)
    assert facts.channels == {Channel.EMAIL}
    assert facts.version == 3


def test_facts_of_an_older_vault_have_no_suppressions():
    older = b'{"ext_user_id": "p-1", "channels": ["email"], "updated_at": "2026-11-28T10:00:00Z"}'
    assert SubjectFacts.from_bytes(older).suppressed == frozenset()


def test_what_is_written_reads_back_the_same():
    facts = SubjectFacts(
        ext_user_id="p-2",
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        suppressed=frozenset({Channel.EMAIL}),
        updated_at=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert SubjectFacts.from_bytes(facts.to_bytes()) == facts
