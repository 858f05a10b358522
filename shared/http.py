"""What every service's aiohttp app has: ``/healthz``, ``/readyz``, ``/metrics``, background
tasks that are cancelled and awaited on shutdown, and graceful shutdown on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

ReadinessCheck = Callable[[], Awaitable[Any]]
READINESS_CHECKS = web.AppKey("readiness_checks", dict[str, ReadinessCheck])
SERVICE_NAME = web.AppKey("service_name", str)
CHECK_TIMEOUT_S = 2.0


def create_service_app(service: str, **app_kwargs: Any) -> web.Application:
    app = web.Application(**app_kwargs)
    app[SERVICE_NAME] = service
    app[READINESS_CHECKS] = {}
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


def add_readiness_check(app: web.Application, name: str, check: ReadinessCheck) -> None:
    app[READINESS_CHECKS][name] = check


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def _readyz(request: web.Request) -> web.Response:
    results = await asyncio.gather(
        *(_run_check(check) for check in request.app[READINESS_CHECKS].values())
    )
    checks = dict(zip(request.app[READINESS_CHECKS].keys(), results, strict=True))
    ready = all(result == "ok" for result in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        return "ok"
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # noqa: BLE001 - report the class, the message may hold a DSN
        return type(exc).__name__


async def _metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


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
    app: web.Application, name: str, work: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``work`` for the app's lifetime.  If it dies, the process shuts down (so that the
    orchestrator restarts it) instead of serving as if healthy."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        task: asyncio.Task[None] = asyncio.create_task(work(), name=name)
        task.add_done_callback(_stop_process_if_crashed)
        yield
        task.remove_done_callback(_stop_process_if_crashed)
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


def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests and run the cleanups.
    Every service is socket-bound (HTTP, Kafka, PostgreSQL): uvloop where installed."""
    _use_uvloop()
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=10)


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional, absent on some platforms
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
