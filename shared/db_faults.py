"""Which database failures mean "PostgreSQL is away for now" (restarting, crashed, full of
connections, unreachable): the work in hand is waited out and tried again, never a process
exit.  Anything else from the database (a missing table, a refused value, a privilege) is
ours or the operator's to fix, and still fails loudly."""

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
