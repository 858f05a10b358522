"""Tamper evidence: an edited, deleted or reordered row is found by ``blindpost events
verify``, which names the first bad row; the table itself refuses edits and deletes."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.eventstore.verify import verify
from tests.eventstore.support import lifecycle, produce, running_projector, wait_for_events
from tests.support.processes import run_cli


@pytest.fixture
async def store(kafka_bootstrap, topics, events_dsn):
    """Three complete messages in the event store; yields (pool, the middle stream's id)."""
    messages = [lifecycle(f"t{n}") for n in range(3)]
    await produce(kafka_bootstrap, topics.message_events, [e for m in messages for e in m])
    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, sum(len(m) for m in messages))
        async with pool.acquire() as conn:
            assert (await verify(conn))[2] == []
        yield pool, messages[1][0].ext_message_id


async def _as_attacker(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    """Someone with the owner's rights, who switches the append-only trigger off first."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE events ENABLE TRIGGER USER")


async def _first_problem(conn: asyncpg.Connection):
    _streams, _rows, problems = await verify(conn)
    assert problems, "tampering went unnoticed"
    return problems[0]


async def test_the_table_refuses_edits_and_deletes(store):
    pool, stream = store
    async with pool.acquire() as conn:
        for sql in (
            "UPDATE events SET producer = 'x' WHERE stream_id = $1",
            "DELETE FROM events WHERE stream_id = $1",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(sql, stream)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("TRUNCATE events")


@pytest.mark.parametrize(
    ("sql", "version", "reason"),
    [
        (
            "UPDATE events SET payload = jsonb_set(payload, '{status}', '\"clicked\"') "
            "WHERE stream_id = $1 AND version = 9",
            9,
            "edited",
        ),
        (
            "UPDATE events SET content = jsonb_set(content, '{subject}', '\"Pay now\"') "
            "WHERE stream_id = $1 AND version = 1",
            1,
            "content",
        ),
        ("DELETE FROM events WHERE stream_id = $1 AND version = 4", 5, "missing"),
        ("DELETE FROM events WHERE stream_id = $1 AND version = 15", None, "head"),
    ],
    ids=["edited row", "edited body", "deleted row", "deleted last row"],
)
async def test_a_tampered_row_is_named(store, sql, version, reason):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(conn, sql, stream)
        problem = await _first_problem(conn)
    assert problem.stream_id == stream
    if version is not None:  # a cut tail is named by its stream's head, not a row
        assert problem.version == version
    assert reason in problem.reason


async def test_a_deleted_row_with_the_rest_renumbered_is_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(conn, "DELETE FROM events WHERE stream_id = $1 AND version = 4", stream)
        await _as_attacker(
            conn,
            "UPDATE events SET version = version - 1 WHERE stream_id = $1 AND version > 4",
            stream,
        )
        await conn.execute("UPDATE streams SET version = version - 1 WHERE stream_id = $1", stream)
        problem = await _first_problem(conn)
    assert (problem.stream_id, problem.version) == (stream, 4)
    assert "link" in problem.reason


async def test_reordered_rows_are_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        # Swap two rows' places in the stream (the provider statuses 9 and 13).
        for old, new in ((9, 1000), (13, 9), (1000, 13)):
            await _as_attacker(
                conn,
                "UPDATE events SET version = $3 WHERE stream_id = $1 AND version = $2",
                stream,
                old,
                new,
            )
        problem = await _first_problem(conn)
    assert (problem.stream_id, problem.version) == (stream, 9)


async def test_verify_command_exits_non_zero_and_names_the_row(store, events_dsn):
    pool, stream = store
    # The scratch database has the local role's password: accepted only in a local run.
    env = {"DATABASE_URL": events_dsn, "BLINDPOST_ENV": "local"}
    ok = run_cli(env, "events", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "every chain intact" in ok.stdout
    async with pool.acquire() as conn:
        await _as_attacker(conn, "DELETE FROM events WHERE stream_id = $1 AND version = 2", stream)
    bad = run_cli(env, "events", "verify", "--format", "json")
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert report["verified"] is False
    assert report["first_bad_row"]["stream_id"] == str(stream)
    assert report["first_bad_row"]["version"] == 3
