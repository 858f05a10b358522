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
        wanted = {(work.ext_user_id, key_id) for work in works if (key_id := _key_id(work))}
        if wanted:
            await self.keys.answers_for(wanted)

    async def open(self, work: DispatchWork) -> MessageContent:
        """Raises :class:`ContentErased`, ``ContentSealingError`` (tampered, moved) or
        ``ContentKeysUnavailable``."""
        key_id = key_id_of(work.content)
        if key_id is None:
            return work.content
        answer = await self.keys.answer_for(work.ext_user_id, key_id)
        if answer.status in ("erased", "no_key") or (
            answer.key is not None and answer.key.key_id != key_id
        ):
            # Destroyed: the player erased, or its period past the content retention.  (A
            # vault from before periods answers with the player's one key: one made after
            # an erasure, the player written again, is not the old one.)
            raise ContentErased(work.ext_user_id)
        if answer.key is None:
            raise ContentSealingError(f"the vault gave no key: {answer.status}")
        return open_content(work.content, answer.key, work.ext_message_id)


def _key_id(work: DispatchWork) -> str | None:
    """The key a work item's content names (None: not sealed, or a token that ends the
    message ``content_unsealable`` when it is opened)."""
    try:
        return key_id_of(work.content)
    except ContentSealingError:
        return None
