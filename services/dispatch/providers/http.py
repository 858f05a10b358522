"""What the HTTP provider adapters share: one keep-alive session, and answers classed."""

from __future__ import annotations

from typing import Any

import aiohttp

from services.dispatch.outcomes import http_failure


def new_session(limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        # Provider answers are read by us only; their text is never passed on.
        raise_for_status=False,
    )


class HttpProvider:
    """The base of every HTTP adapter: a session with ``concurrency`` connections, closed
    with the adapter."""

    def __init__(self, concurrency: int) -> None:
        self.session = new_session(concurrency)

    async def close(self) -> None:
        await self.session.close()


async def json_answer(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON body of a 2xx answer, or the classed failure."""
    if response.status >= 300:
        await response.read()
        raise http_failure(response.status)
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    # Accepted but unreadable: it was taken, so it counts as sent (without an id).
    return body if isinstance(body, dict) else {}
