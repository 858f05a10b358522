"""Smartico's side of the soak: e-mails posted to intake at a steady rate (at most 64 in
flight, as Smartico sends), an SMTP server that counts what it receives by Message-ID, and
the end-to-end maximum measured with a short burst."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from email.parser import BytesHeaderParser
from typing import Any

import aiohttp

from shared.domain import ErrorCode
from tests.e2e.outside_world import OutsideWorld
from tests.support.smartico_stream import PLAYERS, RETRY_ON

IN_FLIGHT = 64
RETRIES = 5


class CountingSmtpHandler:
    """A real aiosmtpd handler that keeps only how often each message arrived (its
    Message-ID is ``<ext_message_id@domain>``): a 30-minute soak keeps no mail bodies."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.content)
        self.received[str(headers["Message-ID"]).strip("<>").split("@")[0]] += 1
        return "250 OK"


def called_back(world: OutsideWorld) -> set[str]:
    """Messages Smartico's stand-in heard ``accepted`` for (the one status an e-mail handed
    to an SMTP server reports)."""
    return {c["ext_message_id"] for c in world.callbacks if c["status"] == "accepted"}


class Smartico:
    """Posts e-mails to intake, retrying a uid on 6, 9 or a refused connection as a careful
    client does; counts what was accepted and what was refused."""

    def __init__(self, intake: str, secret: str, callback_url: str) -> None:
        self.intake = intake
        self.secret = secret
        self.callback_url = callback_url
        self.accepted: set[str] = set()
        self.refused: Counter[str] = Counter()  # the last answer of a uid given up on
        self.sent = 0
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, session: aiohttp.ClientSession, seconds: float, rate: float | None) -> None:
        """Posts for ``seconds``, ``rate`` a second (None: as fast as 64 in flight allow)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        due = loop.time()
        try:
            while loop.time() < end:
                await self._slots.acquire()
                self.sent += 1
                task = asyncio.create_task(self._post(session, self.sent))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if rate:
                    # Behind by more than a second (64 in flight): go on from now, no burst.
                    due = max(due + 1 / rate, loop.time() - 1)
                    await asyncio.sleep(max(0.0, due - loop.time()))
            if self._tasks:
                await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:  # interrupted: stop posting before the session closes
                task.cancel()

    async def _post(self, session: aiohttp.ClientSession, n: int) -> None:
        body = {
            "ext_user_id": f"graceful-{n % PLAYERS}",
            "from_email_address": "Casino <noreply@casino.example>",
            "subject": "Your weekly bonus",
            "body": "<p>Hi, your bonus is waiting.</p>",
            "text_body": "Hi, your bonus is waiting.",
            "email_uid": f"soak-{time.time_ns()}-{n}",
            "callback_url": self.callback_url,
        }
        try:
            for _attempt in range(RETRIES):
                answer = await self._answer(session, body)
                if answer.get("error_code") == ErrorCode.ACCEPTED:
                    self.accepted.add(str(answer["ext_message_id"]))
                    return
                if answer.get("error_code") not in RETRY_ON:
                    break
                await asyncio.sleep(0.2)
            self.refused[f"error {answer.get('error_code')}"] += 1
        finally:
            self._slots.release()

    async def _answer(self, session: aiohttp.ClientSession, body: dict[str, str]) -> Any:
        try:
            async with session.post(
                self.intake + "/v1/email", json=body, headers={"Authorization": self.secret}
            ) as response:
                return await response.json()
        except (aiohttp.ClientError, TimeoutError):
            return {"error_code": ErrorCode.TEMPORARILY_UNAVAILABLE}


async def end_to_end_maximum(
    smartico: Smartico,
    session: aiohttp.ClientSession,
    mails: CountingSmtpHandler,
    world: OutsideWorld,
    seconds: float,
) -> float:
    """E-mails a second through the whole gateway (the slower of mails at the SMTP server
    and ``accepted`` callbacks), measured over the second half of ``seconds`` of posting as
    fast as 64 in flight allow: the first half fills the pipeline."""
    burst = asyncio.create_task(smartico.run(session, seconds, rate=None))
    try:
        await asyncio.sleep(seconds / 2)
        began, mails_then, callbacks_then = (
            time.monotonic(),
            len(mails.received),
            len(called_back(world)),
        )
        await burst
    finally:
        burst.cancel()
    elapsed = time.monotonic() - began
    delivered = min(len(mails.received) - mails_then, len(called_back(world)) - callbacks_then)
    return delivered / elapsed
