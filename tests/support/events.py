"""Small builders for lifecycle events, as the stages emit them (same producers, same
event-id discriminators), so a test names only what it cares about.  ``written`` gives a
record as another version of the code would have written it, for the tolerant reader.
``payload_of`` reads an event's payload as the class a test expects, typed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared import events
from shared.domain import Channel, SmarticoStatus, ext_message_id_for
from shared.events import (
    AnyPayload,
    Event,
    MessageContent,
    Payload,
    refusal_id_for,
    report_id_for,
    suppression_id_for,
)

CALLBACK_URL = "http://127.0.0.1:9900/callback"

P = TypeVar("P", bound=Payload)


def payload_of(event: Event, kind: type[P]) -> P:
    """The payload of ``event`` as ``kind``; an event of another type fails the test here,
    naming both, rather than as a missing attribute further on."""
    payload = event.payload
    if not isinstance(payload, kind):
        raise AssertionError(f"expected a {kind.__name__} event, got {event.type.value}")
    return payload


def _event(
    mid: uuid.UUID,
    payload: AnyPayload,
    producer: str,
    discriminator: tuple[object, ...] = (),
    at: datetime | None = None,
) -> Event:
    return Event.create(mid, payload, producer, discriminator=discriminator, occurred_at=at)


def _dispatcher(channel: Channel) -> str:
    return f"dispatch-{channel.family}"


def accepted(
    uid: str | None = None,
    *,
    channel: Channel = Channel.EMAIL,
    ext_user_id: str = "player-1",
    callback_url: str = CALLBACK_URL,
    content: MessageContent | None = None,
    recipient_source: str = "vault",
    at: datetime | None = None,
    producer: str = "intake",
    ticket: str | None = None,
) -> Event:
    """``message.accepted`` for ``uid`` (random if None); its ext_message_id is intake's."""
    uid = uid or uuid.uuid4().hex
    payload = events.MessageAccepted(
        channel=channel,
        ext_user_id=ext_user_id,
        uid=uid,
        callback_url=callback_url,
        recipient_source=recipient_source,  # type: ignore[arg-type]
        content=content or MessageContent(subject="Hello", body="<p>Hi</p>", text_body="Hi"),
        ticket=ticket,
    )
    return _event(ext_message_id_for(channel, uid), payload, producer, at=at)


def resolved(
    mid: uuid.UUID,
    *,
    channel: Channel = Channel.EMAIL,
    vault_request_id: str | None = None,
    at: datetime | None = None,
) -> Event:
    payload = events.RecipientResolved(
        channel=channel, recipient_source="vault", vault_request_id=vault_request_id
    )
    return _event(mid, payload, "resolver", at=at)


def resolution_failed(
    mid: uuid.UUID, reason: str = "no_address", *, channel: Channel = Channel.EMAIL
) -> Event:
    payload = events.RecipientResolutionFailed(channel=channel, reason=reason)  # type: ignore[arg-type]
    return _event(mid, payload, "resolver")


def attempted(
    mid: uuid.UUID,
    attempt: int = 1,
    *,
    channel: Channel = Channel.EMAIL,
    provider: str = "smtp",
    at: datetime | None = None,
) -> Event:
    payload = events.DispatchAttempted(channel=channel, provider=provider, attempt=attempt)
    return _event(mid, payload, _dispatcher(channel), (attempt,), at)


def dispatched(
    mid: uuid.UUID,
    attempt: int = 1,
    *,
    channel: Channel = Channel.EMAIL,
    provider: str = "smtp",
    provider_message_id: str | None = None,
    sending_domain: str | None = None,
    at: datetime | None = None,
) -> Event:
    """``dispatch.succeeded``."""
    payload = events.DispatchSucceeded(
        channel=channel,
        provider=provider,
        attempt=attempt,
        provider_message_id=provider_message_id,
        sending_domain=sending_domain,
    )
    return _event(mid, payload, _dispatcher(channel), (attempt,), at)


def dispatch_failed(
    mid: uuid.UUID,
    attempt: int = 1,
    *,
    retryable: bool = True,
    reason: str = "connection_refused",
    channel: Channel = Channel.EMAIL,
    provider: str = "smtp",
    at: datetime | None = None,
) -> Event:
    payload = events.DispatchFailed(
        channel=channel, provider=provider, attempt=attempt, retryable=retryable, reason=reason
    )
    return _event(mid, payload, _dispatcher(channel), (attempt,), at)


def parked(
    mid: uuid.UUID,
    attempt: int = 1,
    *,
    reason: str = "circuit_open",
    retry_at: datetime,
    channel: Channel = Channel.EMAIL,
    provider: str = "smtp",
) -> Event:
    payload = events.DispatchParked(
        channel=channel, provider=provider, attempt=attempt, reason=reason, retry_at=retry_at
    )
    return _event(mid, payload, _dispatcher(channel), (attempt, reason))


def resumed(
    mid: uuid.UUID, attempt: int = 2, *, channel: Channel = Channel.EMAIL, provider: str = "smtp"
) -> Event:
    payload = events.DispatchResumed(
        channel=channel, provider=provider, attempt=attempt, resumed_from="parked"
    )
    return _event(mid, payload, _dispatcher(channel), (attempt, "parked"))


def status_reported(
    mid: uuid.UUID,
    status: SmarticoStatus,
    *,
    provider: str = "smtp",
    provider_status: str | None = None,
    provider_message_id: str | None = None,
    reported_at: datetime | None = None,
    at: datetime | None = None,
) -> Event:
    payload = events.StatusReported(
        provider=provider,
        provider_status=provider_status or status.value,
        status=status,
        provider_message_id=provider_message_id,
        reported_at=reported_at,
    )
    return _event(mid, payload, "status-ingest", (status.value,), at)


def callback_attempted(
    mid: uuid.UUID,
    status: SmarticoStatus,
    attempt: int = 1,
    *,
    outcome: str = "delivered",
    http_status: int | None = 200,
    at: datetime | None = None,
) -> Event:
    payload = events.CallbackAttempted(
        status=status, attempt=attempt, outcome=outcome, http_status=http_status  # type: ignore[arg-type]
    )
    return _event(mid, payload, "callback-relay", (status.value, attempt), at)


def callback_delivered(
    mid: uuid.UUID, status: SmarticoStatus, attempts: int = 1, *, at: datetime | None = None
) -> Event:
    payload = events.CallbackDelivered(status=status, attempts=attempts)
    return _event(mid, payload, "callback-relay", (status.value,), at)


def callback_dead_lettered(
    mid: uuid.UUID, status: SmarticoStatus, attempts: int = 1, reason: str = "expired"
) -> Event:
    payload = events.CallbackDeadLettered(status=status, attempts=attempts, reason=reason)
    return _event(mid, payload, "callback-relay", (status.value,))


def redriven(
    mid: uuid.UUID,
    status: SmarticoStatus | None = None,
    *,
    dead_letter: str = "blindpost.callbacks.dead-letter/0/0",
    reason: str = "retries_exhausted",
    at: datetime | None = None,
) -> Event:
    """``dead_letter.redriven``, as ``blindpost dlq redrive`` writes it."""
    payload = events.DeadLetterRedriven(
        dead_letter=dead_letter, stage="callback-relay", reason=reason, status=status
    )
    return _event(mid, payload, "blindpost-dlq", (dead_letter,), at)


def body_redacted(mid: uuid.UUID, retention_days: int = 30) -> Event:
    payload = events.MessageBodyRedacted(retention_days=retention_days)
    return _event(mid, payload, "blindpost-projector")


def refused(
    uid: str | None = "refused-1",
    error_code: int = 1,
    reason: str = "user_not_found",
    *,
    channel: Channel = Channel.EMAIL,
    ext_user_id: str | None = "player-1",
) -> Event:
    """``message.refused`` as intake writes it, on the refusal's own stream."""
    payload = events.MessageRefused(
        channel=channel, error_code=error_code, reason=reason, uid=uid, ext_user_id=ext_user_id
    )
    return _event(refusal_id_for(channel, uid or "-", error_code), payload, "intake")


def status_not_applied(
    mid: uuid.UUID | None,
    outcome: str = "ignored",
    *,
    provider: str = "sendgrid",
    provider_status: str = "processed",
    provider_message_id: str | None = "pm-1",
) -> Event:
    """``status.not_applied`` on ``mid``'s stream, or (None) on the report's own."""
    payload = events.StatusNotApplied(
        provider=provider,
        outcome=outcome,  # type: ignore[arg-type]
        provider_status=provider_status,
        provider_message_id=provider_message_id,
    )
    stream = mid or report_id_for(provider, provider_message_id or provider_status)
    return _event(stream, payload, "status-ingest", (provider, outcome, provider_status))


def suppression(
    mid: uuid.UUID | None,
    *,
    ext_user_id: str = "player-1",
    channel: Channel = Channel.EMAIL,
    reason: str = "hard_bounce",
    source: str = "bounce",
    removed_by: str | None = None,
    at: datetime | None = None,
) -> Event:
    """``suppression.recorded`` as the vault writes it, or with ``removed_by`` the operator's
    ``suppression.removed``: on ``mid``'s stream (the message that caused it), or (None) on
    the suppression's own.  The vault's discriminator is the row's time: ``at`` stands for it."""
    payload: events.SuppressionRecorded | events.SuppressionRemoved
    if removed_by is None:
        payload = events.SuppressionRecorded(
            channel=channel, ext_user_id=ext_user_id, reason=reason, source=source, caused_by=mid
        )
    else:
        payload = events.SuppressionRemoved(
            channel=channel,
            ext_user_id=ext_user_id,
            reason=reason,
            removed_by=removed_by,
            caused_by=mid,
        )
    at = at or datetime.now(UTC)
    stream = mid or suppression_id_for(ext_user_id, channel)
    return _event(stream, payload, "vault", (channel.value, at.isoformat()), at)


def written(
    event: Event,
    *,
    payload: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **envelope: Any,
) -> bytes:
    """``event`` as another version of the code wrote it: envelope fields replaced
    (``type=``, ``schema_version=``, ``event_id=``), payload fields added or replaced, some
    dropped."""
    record = json.loads(event.to_bytes())
    record.update({k: str(v) if isinstance(v, uuid.UUID) else v for k, v in envelope.items()})
    record["payload"] = {
        k: v for k, v in {**record["payload"], **(payload or {})}.items() if k not in drop
    }
    return json.dumps(record).encode()


def complaint_rate_changed(
    domain: str = "news.operator.example",
    level: events.ComplaintLevel = "critical",
    previous: events.ComplaintLevel = "ok",
) -> Event:
    """``deliverability.complaint_rate_changed`` on the domain's own stream."""
    payload = events.DeliverabilityComplaintRateChanged(
        sending_domain=domain,
        level=level,
        previous=previous,
        window="24h",
        complaints=3,
        sent=100,
        ratio=0.03,
    )
    return _event(events.domain_stream_id(domain), payload, "deliverability", (previous, level))


def domain_resumed(
    domain: str = "news.operator.example", resumed_by: str = "cli:ops", at: datetime | None = None
) -> Event:
    """``deliverability.domain_resumed`` on the domain's own stream, as the CLI writes it."""
    at = at or datetime.now(UTC)
    payload = events.DeliverabilityDomainResumed(sending_domain=domain, resumed_by=resumed_by)
    return _event(events.domain_stream_id(domain), payload, "cli", (at.isoformat(),), at)
