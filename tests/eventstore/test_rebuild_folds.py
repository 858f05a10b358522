"""The read models' rebuild rules, event by event (pure): they settle what the stages
settled, and nothing else."""

from __future__ import annotations

from typing import Any

from services.callback_relay.rebuild import fold as fold_callbacks
from services.dispatch.ledger_rebuild import fold as fold_ledger
from shared.domain import Channel, SmarticoStatus
from shared.events import Event
from tests.support import events as build

S = SmarticoStatus


def _callbacks(events: list[Event]) -> dict[Any, dict[str, Any]]:
    rows: dict[Any, dict[str, Any]] = {}
    for event in events:
        fold_callbacks(rows, event)
    return rows


def test_a_delivered_callback_stays_delivered_and_a_redriven_dead_one_is_pending_again():
    accepted = build.accepted(channel=Channel.SMS)
    mid = accepted.ext_message_id
    rows = _callbacks([
        accepted,
        build.dispatched(mid, channel=Channel.SMS, provider="test"),
        build.callback_attempted(mid, S.ACCEPTED, 1),
        build.callback_delivered(mid, S.ACCEPTED, 1),
        build.status_reported(mid, S.DELIVERED, provider="test"),
        build.callback_attempted(mid, S.DELIVERED, 1, outcome="retry", http_status=503),
        build.callback_attempted(mid, S.DELIVERED, 2, outcome="retry", http_status=503),
        build.callback_dead_lettered(mid, S.DELIVERED, 2, reason="retry period over"),
        build.callback_delivered(mid, S.ACCEPTED, 1),  # re-emitted: changes nothing
    ])
    assert {k[1]: (r["state"], r["attempts"]) for k, r in rows.items()} == {
        "accepted": ("delivered", 1), "delivered": ("dead", 2),
    }
    assert rows[(mid, "delivered")]["last_error"] == "retry period over"

    fold_callbacks(rows, build.redriven(mid, S.DELIVERED))
    fold_callbacks(rows, build.redriven(mid, S.ACCEPTED))  # delivered: not reopened
    assert rows[(mid, "delivered")]["state"] == "pending"
    assert rows[(mid, "accepted")]["state"] == "delivered"
    fold_callbacks(rows, build.callback_attempted(mid, S.DELIVERED, 3))
    fold_callbacks(rows, build.callback_delivered(mid, S.DELIVERED, 3))
    assert (rows[(mid, "delivered")]["state"], rows[(mid, "delivered")]["attempts"]) == (
        "delivered", 3,
    )


def test_the_ledger_holds_what_the_log_settled():
    mids = [build.accepted(channel=Channel.SMS).ext_message_id for _ in range(3)]
    sent, failed, retrying = mids
    sms: dict[str, Any] = {"channel": Channel.SMS, "provider": "generic"}
    rows: dict[Any, dict[str, Any]] = {}
    for event in [
        build.attempted(sent, 1, **sms),
        build.dispatch_failed(sent, 1, **sms),
        build.attempted(sent, 2, **sms),
        build.dispatched(sent, 2, provider_message_id="gen-1", **sms),
        build.dispatch_failed(sent, 3, retryable=False, **sms),  # after a send: ignored
        build.attempted(failed, 1, **sms),
        build.dispatch_failed(failed, 1, retryable=False, reason="invalid_number", **sms),
        build.attempted(retrying, 1, **sms),
        build.dispatch_failed(retrying, 1, **sms),
        build.attempted(retrying, 2, **sms),
        build.accepted(channel=Channel.SMS),  # not a dispatch fact
    ]:
        fold_ledger(rows, event)
    assert {m: (r["state"], r["attempt"], r["family"]) for m, r in rows.items()} == {
        sent: ("sent", 2, "sms"), failed: ("failed", 1, "sms"), retrying: ("sending", 2, "sms"),
    }
    assert rows[sent]["provider_message_id"] == "gen-1"
    assert rows[failed]["reason"] == "invalid_number"
