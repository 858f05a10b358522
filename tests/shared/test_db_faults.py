"""Which database failures a stage waits out, which are a record's to dead-letter, and which
stop it (``shared.db_faults``), row by row; and that ``retry_until_done`` waits out the
transient ones whatever its stage lists while a programming error still stops it."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db_faults import database_away, refused_record, transient
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


# A race lost: the same work succeeds when tried again.
RACES = [
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
]
# The record's data: it would fail the same way for ever.
REFUSED = [
    asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
    asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    asyncpg.StringDataRightTruncationError("value too long for type character varying(8)"),
    asyncpg.NumericValueOutOfRangeError("numeric field overflow"),
    asyncpg.ProgramLimitExceededError("index row size exceeds btree maximum"),
    asyncpg.CheckViolationError("new row violates check constraint"),
    asyncpg.RaiseError("refused by a trigger"),
    asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
]
# Every record would fail alike: neither retried nor dead-lettered, the stage stops.
NEITHER = [e for e in NOT_AWAY if not isinstance(e, asyncpg.DataError)] + [
    asyncpg.DiskFullError("could not extend file"),
    asyncpg.InFailedSQLTransactionError("current transaction is aborted"),
]


@pytest.mark.parametrize("exc", AWAY + RACES, ids=lambda e: type(e).__name__)
def test_transient(exc: BaseException) -> None:
    assert transient(exc) and not refused_record(exc)


@pytest.mark.parametrize("exc", REFUSED, ids=lambda e: type(e).__name__)
def test_refused_for_the_record(exc: BaseException) -> None:
    assert refused_record(exc) and not transient(exc)


@pytest.mark.parametrize("exc", NEITHER, ids=lambda e: type(e).__name__)
def test_neither_retried_nor_the_record(exc: BaseException) -> None:
    assert not transient(exc) and not refused_record(exc)


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
