"""Where faust may commit: between two records, with every table write of the records
before it delivered into the transaction it commits, and none of the records after it.

faust 0.15 hands table writes to its transactional producers from a buffer, one by one,
in a task of its own that yields to the event loop before each (its producer lookup
sleeps), and commits from another task whenever its timer fires.  A record's writes
(the ``messages`` state, then its ``hourly`` and ``daily`` counts) could therefore
straddle a commit: the message state committed, its counts left to the next transaction,
which a SIGKILL aborts.  Read again after the restart, the record then found its kind
already counted in the message state and counted nothing: a count lost for good (the
SIGKILL test's ``open`` 8 -> 7, issue #14).  faust's own flush before a commit gives up
after 0.1 s without a send, and it commits offsets whose writes failed.

So the agent processes each record holding ``CommitBarrier.record()``, and a commit
takes the same lock, waits until every buffered write is delivered (a failed one stops
the process: its record is read again after the restart), and only then lets faust
compute the offsets and commit them with the writes: a transaction holds whole records,
exactly those of its offsets.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer
from faust.types.transports import TPorTopicSet
from faust.types.tuples import FutureMessage


class UndeliveredWrite(RuntimeError):
    """A table write was not delivered: committing would lose it."""


class CommitBarrier:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._between_records = asyncio.Lock()
        self._undelivered: set[asyncio.Future[Any]] = set()
        self._failed = False

    def record(self) -> asyncio.Lock:
        """Held by the agent from reading a record to its last table write."""
        return self._between_records

    def install(self, app: faust.App) -> None:
        buffer = app.producer.buffer
        put = buffer.put

        def tracked(fut: FutureMessage) -> None:
            self._undelivered.add(fut)
            fut.add_done_callback(self._on_done)
            put(fut)

        buffer.put = tracked  # type: ignore[method-assign]
        consumer = cast(Consumer, app.consumer)
        force_commit = consumer.force_commit

        async def between_records(
            topics: TPorTopicSet | None = None, start_new_transaction: bool = True
        ) -> bool:
            async with self._between_records:
                await self._delivered()
                return await force_commit(topics, start_new_transaction=start_new_transaction)

        consumer.force_commit = between_records

    def _on_done(self, fut: asyncio.Future[Any]) -> None:
        self._undelivered.discard(fut)
        if fut.cancelled() or fut.exception() is not None:
            self._failed = True

    async def _delivered(self) -> None:
        """Every write buffered so far (no record writes more while the lock is held)."""
        if self._undelivered:
            _done, late = await asyncio.wait(set(self._undelivered), timeout=self.timeout_s)
            if late:
                raise UndeliveredWrite(f"{len(late)} writes undelivered after {self.timeout_s} s")
        if self._failed:
            raise UndeliveredWrite("a table write failed: its record is read again at the restart")
