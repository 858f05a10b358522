from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from shared.sealing import generate_keypair
from tests.dispatch.support import Served


@pytest.fixture
def keypair() -> tuple[str, str]:
    """(private spec, public spec), fresh per test."""
    return generate_keypair("test-key-1")


@pytest.fixture
def dispatch_env(
    base_env: dict[str, str], events_dsn: str, keypair: tuple[str, str]
) -> dict[str, str]:
    private, _public = keypair
    env = dict(base_env)
    env.update(
        {
            "DATABASE_URL": events_dsn,
            "BLINDPOST_SEAL_PRIVATE_KEYS_EMAIL": private,
            "BLINDPOST_SEAL_PRIVATE_KEYS_SMS": private,
            "BLINDPOST_SEAL_PRIVATE_KEYS_CIM": private,
            "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "3",
            "BLINDPOST_DISPATCH_INLINE_BACKOFF_S": "0.05",
            "BLINDPOST_DISPATCH_PARK_INITIAL_S": "0.5",
            "BLINDPOST_DISPATCH_PARK_MAX_S": "2",
            "BLINDPOST_DISPATCH_SWEEP_INTERVAL_S": "0.2",
            "BLINDPOST_DISPATCH_LEASE_SLACK_S": "1",
            "BLINDPOST_METRICS_LAG_INTERVAL_S": "1",
        }
    )
    return env


@pytest.fixture
def serve_app() -> Callable[[web.Application], AsyncIterator[Served]]:
    @asynccontextmanager
    async def serve(app: web.Application) -> AsyncIterator[Served]:
        async with Served(app) as served:
            yield served

    return serve  # type: ignore[return-value]
