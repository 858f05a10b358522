"""The resolver stage: for each accepted message whose address is in the vault, one audited
read, then the sealed dispatch work and a RecipientResolved event (or a RecipientResolutionFailed
event, whatever the vault answered), produced with the consumed offset in one Kafka
transaction."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import ConsumerRecord
from prometheus_client import Counter

from services.resolver.claims import ReadClaims
from services.resolver.vault_client import Contact, VaultClient
from shared.contacts import ContactRequest
from shared.domain import ChannelFamily
from shared.events import (
    Event,
    EventType,
    MessageAccepted,
    RecipientResolutionFailed,
    RecipientResolved,
    ResolutionFailure,
    SkipReason,
    count_skipped,
    read_event,
)
from shared.kafka import Output
from shared.latency import RESOLVED, observe_step
from shared.sealing import SealingPublicKey, SealingSession
from shared.topics import Topics
from shared.work import DispatchWork, sealing_context

PRODUCER = "resolver"
# The vault's answers that end the message, each its own reason.  A stored address that
# failed its integrity check, or an answer this code does not know, ends it too: as
# ``failed`` with a reason of ours (it used to be dead-lettered, and the message stayed
# ``accepted`` for ever while Smartico never heard of it).
FAILURES: dict[str, ResolutionFailure] = {
    "user_not_found": "user_not_found",
    "no_address": "no_address",
    "opted_out": "opted_out",
    "erased": "erased",
    "integrity_failure": "integrity_failure",
}


def _failure(contact: Contact) -> ResolutionFailure:
    if contact.status == "ticket_refused":
        # Too late (the ticket outlived its use: look at the backlog), or not a ticket the
        # vault accepts (intake's and the vault's keys disagree, or it was tampered with).
        return "ticket_expired" if contact.reason == "expired" else "ticket_invalid"
    return FAILURES.get(contact.status, "unknown_answer")


RESOLUTIONS = Counter(
    "blindpost_resolver_resolutions_total", "Accepted messages resolved, by outcome", ["outcome"]
)


def parse(record: ConsumerRecord) -> Event | None:
    """None for an event newer than this code, or of a type the resolver does not act on
    (skipped and counted, never dead-lettered, those not even parsed)."""
    return read_event(record.value, PRODUCER, only=_ACTS_ON)


_ACTS_ON = frozenset({EventType.MESSAGE_ACCEPTED})


@dataclass
class Resolver:
    vault: VaultClient
    claims: ReadClaims
    sealers: dict[ChannelFamily, SealingPublicKey]
    topics: Topics

    async def handle(self, items: list[tuple[ConsumerRecord, Event | None]]) -> list[Output]:
        wanted: list[tuple[ConsumerRecord, Event, MessageAccepted]] = []
        for record, event in items:
            if event is None:
                continue
            if not isinstance(accepted := event.payload, MessageAccepted):
                # The event log carries every lifecycle state; we act on one.
                count_skipped(PRODUCER, SkipReason.NOT_HANDLED)
                continue
            if accepted.recipient_source == "vault":
                wanted.append((record, event, accepted))
        if not wanted:
            return []
        # One read per message id, whichever batch, process or replica it arrives in.
        allowed = await self.claims.claim([(record, e.ext_message_id) for record, e, _ in wanted])
        wanted = [item for i, item in enumerate(wanted) if i in allowed]
        if not wanted:
            return []
        lookups = {
            event.ext_message_id: ContactRequest(
                accepted.ext_user_id, accepted.channel, event.ext_message_id, accepted.ticket
            )
            for _record, event, accepted in wanted
        }
        contacts = await self.vault.resolve(list(lookups.values()))
        # One ephemeral key per family for the batch (shared.sealing: a box each, one
        # key agreement for all of them).
        sessions: dict[ChannelFamily, SealingSession] = {}
        outputs: list[Output] = []
        for _record, event, accepted in wanted:
            contact = contacts[event.ext_message_id]
            outputs.extend(self._outputs(event, accepted, contact, sessions))
        return outputs

    def _outputs(
        self,
        event: Event,
        accepted: MessageAccepted,
        contact: Contact,
        sessions: dict[ChannelFamily, SealingSession],
    ) -> list[Output]:
        mid = event.ext_message_id
        if contact.status != "ok" or contact.address is None:
            reason = _failure(contact)
            RESOLUTIONS.labels(reason).inc()
            observe_step(RESOLVED, accepted.channel.family.value, "failed", event.occurred_at)
            failed = Event.create(
                mid, RecipientResolutionFailed(channel=accepted.channel, reason=reason), PRODUCER
            )
            return [Output(self.topics.message_events, failed.to_bytes(), failed.key)]
        RESOLUTIONS.labels("resolved").inc()
        family = accepted.channel.family
        observe_step(RESOLVED, family.value, "resolved", event.occurred_at)
        if family not in sessions:
            sessions[family] = self.sealers[family].session()
        work = DispatchWork(
            ext_message_id=mid,
            channel=accepted.channel,
            ext_user_id=accepted.ext_user_id,
            uid=accepted.uid,
            accepted_at=event.occurred_at,
            sealed_recipient=sessions[family].seal(
                contact.address.encode(), sealing_context(mid, accepted.channel)
            ),
            content=accepted.content,
            activity_type=accepted.activity_type,
            locale=contact.locale,
        )
        resolved = Event.create(
            mid,
            RecipientResolved(
                channel=accepted.channel,
                recipient_source="vault",
                vault_request_id=contact.audit_id,
            ),
            PRODUCER,
        )
        return [
            Output(self.topics.dispatch(accepted.channel), work.to_bytes(), work.key),
            Output(self.topics.message_events, resolved.to_bytes(), resolved.key),
        ]
