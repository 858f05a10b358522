"""A service process's life: its resources (one per cleanup context), its background work,
and a graceful shutdown.

On SIGTERM aiohttp stops listening and runs ``on_shutdown``: :class:`Shutdown` is then
requested, readiness turns false, and every draining background task (the consume loops,
the callback deliverer, the sweeper) finishes the unit of work in hand, commits its
position and returns, while aiohttp finishes the requests in flight.  Whatever has not
finished when the shutdown timeout has passed is cancelled, which is no worse than a crash
(every stage is crash-safe); the timeout is set well under the orchestrator's grace period,
so the process exits 0 on its own.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


@dataclass
class Shutdown:
    timeout_s: float
    requested: asyncio.Event = field(default_factory=asyncio.Event)
    _deadline: float | None = None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self.timeout_s
            log.info("shutting down: finishing the work in hand", timeout_s=self.timeout_s)
        self.requested.set()

    def remaining_s(self) -> float:
        if self._deadline is None:
            return self.timeout_s
        return max(0.0, self._deadline - asyncio.get_running_loop().time())


SHUTDOWN = web.AppKey("shutdown", Shutdown)


def install_shutdown(app: web.Application, timeout_s: float) -> None:
    app[SHUTDOWN] = Shutdown(timeout_s)

    async def begin(app: web.Application) -> None:
        app[SHUTDOWN].begin()

    app.on_shutdown.append(begin)


def stopping(app: web.Application) -> asyncio.Event:
    """Set once the process was asked to stop: draining loops check it between units of work."""
    return app[SHUTDOWN].requested


def provide(
    app: web.Application,
    key: web.AppKey[T],
    open_resource: Callable[[], AbstractAsyncContextManager[T]],
) -> None:
    """One resource per cleanup context, stored under its typed key for the app's
    lifetime.  ``open_resource`` runs at start-up, after the resources provided before it
    (so it may use them); if it fails, only those already started are closed, in reverse."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_resource() as resource:
            app[key] = resource
            yield

    app.cleanup_ctx.append(ctx)


def run_background(
    app: web.Application,
    name: str,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    drains: bool = False,
) -> None:
    """Run ``work`` for the app's lifetime.  If it dies, the process shuts down (so that the
    orchestrator restarts it) instead of serving as if healthy.

    At shutdown, work that ``drains`` (it returns by itself once :func:`stopping` is set) is
    given until the shutdown deadline; other work is cancelled at once.  Either way it ends
    before the resources provided before it close."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task: asyncio.Task[None] = asyncio.create_task(work(), name=name)
        task.add_done_callback(_stop_process_if_crashed)
        yield
        task.remove_done_callback(_stop_process_if_crashed)
        if drains:
            shutdown = app[SHUTDOWN]
            shutdown.begin()
            await asyncio.wait({task}, timeout=shutdown.remaining_s())
            if not task.done():
                log.warning("background work did not finish in time; cancelling", task=name)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001
            log.error("background task failed while stopping", task=name, error=type(exc).__name__)

    app.cleanup_ctx.append(ctx)


def _stop_process_if_crashed(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    log.critical(
        "background task crashed; shutting down",
        task=task.get_name(),
        error=repr(exc)[:300],
        exc_info=exc,
    )
    signal.raise_signal(signal.SIGTERM)
