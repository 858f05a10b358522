"""One POST to the vault's API, as every client of it makes it (the resolver's contact reads,
the content-key reads): its JSON answer, or the caller's "unavailable" error naming only the
HTTP status or the error's type, never a body (it may quote what was asked)."""

from __future__ import annotations

from typing import Any

import aiohttp


async def vault_answer(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    unavailable: type[Exception],
) -> Any:
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if response.status != 200:
                raise unavailable(f"vault answered HTTP {response.status}")
            return await response.json()
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise unavailable(f"vault unreachable: {type(exc).__name__}") from None
