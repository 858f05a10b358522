"""``handle_or_refuse``: the one record the database refuses goes to the stage's dead-letter
path with our reason, every other record of its batch is handled; a failure that is not the
record's is left to the caller."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from shared.kafka import handle_or_refuse


def _records(count: int) -> list[ConsumerRecord]:
    return [
        ConsumerRecord("t", 0, offset, 0, 0, b"k", f"v{offset}".encode(), None, 1, 2, ())
        for offset in range(count)
    ]


async def test_the_refused_record_alone_is_dead_lettered_and_the_rest_handled() -> None:
    handled: list[int] = []
    refused: list[tuple[int, str]] = []

    async def handle(records: list[ConsumerRecord]) -> None:
        if any(r.value == b"v2" for r in records):
            raise asyncpg.CharacterNotInRepertoireError("0x00 in 'the record's text'")
        handled.extend(r.offset for r in records)

    async def refuse(record: ConsumerRecord, reason: str) -> None:
        refused.append((record.offset, reason))

    await handle_or_refuse(_records(5), handle=handle, refuse=refuse, stage="test")
    assert handled == [0, 1, 3, 4]
    assert refused == [(2, "refused by the database: CharacterNotInRepertoireError")]


@pytest.mark.parametrize(
    "exc",
    [asyncpg.AdminShutdownError("restarting"), asyncpg.UndefinedTableError("no table")],
    ids=lambda e: type(e).__name__,
)
async def test_a_failure_that_is_not_the_record_is_left_to_the_caller(exc: Exception) -> None:
    async def handle(records: list[ConsumerRecord]) -> None:
        raise exc

    async def refuse(record: ConsumerRecord, reason: str) -> None:
        raise AssertionError("nothing is the record's fault here")

    with pytest.raises(type(exc)):
        await handle_or_refuse(_records(3), handle=handle, refuse=refuse, stage="test")
