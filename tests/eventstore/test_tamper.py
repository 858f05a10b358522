"""Tamper evidence: an edited, deleted or reordered row is found by ``blindpost events
verify``, which names the first bad row; the table itself refuses edits and deletes."""

from __future__ import annotations

import json
import subprocess
import sys

import asyncpg
import pytest

from services.eventstore.verify import verify
from tests.conftest import ROOT
from tests.eventstore.support import lifecycle, produce, running_projector, wait_for_events


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


async def test_an_edited_row_is_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(
            conn,
            "UPDATE events SET payload = jsonb_set(payload, '{status}', '\"clicked\"') "
            "WHERE stream_id = $1 AND version = 9",
            stream,
        )
        problem = await _first_problem(conn)
    assert (problem.stream_id, problem.version) == (stream, 9)
    assert "edited" in problem.reason


async def test_an_edited_body_is_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(
            conn,
            "UPDATE events SET content = jsonb_set(content, '{subject}', '\"Pay now\"') "
            "WHERE stream_id = $1 AND version = 1",
            stream,
        )
        problem = await _first_problem(conn)
    assert (problem.stream_id, problem.version) == (stream, 1)
    assert "content" in problem.reason


async def test_a_deleted_row_is_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(conn, "DELETE FROM events WHERE stream_id = $1 AND version = 4", stream)
        problem = await _first_problem(conn)
    assert (problem.stream_id, problem.version) == (stream, 5)
    assert "missing" in problem.reason


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


async def test_a_deleted_last_row_is_named(store):
    pool, stream = store
    async with pool.acquire() as conn:
        await _as_attacker(conn, "DELETE FROM events WHERE stream_id = $1 AND version = 15", stream)
        problem = await _first_problem(conn)
    assert problem.stream_id == stream
    assert "head" in problem.reason


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
    env = {"DATABASE_URL": events_dsn, "PATH": "", "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "services.cli", "events", "verify"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "every chain intact" in ok.stdout
    async with pool.acquire() as conn:
        await _as_attacker(conn, "DELETE FROM events WHERE stream_id = $1 AND version = 2", stream)
    bad = subprocess.run(
        [sys.executable, "-m", "services.cli", "events", "verify", "--format", "json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert report["verified"] is False
    assert report["first_bad_row"]["stream_id"] == str(stream)
    assert report["first_bad_row"]["version"] == 3
