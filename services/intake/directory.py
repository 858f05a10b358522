"""The subject directory: a table of non-PII subject facts in the event-store database,
read by primary key per request (through a small bounded TTL cache) and kept current by
:mod:`services.intake.consumer`, which reads the vault's compacted subject-facts topic.

``opted_out`` holds every channel intake answers 5 for: the player's opt-outs and the
channels the vault's suppression list names (a hard bounce, a complaint, a STOP), which
``suppressed`` holds apart too.

Nothing here holds all subjects in memory: the table is the directory, the cache only
remembers the most recently asked-for few, for a couple of seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import asyncpg

from services.intake.subjects import Subject
from shared.logging import get_logger

log = get_logger(__name__)


_LOOKUP = (
    "SELECT ext_user_id, channels, opted_out, suppressed FROM intake_directory"
    " WHERE ext_user_id = ANY($1::text[])"
)


class Directory:
    """Lookups by ``ext_user_id``, each answered by a primary-key read.

    Lookups that arrive together share one query (``= ANY($1)``, still index reads, never a
    scan): under load one round trip answers dozens of requests, and at most
    ``max_queries`` run at once.  A cached answer is at most ``ttl_s`` old; the vault's
    facts reach the table with Kafka's delay anyway, so a couple of seconds adds little.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl_s: float,
        max_entries: int,
        timeout_s: float = 1.5,
        max_queries: int = 4,
    ) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._timeout_s = timeout_s
        self._max_queries = max_queries
        self._cache: OrderedDict[str, tuple[float, Subject | None]] = OrderedDict()
        self._waiting: dict[str, list[asyncio.Future[Subject | None]]] = {}
        self._queries = 0
        self._flush_scheduled = False
        self._running: set[asyncio.Task[None]] = set()  # strong references until done

    async def lookup(self, ext_user_id: str) -> Subject | None:
        if self._ttl_s > 0:
            hit = self._cache.get(ext_user_id)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Subject | None] = loop.create_future()
        self._waiting.setdefault(ext_user_id, []).append(answer)
        if not self._flush_scheduled:
            # Next turn of the loop: every lookup made in this one joins the same query.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await answer

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._waiting and self._queries < self._max_queries:
            batch, self._waiting = self._waiting, {}
            self._queries += 1
            task = asyncio.ensure_future(self._query(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _query(self, batch: dict[str, list[asyncio.Future[Subject | None]]]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                rows = await self._pool.fetch(_LOOKUP, list(batch))
        except Exception as exc:  # noqa: BLE001 - every waiter gets the failure (error 6)
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # a waiter that gave up never reads it
        else:
            found = {
                row[0]: Subject(frozenset(row[1]), frozenset(row[2]), frozenset(row[3]))
                for row in rows
            }
            for user, futures in batch.items():
                subject = found.get(user)
                if self._ttl_s > 0 and self._max_entries > 0:
                    self._remember(user, subject)
                for future in futures:
                    if not future.done():
                        future.set_result(subject)
        finally:
            self._queries -= 1
            if self._waiting and not self._flush_scheduled:
                self._flush()

    def _remember(self, ext_user_id: str, subject: Subject | None) -> None:
        self._cache[ext_user_id] = (time.monotonic() + self._ttl_s, subject)
        self._cache.move_to_end(ext_user_id)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
