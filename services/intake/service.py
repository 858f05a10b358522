"""What intake does with a valid request: refuse it by the directory, or make it durable and
answer with its ext_message_id.  HTTP-free, so the rules are tested without a server."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from asyncpg import InterfaceError, PostgresError

from services.intake.requests import EmailRequest, Request, preview_address
from services.intake.subjects import Subject, refusal, refusal_message, refusal_reason
from services.intake.throttle import LogThrottle
from shared.content_keys import ContentKeys, ContentKeysUnavailable
from shared.content_sealing import seal
from shared.domain import Channel, ErrorCode, ext_message_id_for
from shared.events import Event, MessageAccepted, MessageContent
from shared.kafka import Output
from shared.logging import get_logger
from shared.sealing import SealingPublicKey
from shared.tickets import TicketSigner, TicketSubject
from shared.topics import Topics
from shared.work import DispatchWork, sealing_context

log = get_logger(__name__)

PRODUCER = "intake"
# What "temporarily unavailable" covers: a dependency down, slow, or refusing for now.
DEPENDENCY_ERRORS = (TimeoutError, KafkaError, PostgresError, InterfaceError, OSError)


@dataclass(frozen=True, slots=True)
class Answer:
    error_code: ErrorCode
    ext_message_id: uuid.UUID | None = None
    error_message: str | None = None
    reason: str | None = None  # the refusal's class, for its event, when not the code's

    def body(self) -> dict[str, Any]:
        if self.error_code == ErrorCode.ACCEPTED:
            return {"error_code": 0, "ext_message_id": str(self.ext_message_id)}
        return {"error_code": int(self.error_code), "error_message": self.error_message}

    @classmethod
    def refused(cls, code: ErrorCode, message: str, reason: str | None = None) -> Answer:
        return cls(code, None, message, reason)


UNAVAILABLE = Answer.refused(
    ErrorCode.TEMPORARILY_UNAVAILABLE, "Temporarily unavailable, safe to retry with the same uid"
)


class Intake:
    def __init__(
        self,
        *,
        topics: Topics,
        lookup: Callable[[str], Awaitable[Subject | None]],
        publish: Callable[[list[Output]], Awaitable[None]],
        email_sealing_key: SealingPublicKey,
        tickets: TicketSigner,
        content_keys: ContentKeys | None,
        timeout_s: float,
        remember_accepted: int = 100_000,
    ) -> None:
        self.topics = topics
        self.lookup = lookup
        self.publish = publish
        self.email_sealing_key = email_sealing_key
        self.tickets = tickets
        # None: content goes out as it came (BLINDPOST_INTAKE_SEAL_CONTENT=false).
        self.content_keys = content_keys
        self.timeout_s = timeout_s
        self._in_flight: dict[uuid.UUID, asyncio.Future[None]] = {}
        # Ids this process already made durable: a retry is answered without a second
        # record.  Bounded; beyond it (or in another replica) the event id dedupes instead.
        self._accepted: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._remember_accepted = remember_accepted
        self._unavailable_log = LogThrottle(log)

    async def submit(self, channel: Channel, request: Request) -> Answer:
        ext_message_id = ext_message_id_for(channel, request.uid)
        if ext_message_id in self._accepted:
            return Answer(ErrorCode.ACCEPTED, ext_message_id)
        try:
            async with asyncio.timeout(self.timeout_s):
                preview = isinstance(request, EmailRequest) and request.is_preview
                if not preview:
                    subject = await self.lookup(request.ext_user_id)
                    code = refusal(subject, channel)
                    if code is not None:
                        return Answer.refused(
                            code,
                            refusal_message(code, channel),
                            refusal_reason(subject, channel),
                        )
                content = await self._sealed(ext_message_id, request)
                if content is None:  # erased since the directory last heard of the player
                    code = ErrorCode.USER_NOT_FOUND
                    return Answer.refused(code, refusal_message(code, channel))
                if isinstance(request, EmailRequest) and preview:
                    outputs = self._preview_outputs(ext_message_id, request, content)
                else:
                    outputs = [
                        self._accepted_event(ext_message_id, channel, request, "vault", content)
                    ]
                await self._publish_once(ext_message_id, outputs)
        except DEPENDENCY_ERRORS as exc:
            self._unavailable_log.warning(
                "request not accepted: dependency unavailable",
                channel=channel.value,
                uid=request.uid,
                error=type(exc).__name__,
            )
            return UNAVAILABLE
        return Answer(ErrorCode.ACCEPTED, ext_message_id)

    async def _sealed(self, ext_message_id: uuid.UUID, request: Request) -> MessageContent | None:
        """The request's content sealed under its player's content key (None: the player
        was erased); as it came when sealing is off."""
        if self.content_keys is None:
            return request.content()
        answer = await self.content_keys.answer_for(request.ext_user_id)
        if answer.status == "erased":
            return None
        if answer.key is None:
            raise ContentKeysUnavailable(f"no content key: {answer.status}")
        return seal(request.content(), answer.key, ext_message_id)

    def _remember(self, ext_message_id: uuid.UUID) -> None:
        self._accepted[ext_message_id] = None
        if len(self._accepted) > self._remember_accepted:
            self._accepted.popitem(last=False)

    async def _publish_once(self, ext_message_id: uuid.UUID, outputs: list[Output]) -> None:
        """Copies of one request arriving together share one publication (and its outcome);
        copies arriving after it succeeded find it done.  (A copy reaching another replica
        publishes again with the same event id, which the event store keeps once.)"""
        if ext_message_id in self._accepted:
            return
        shared = self._in_flight.get(ext_message_id)
        if shared is not None:
            await asyncio.shield(shared)
            return
        shared = asyncio.get_running_loop().create_future()
        self._in_flight[ext_message_id] = shared
        try:
            await self.publish(outputs)
        except BaseException as exc:
            # The copies waiting on this one get the same answer (6), never a hang.
            shared.set_exception(exc if isinstance(exc, Exception) else TimeoutError())
            shared.exception()  # retrieved, even when no copy was waiting
            raise
        else:
            self._remember(ext_message_id)
            shared.set_result(None)
        finally:
            del self._in_flight[ext_message_id]

    def _accepted_event(
        self,
        ext_message_id: uuid.UUID,
        channel: Channel,
        request: Request,
        source: str,
        content: MessageContent,
        occurred_at: datetime | None = None,
    ) -> Output:
        event = Event.create(
            ext_message_id,
            MessageAccepted(
                channel=channel,
                ext_user_id=request.ext_user_id,
                uid=request.uid,
                callback_url=request.callback_url,
                activity_type=getattr(request, "activity_type", None),
                recipient_source=source,  # type: ignore[arg-type]
                content=content,
                ticket=self._ticket(ext_message_id, channel, request, source),
            ),
            PRODUCER,
            occurred_at=occurred_at,
        )
        return Output(self.topics.message_events, event.to_bytes(), key=event.key)

    def _ticket(
        self, ext_message_id: uuid.UUID, channel: Channel, request: Request, source: str
    ) -> str | None:
        """What lets the resolver read this player's address for this message (a preview's
        address came with the request: no read, no ticket)."""
        if source != "vault":
            return None
        return self.tickets.issue(TicketSubject(ext_message_id, request.ext_user_id, channel))

    def _preview_outputs(
        self, ext_message_id: uuid.UUID, request: EmailRequest, content: MessageContent
    ) -> list[Output]:
        """The address from the request, sealed for the e-mail dispatcher at once: it exists
        in clear only in this process's memory, never in an event, a table or a log."""
        now = datetime.now(UTC)
        address = preview_address(request)
        work = DispatchWork(
            ext_message_id=ext_message_id,
            channel=Channel.EMAIL,
            ext_user_id=request.ext_user_id,
            uid=request.uid,
            accepted_at=now,
            sealed_recipient=self.email_sealing_key.seal(
                address.encode(), sealing_context(ext_message_id, Channel.EMAIL)
            ),
            content=content,
            activity_type=request.activity_type,
        )
        return [
            Output(self.topics.dispatch(Channel.EMAIL), work.to_bytes(), key=work.key),
            self._accepted_event(ext_message_id, Channel.EMAIL, request, "request", content, now),
        ]
