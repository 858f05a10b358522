"""Waiting for something another task or process does: one helper, one failure message."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict, TypeVar, Unpack, overload

T = TypeVar("T")


class Options(TypedDict, total=False):
    interval: float
    """Seconds between two checks (0.1)."""
    ignoring: tuple[type[BaseException], ...]
    """Exceptions that count as "not yet", such as a server still starting."""
    details: Callable[[], str]
    """Called on failure only: more to say, such as a process's log tail."""


@overload
async def eventually(
    check: Callable[[], Awaitable[T]], *, within: float, what: str, **options: Unpack[Options]
) -> T: ...
@overload
async def eventually(
    check: Callable[[], T], *, within: float, what: str, **options: Unpack[Options]
) -> T: ...


async def eventually(
    check: Callable[[], Any], *, within: float, what: str, **options: Unpack[Options]
) -> Any:
    """Calls ``check`` (plain or async) until it returns something truthy; returns that.

    After ``within`` seconds it fails with ``what``, the last answer or error and
    ``details()``, so a failing test says what it was waiting for.
    """
    interval = options.get("interval", 0.1)
    ignoring = options.get("ignoring", ())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            last: object = result
        except ignoring as exc:
            last = exc
        else:
            if result:
                return result
        if loop.time() >= deadline:
            details = options.get("details")
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"waited {within:g} s for {what}; last: {last!r}{extra}")
        await asyncio.sleep(interval)
