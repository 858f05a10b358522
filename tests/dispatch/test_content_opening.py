"""What a dispatcher makes of a work item's sealed content, by the vault's answer for the
player (services/dispatch/content.py): opened with its key; erased (the key destroyed, or
replaced after the player was written again) as ``ContentErased``, which ends the message
``content_erased``; a token that does not open as a sealing error (``content_unsealable``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from services.dispatch.content import ContentErased, ContentOpener
from shared.content_keys import KeyAnswer, Wanted
from shared.content_sealing import ContentKey, ContentSealingError, seal
from shared.domain import Channel
from shared.events import MessageContent
from shared.work import DispatchWork

KEY = ContentKey("k1", os.urandom(32))
CONTENT = MessageContent(subject="Hi", body="<p>50 spins</p>", from_email_address="a@b.example")


class Answers:
    """The vault's answer for every player, as the content-keys client gives it."""

    def __init__(self, answer: KeyAnswer) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def answer_for(self, ext_user_id: str, key_id: str | None = None) -> KeyAnswer:
        self.asked.append(ext_user_id)
        return self.answer

    async def answers_for(self, wanted: Iterable[Wanted]) -> dict[Wanted, KeyAnswer]:
        return {want: await self.answer_for(*want) for want in wanted}


def work(content: MessageContent, mid: uuid.UUID | None = None) -> DispatchWork:
    mid = mid or uuid.uuid4()
    return DispatchWork(
        ext_message_id=mid,
        channel=Channel.EMAIL,
        ext_user_id="player-1",
        uid="u1",
        accepted_at=datetime.now(UTC),
        sealed_recipient="x",
        content=content,
    )


def opener(answer: KeyAnswer) -> tuple[ContentOpener, Answers]:
    answers = Answers(answer)
    return ContentOpener(answers), answers  # type: ignore[arg-type]


async def test_sealed_content_opens_with_the_players_key() -> None:
    mid = uuid.uuid4()
    contents, _ = opener(KeyAnswer("ok", KEY))
    assert await contents.open(work(seal(CONTENT, KEY, mid), mid)) == CONTENT


async def test_content_written_before_sealing_needs_no_key() -> None:
    contents, answers = opener(KeyAnswer("ok", KEY))
    assert await contents.open(work(CONTENT)) is CONTENT
    await contents.prefetch([work(CONTENT)])
    assert answers.asked == []


@pytest.mark.parametrize(
    "answer",
    [
        KeyAnswer("erased"),
        KeyAnswer("no_key"),
        KeyAnswer("ok", ContentKey("k2", os.urandom(32))),  # a new key, made after an erasure
    ],
)
async def test_a_destroyed_key_means_the_content_is_erased(answer: KeyAnswer) -> None:
    mid = uuid.uuid4()
    contents, _ = opener(answer)
    with pytest.raises(ContentErased):
        await contents.open(work(seal(CONTENT, KEY, mid), mid))


async def test_content_that_does_not_open_is_a_sealing_error() -> None:
    contents, _ = opener(KeyAnswer("ok", KEY))
    with pytest.raises(ContentSealingError):  # moved from another message
        await contents.open(work(seal(CONTENT, KEY, uuid.uuid4())))
    contents, _ = opener(KeyAnswer("integrity_failure"))
    with pytest.raises(ContentSealingError):
        await contents.open(work(seal(CONTENT, KEY, uuid.uuid4())))
