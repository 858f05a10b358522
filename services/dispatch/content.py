"""Opening a work item's content just before it is rendered: the player's content key from
the vault (``shared.content_keys``, cached a few seconds), then ``shared.content_sealing``.
Content written before sealing is used as it is."""

from __future__ import annotations

from collections.abc import Iterable

from shared.content_keys import ContentKeys
from shared.content_sealing import ContentSealingError, key_id_of, open_content
from shared.events import MessageContent
from shared.work import DispatchWork


class ContentErased(Exception):
    """The player's content key was destroyed (the player erased): never sendable again."""


class ContentOpener:
    def __init__(self, keys: ContentKeys) -> None:
        self.keys = keys

    async def prefetch(self, works: Iterable[DispatchWork]) -> None:
        """The keys a batch needs, in one call, before anything of it is claimed: the vault
        away then retries the batch (``ContentKeysUnavailable`` is an ``OSError``)."""
        users = {work.ext_user_id for work in works if work.content.sealed is not None}
        if users:
            await self.keys.answers_for(users)

    async def open(self, work: DispatchWork) -> MessageContent:
        """Raises :class:`ContentErased`, ``ContentSealingError`` (tampered, moved) or
        ``ContentKeysUnavailable``."""
        key_id = key_id_of(work.content)
        if key_id is None:
            return work.content
        answer = await self.keys.answer_for(work.ext_user_id)
        if answer.status in ("erased", "no_key") or (
            answer.key is not None and answer.key.key_id != key_id
        ):
            # A key made after an erasure (the player written again) is not the old one.
            raise ContentErased(work.ext_user_id)
        if answer.key is None:
            raise ContentSealingError(f"the vault gave no key: {answer.status}")
        return open_content(work.content, answer.key, work.ext_message_id)
