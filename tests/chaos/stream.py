"""E-mails, SMS and custom IM posted as Smartico does, without pause, each uid retried on
error 6, 9 or a refused connection until it is answered (tests/e2e/test_graceful_shutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from tests.support.smartico_stream import PLAYERS, Stream

FAMILIES = ("email", "sms", "cim")


class ChaosStream(Stream):
    def __init__(self, stream: Stream, pause_s: float) -> None:
        super().__init__(stream.intake, stream.secret, stream.callback_url)
        self.pause_s = pause_s

    def body(self, sender: int, n: int) -> tuple[str, str, dict[str, object]]:
        family = FAMILIES[n % len(FAMILIES)]
        uid = f"chaos-{sender}-{n}"
        common = {"ext_user_id": f"graceful-{(sender * 7 + n) % PLAYERS}", "body": "Hi"}
        common["callback_url"] = self.callback_url
        if family == "email":
            body: dict[str, object] = {
                **common,
                "body": "<p>Hi</p>",
                "from_email_address": "Casino <noreply@casino.example>",
                "subject": "Hello",
                "text_body": "Hi",
                "email_uid": uid,
            }
        elif family == "sms":
            body = {**common, "im_uid": uid}
        else:
            body = {**common, "im_uid": uid, "extension": {"title": "Offer", "action": "BUY"}}
        return f"/v1/{family}", family, body

    async def run(self, sender: int) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            n = 0
            while not self.stopped.is_set():
                n += 1
                path, family, body = self.body(sender, n)
                mid = await self._post_until_answered(http, path, body)  # type: ignore[arg-type]
                self.accepted[mid] = family
                await asyncio.sleep(self.pause_s)

    def of(self, family: str) -> set[str]:
        return {mid for mid, f in self.accepted.items() if f == family}

    def completed(self, called_back: Callable[[], set[str]], more: int) -> Callable[[], bool]:
        """True once ``more`` messages beyond those called back by now have been called
        back ``accepted``: the whole gateway, not only intake, is moving again."""
        target = len(called_back()) + more
        return lambda: len(called_back()) >= target
