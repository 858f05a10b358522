"""Decisions that are not a message's progress are on the timeline too: a refused request
on its own stream, a status that changed nothing beside the message's other events, a
resolution the vault's answer ended, and a report naming no message (its own stream)."""

from __future__ import annotations

from services.eventstore import queries
from services.eventstore.render import timeline_text
from tests.eventstore.support import produce, running_projector, wait_for_events
from tests.support import events as build


async def test_refusals_failures_and_unapplied_statuses_show_on_the_timeline(
    kafka_bootstrap, topics, events_dsn
):
    accepted = build.accepted("vault-broke", ext_user_id="player-5")
    mid = accepted.ext_message_id
    events = [
        accepted,
        build.resolution_failed(mid, "integrity_failure"),
        build.status_not_applied(mid, "ignored", provider_status="queued"),
    ]
    refused = build.refused("never-sent", 5, "opted_out", ext_user_id="player-5")
    orphan = build.status_not_applied(None, "expired", provider_message_id="pm-lost")
    await produce(kafka_bootstrap, topics.message_events, [*events, refused, orphan])

    async with running_projector(kafka_bootstrap, topics, events_dsn) as pool:
        await wait_for_events(pool, len(events) + 2)
        async with pool.acquire() as conn:
            message = await queries.timeline(conn, mid)
            refusal = await queries.timeline(conn, refused.ext_message_id)
            report = await queries.timeline(conn, orphan.ext_message_id)
            counts = await conn.fetch("SELECT status, messages FROM message_counts")

    assert message is not None and refusal is not None and report is not None
    assert (message["message"]["status"], message["message"]["stage"]) == (
        "failed",
        "resolution_failed",
    )
    text = timeline_text(message)
    assert "recipient.resolution_failed" in text and "reason=integrity_failure" in text
    assert "status.not_applied" in text and "outcome=ignored" in text
    assert refusal["message"]["stage"] == "refused"
    assert "message.refused" in timeline_text(refusal) and "error_code=5" in timeline_text(refusal)
    assert report["message"]["stage"] == "status_unmatched"
    # Only the message is counted: refusals and orphan reports are not messages.
    assert {(r["status"], r["messages"]) for r in counts if r["messages"]} == {("failed", 1)}
