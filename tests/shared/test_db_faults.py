"""Which database failures a stage waits out (``shared.db_faults``), row by row, and that
``retry_until_done`` waits them out whatever its stage lists while a programming error
still stops it."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db_faults import database_away
from shared.kafka import Backoff, retry_until_done


def _raised_while_losing_the_connection() -> asyncpg.InterfaceError:
    """An interface error raised while the connection was being lost (its context), as
    asyncpg raises one leaving a transaction whose connection died under it."""
    try:
        try:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        except asyncpg.ConnectionDoesNotExistError:
            raise asyncpg.InterfaceError("cannot call Transaction.__aexit__()")  # noqa: B904 - the implicit context is the point
    except asyncpg.InterfaceError as exc:
        return exc


AWAY = [
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    _raised_while_losing_the_connection(),
]
NOT_AWAY = [
    asyncpg.UndefinedTableError('relation "nowhere" does not exist'),
    asyncpg.InsufficientPrivilegeError("permission denied"),
    asyncpg.DataError("value too long"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("exc", AWAY, ids=lambda e: type(e).__name__)
def test_the_database_away(exc: BaseException) -> None:
    assert database_away(exc)


@pytest.mark.parametrize("exc", NOT_AWAY, ids=lambda e: f"{type(e).__name__}")
def test_not_the_database_away(exc: BaseException) -> None:
    assert not database_away(exc)


async def test_a_stage_waits_out_the_database_away_but_stops_on_a_programming_error() -> None:
    failures: list[BaseException] = [
        asyncpg.CannotConnectNowError("starting up"),
        _raised_while_losing_the_connection(),
    ]

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    quick = Backoff(initial_s=0.001, maximum_s=0.001)
    assert await retry_until_done(attempt, stage="test", retry_on=(), backoff=quick) == "done"

    async def broken() -> None:
        raise asyncpg.UndefinedTableError('relation "nowhere" does not exist')

    with pytest.raises(asyncpg.UndefinedTableError):
        await retry_until_done(broken, stage="test", retry_on=(), backoff=quick)
