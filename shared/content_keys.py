"""Players' content keys from the vault (``POST /v1/content-keys``), for the stages that seal
message content (intake) and open it (the dispatchers): ``shared.content_sealing``.

A player has a key per period (the vault's ``BLINDPOST_VAULT_CONTENT_PERIOD_DAYS``):
intake asks for the player's current key; a dispatcher asks for the key the sealed content
names, by its id (``answer_for(user, key_id)``), which may be of an earlier period.

Every key handed out is an audited read in the vault, so keys are kept a few seconds
(bounded) and asked for together: whoever needs a key while a call is under way joins the
next call, which carries every key asked for meanwhile (at most one call in flight per
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


# A key wanted: the player's, and its id (None: the one the vault seals with now).
Wanted = tuple[str, str | None]


class ContentKeysUnavailable(OSError):
    """The vault did not answer, or not in full: nothing was decided, safe to retry."""


@dataclass(frozen=True)
class KeyAnswer:
    """The vault's answer for one key: ``ok`` with the key; ``erased`` (the player's keys
    were destroyed with the player); ``no_key`` (none was ever made, or it was destroyed:
    the player erased, or the key's period past the content retention)."""

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
        self._cache: OrderedDict[Wanted, tuple[float, KeyAnswer]] = OrderedDict()
        self._pending: dict[Wanted, asyncio.Future[KeyAnswer]] = {}
        self._queue: list[Wanted] = []
        self._caller: asyncio.Task[None] | None = None

    async def answer_for(self, ext_user_id: str, key_id: str | None = None) -> KeyAnswer:
        """The key ``key_id`` of the player (None: the player's key of the current period)."""
        want = (ext_user_id, key_id)
        return (await self.answers_for([want]))[want]

    async def answers_for(self, wanted: Iterable[Wanted]) -> dict[Wanted, KeyAnswer]:
        """Raises :class:`ContentKeysUnavailable`."""
        now = time.monotonic()
        found: dict[Wanted, KeyAnswer] = {}
        waiting: dict[Wanted, asyncio.Future[KeyAnswer]] = {}
        for want in set(wanted):
            cached = self._cache.get(want)
            if cached is not None and cached[0] > now:
                found[want] = cached[1]
                continue
            future = self._pending.get(want)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._pending[want] = future
                self._queue.append(want)
            waiting[want] = future
        if waiting and (self._caller is None or self._caller.done()):
            self._caller = asyncio.create_task(self._drain())
        for want, future in waiting.items():
            # Shielded: one waiter giving up (intake's answer deadline) leaves the call to
            # the others.
            found[want] = await asyncio.shield(future)
        return found

    async def _drain(self) -> None:
        while self._queue:
            # Keys asked for by id and current keys go in separate calls (the body differs).
            keyed = self._queue[0][1] is not None
            batch = [w for w in self._queue if (w[1] is not None) == keyed][:MAX_PER_CALL]
            chosen = set(batch)
            self._queue = [w for w in self._queue if w not in chosen]
            try:
                answers = await self._call(batch, keyed)
            except BaseException as exc:
                failure = exc if isinstance(exc, ContentKeysUnavailable) else None
                for want in batch:
                    future = self._pending.pop(want)
                    future.set_exception(
                        failure or ContentKeysUnavailable(f"vault call ended: {type(exc).__name__}")
                    )
                    future.exception()  # retrieved, even when its waiter gave up
                if failure is None:
                    raise
                continue
            expires = time.monotonic() + self.ttl_s
            for want in batch:
                self._remember(want, expires, answers[want])
                self._pending.pop(want).set_result(answers[want])

    def _remember(self, want: Wanted, expires: float, answer: KeyAnswer) -> None:
        if self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self._cache[want] = (expires, answer)
        self._cache.move_to_end(want)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _call(self, batch: list[Wanted], keyed: bool) -> dict[Wanted, KeyAnswer]:
        body: dict[str, object] = {
            "purpose": self.purpose,
            "ext_user_ids": sorted({user for user, _ in batch}),
        }
        if keyed:
            body["keys"] = [{"ext_user_id": user, "key_id": key_id} for user, key_id in batch]
        payload = await vault_answer(
            self.session, self.url, body, self.headers, ContentKeysUnavailable
        )
        try:
            items = [(item, _answer(item)) for item in payload["keys"]]
        except (KeyError, TypeError, SealingError):
            raise ContentKeysUnavailable("vault answer malformed") from None
        # A key asked for by id is answered under that id (a vault from before periods
        # answers per player: its one key, which the opener then compares).
        by_key = {(i["ext_user_id"], i.get("key_id") if keyed else None): a for i, a in items}
        by_user = {item["ext_user_id"]: answer for item, answer in items}
        answers = {w: by_key.get(w) or by_user.get(w[0]) for w in batch}
        if any(answer is None for answer in answers.values()):
            raise ContentKeysUnavailable("vault answer incomplete")
        return answers  # type: ignore[return-value]


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
