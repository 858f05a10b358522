"""Group commit: calls that arrive while a transaction is running wait and share the next
one.  Audit appends are ordered by one lock (the hash chain's head), so one transaction per
call would cap reads at one commit each; sharing commits lifts that without weakening
anything: each call's rows are still committed before it gets its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """``max_in_flight`` groups may run at once: their commits still queue on the chain's
    lock, but what follows a commit (the SIEM facts' acknowledgement) overlaps."""

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[list[Result]]],
        max_items: int = 64,
        max_in_flight: int = 1,
    ) -> None:
        self._run = run
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._workers: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if len(self._workers) < self._max_in_flight:
            worker = asyncio.create_task(self._drain())
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return await future

    async def _drain(self) -> None:
        while self._queue:
            group = self._queue[: self._max_items]
            del self._queue[: self._max_items]
            try:
                results = await self._run([item for item, _ in group])
            except BaseException as exc:  # every caller of the group gets the failure
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)
