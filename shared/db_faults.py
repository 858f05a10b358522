"""What a database failure means for the work in hand, one answer for every stage:

- :func:`transient`: PostgreSQL is away for now (restarting, crashed, full of connections,
  unreachable) or the work lost a race (a deadlock, a serialization failure, a timeout).
  The same work is waited out and tried again, never a process exit.
- :func:`refused_record`: PostgreSQL refused the record's data (a NUL in a text, a value too
  long, a number out of range, a constraint).  The same record would fail the same way for
  ever, and wedge the partition behind it: the stage dead-letters it and goes on.
- anything else (a missing table, a privilege, a full disk, a bug of ours) would fail every
  record alike: it is neither retried nor dead-lettered, the stage stops loudly."""

from __future__ import annotations

import asyncpg

DATABASE_AWAY: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError (a command timeout) is one too
    asyncpg.PostgresConnectionError,  # class 08: the connection was lost or refused
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, a standby
    asyncpg.AdminShutdownError,  # 57P01: stopped under the session
    asyncpg.CrashShutdownError,  # 57P02: another backend crashed, every session is reset
    asyncpg.TooManyConnectionsError,  # 53300: full for now
)
LOST_A_RACE = frozenset(
    {
        "40001",  # serialization failure
        "40P01",  # deadlock detected
        "55P03",  # lock not available (lock_timeout)
        "57014",  # query canceled (statement_timeout)
    }
)
# SQLSTATE classes saying the schema, the server or our code is not as expected, whatever
# the record: 0A feature not supported, 25 transaction state, 26/34 statement or cursor
# name, 2D transaction termination, 3D/3F no such database or schema, 42 undefined object,
# privilege or syntax, 53 resources (disk full, out of memory), 58 I/O, F0 configuration,
# XX internal.
NOT_THE_RECORD = ("0A", "25", "26", "2D", "34", "3D", "3F", "42", "53", "58", "F0", "XX")


def database_away(exc: BaseException) -> bool:
    """True when ``exc`` says the database is away.  asyncpg reports a connection lost
    under a transaction as an ``InterfaceError`` ("the underlying connection is closed")
    raised while leaving the transaction, with the loss itself as its context: either
    counts.  Other interface errors (a connection used after its release, two operations
    at once) are programming errors."""
    if isinstance(exc, DATABASE_AWAY):
        return True
    if not isinstance(exc, asyncpg.InterfaceError):
        return False
    if "connection is closed" in str(exc):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and isinstance(cause, DATABASE_AWAY)


def transient(exc: BaseException) -> bool:
    """Worth trying the same work again: the database away, or a race lost."""
    if database_away(exc):
        return True
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in LOST_A_RACE


def refused_record(exc: BaseException) -> bool:
    """The database refused the data it was given, not the work: asyncpg could not encode
    an argument (its ``DataError`` is an ``InterfaceError`` and a ``ValueError``: an int
    beyond bigint), or PostgreSQL refused a value (classes 21, 22, 23, 54, a trigger's
    exception, ...)."""
    if isinstance(exc, asyncpg.InterfaceError):
        return isinstance(exc, ValueError)
    if not isinstance(exc, asyncpg.PostgresError) or transient(exc):
        return False
    return not (exc.sqlstate or "XX").startswith(NOT_THE_RECORD)
