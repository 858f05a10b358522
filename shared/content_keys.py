"""Players' content keys from the vault (``POST /v1/content-keys``), for the stages that seal
message content (intake) and open it (the dispatchers): ``shared.content_sealing``.

Every key handed out is an audited read in the vault, so keys are kept a few seconds
(bounded) and asked for together: whoever needs a key while a call is under way joins the
next call, which carries every player asked for meanwhile (at most one call in flight per
process).  A key is never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from shared.content_sealing import ContentKey
from shared.sealing import SealingError, b64d
from shared.settings import ContentKeysVault
from shared.vault_http import vault_answer

MAX_PER_CALL = 1000
SEAL = "content-seal"
RENDER = "content-render"


class ContentKeysUnavailable(OSError):
    """The vault did not answer, or not in full: nothing was decided, safe to retry."""


@dataclass(frozen=True)
class KeyAnswer:
    """The vault's answer for one player: ``ok`` with its key; ``erased`` (the key was
    destroyed with the player); ``no_key`` (none was ever made, or it was destroyed)."""

    status: str
    key: ContentKey | None = None


class ContentKeys:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        purpose: str,
        *,
        ttl_s: float = 5.0,
        max_entries: int = 50_000,
    ) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/v1/content-keys"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.purpose = purpose
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, KeyAnswer]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[KeyAnswer]] = {}
        self._queue: list[str] = []
        self._caller: asyncio.Task[None] | None = None

    async def answer_for(self, ext_user_id: str) -> KeyAnswer:
        return (await self.answers_for([ext_user_id]))[ext_user_id]

    async def answers_for(self, ext_user_ids: Iterable[str]) -> dict[str, KeyAnswer]:
        """Raises :class:`ContentKeysUnavailable`."""
        now = time.monotonic()
        found: dict[str, KeyAnswer] = {}
        waiting: dict[str, asyncio.Future[KeyAnswer]] = {}
        for user in set(ext_user_ids):
            cached = self._cache.get(user)
            if cached is not None and cached[0] > now:
                found[user] = cached[1]
                continue
            future = self._pending.get(user)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._pending[user] = future
                self._queue.append(user)
            waiting[user] = future
        if waiting and (self._caller is None or self._caller.done()):
            self._caller = asyncio.create_task(self._drain())
        for user, future in waiting.items():
            # Shielded: one waiter giving up (intake's answer deadline) leaves the call to
            # the others.
            found[user] = await asyncio.shield(future)
        return found

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_PER_CALL], self._queue[MAX_PER_CALL:]
            try:
                answers = await self._call(batch)
            except BaseException as exc:
                failure = exc if isinstance(exc, ContentKeysUnavailable) else None
                for user in batch:
                    future = self._pending.pop(user)
                    future.set_exception(
                        failure or ContentKeysUnavailable(f"vault call ended: {type(exc).__name__}")
                    )
                    future.exception()  # retrieved, even when its waiter gave up
                if failure is None:
                    raise
                continue
            expires = time.monotonic() + self.ttl_s
            for user in batch:
                self._remember(user, expires, answers[user])
                self._pending.pop(user).set_result(answers[user])

    def _remember(self, user: str, expires: float, answer: KeyAnswer) -> None:
        if self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self._cache[user] = (expires, answer)
        self._cache.move_to_end(user)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _call(self, users: list[str]) -> dict[str, KeyAnswer]:
        body = {"purpose": self.purpose, "ext_user_ids": users}
        payload = await vault_answer(
            self.session, self.url, body, self.headers, ContentKeysUnavailable
        )
        try:
            answers = {item["ext_user_id"]: _answer(item) for item in payload["keys"]}
        except (KeyError, TypeError, SealingError):
            raise ContentKeysUnavailable("vault answer malformed") from None
        if any(user not in answers for user in users):
            raise ContentKeysUnavailable("vault answer incomplete")
        return answers


def _answer(item: dict[str, str]) -> KeyAnswer:
    if item["status"] != "ok":
        return KeyAnswer(str(item["status"]))
    return KeyAnswer("ok", ContentKey(item["key_id"], b64d(item["key"])))


@asynccontextmanager
async def content_keys(vault: ContentKeysVault, purpose: str) -> AsyncIterator[ContentKeys]:
    """A client with its own HTTP session, for ``shared.lifecycle.provide``."""
    timeout = aiohttp.ClientTimeout(total=vault.content_keys_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield ContentKeys(
            session,
            vault.vault_url,
            vault.secret("vault_content_token"),
            purpose,
            ttl_s=vault.content_keys_cache_ttl_s,
            max_entries=vault.content_keys_cache_size,
        )
