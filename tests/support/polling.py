"""Waiting for something another task or process does: one helper, one failure message."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    within: float,
    what: str,
    interval: float = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    within: float,
    what: str,
    interval: float = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    within: float,
    what: str,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (),
    details: Callable[[], str] | None = None,
) -> Any:
    """Calls ``check`` (plain or async) until it returns something truthy; returns that.

    Exceptions in ``ignoring`` count as "not yet" (a server still starting). After
    ``within`` seconds it fails with ``what``, the last answer or error and ``details()``
    (say, a process's log tail), so a failing test says what it was waiting for.
    """
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
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"waited {within:g} s for {what}; last: {last!r}{extra}")
        await asyncio.sleep(interval)
