"""The HTTP side of a callback: one keep-alive connection pool whose only resolver is the
SSRF guard's pinned one, a concurrency limit per host, no redirects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from services.callback_relay.domain import Outcome, judge_response
from services.callback_relay.ssrf import CallbackGuard, CallbackRefused, PinnedResolver


@dataclass(frozen=True)
class Answer:
    outcome: Outcome | str  # delivered, retry, refused
    http_status: int | None = None
    error_code: int | None = None
    error: str | None = None


class CallbackSender:
    def __init__(
        self,
        guard: CallbackGuard,
        *,
        timeout_s: float,
        total_connections: int,
        per_host: int,
    ) -> None:
        self.guard = guard
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.total_connections = total_connections
        self.per_host = per_host
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=PinnedResolver(self.guard),
            use_dns_cache=False,  # every connect asks the pinned resolver
            limit=self.total_connections,
            limit_per_host=self.per_host,  # the per-host concurrency limit
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, auto_decompress=True, trust_env=False
        )

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def call(self, base_url: str, with_query: Callable[[URL], URL]) -> Answer:
        """GET ``with_query(validated URL)``; the query is added after validation and
        cannot change the host."""
        assert self._session is not None, "start() first"
        try:
            target = await self.guard.check(base_url)
        except CallbackRefused as exc:
            return Answer("refused", error=str(exc))
        try:
            async with self._session.get(
                with_query(target.url).with_fragment(None),
                allow_redirects=False,
                headers={"Accept": "application/json", "User-Agent": "blindpost-callback-relay"},
            ) as response:
                body = await response.content.read(65536)
                outcome, error_code = judge_response(response.status, body)
                error = None if outcome == "delivered" else f"http {response.status}"
                if outcome != "delivered" and error_code not in (None, 0):
                    error = f"http {response.status}, error_code {error_code}"
                return Answer(outcome, response.status, error_code, error)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The class only: aiohttp's message for a failed request names the URL (api_key).
            return Answer("retry", error=type(exc).__name__)
