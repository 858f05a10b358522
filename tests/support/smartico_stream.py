"""Smartico as a careful client: a steady stream of e-mails and SMS for a set of players,
each uid retried on error 6, 9 or a refused connection until accepted.  The graceful-shutdown
test, the chaos run and the soak drive the gateway with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from shared.domain import ErrorCode
from tests.e2e.outside_world import OutsideWorld

PLAYERS = 20
PAUSE_S = 0.1
RETRY_ON = {ErrorCode.TEMPORARILY_UNAVAILABLE, ErrorCode.INTERNAL_ERROR}


class Stream:
    """Posts as Smartico does, each sender one message at a time, until told to stop."""

    def __init__(self, intake: str, secret: str, callback_url: str) -> None:
        self.intake = intake
        self.secret = secret
        self.callback_url = callback_url
        self.accepted: dict[str, str] = {}  # ext_message_id -> channel family
        self.stopped = asyncio.Event()

    def flowing(self, more: int) -> Callable[[], bool]:
        """True once ``more`` messages beyond those accepted by now are accepted."""
        target = len(self.accepted) + more
        return lambda: len(self.accepted) >= target

    async def run(self, sender: int) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            n = 0
            while not self.stopped.is_set():
                n += 1
                player = f"graceful-{(sender * 7 + n) % PLAYERS}"
                if n % 2:
                    path, family = "/v1/email", "email"
                    body = {
                        "ext_user_id": player,
                        "from_email_address": "Casino <noreply@casino.example>",
                        "subject": "Hello",
                        "body": "<p>Hi</p>",
                        "text_body": "Hi",
                        "email_uid": f"graceful-{sender}-{n}",
                        "callback_url": self.callback_url,
                    }
                else:
                    path, family = "/v1/sms", "sms"
                    body = {
                        "ext_user_id": player,
                        "body": "Hi",
                        "im_uid": f"graceful-{sender}-{n}",
                        "callback_url": self.callback_url,
                    }
                mid = await self._post_until_answered(http, path, body)
                self.accepted[mid] = family
                await asyncio.sleep(PAUSE_S)

    async def _post_until_answered(
        self, http: aiohttp.ClientSession, path: str, body: dict[str, str]
    ) -> str:
        while True:
            try:
                async with http.post(
                    self.intake + path, json=body, headers={"Authorization": self.secret}
                ) as response:
                    answer = await response.json()
            except (aiohttp.ClientError, TimeoutError):
                answer = {"error_code": ErrorCode.TEMPORARILY_UNAVAILABLE}
            if answer["error_code"] == ErrorCode.ACCEPTED:
                return str(answer["ext_message_id"])
            assert answer["error_code"] in RETRY_ON, answer
            await asyncio.sleep(0.2)


async def players_and_stream(
    ports: dict[str, int], env: dict[str, str], world: OutsideWorld
) -> Stream:
    """Puts the players in the vault and returns a stream (not started) posting for them."""
    async with aiohttp.ClientSession() as http:
        for i in range(PLAYERS):
            async with http.put(
                f"http://127.0.0.1:{ports['vault']}/v1/subjects/graceful-{i}",
                json={"email": f"graceful.{i}@example.com", "phone": f"+35699{i:06d}"},
                headers={"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"},
            ) as response:
                assert response.status == 200, await response.text()
    return Stream(
        f"http://127.0.0.1:{ports['intake']}",
        env["BLINDPOST_INTAKE_SECRETS"].split(",")[0],
        world.url("/smartico/callback"),
    )
