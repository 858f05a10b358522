"""The auditor's view: ``blindpost messages show`` gives every stage of a message in order,
with the vault reads made for it; ``blindpost messages find`` finds messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import Channel
from tests.eventstore.support import (
    count,
    lifecycle,
    migrated_pool,
    produce,
    produce_facts,
    projector_process,
    vault_read,
)
from tests.support.polling import eventually
from tests.support.processes import run_cli


@pytest.mark.slow
async def test_a_timeline_shows_every_stage_in_order_with_the_vault_reads(
    kafka_bootstrap, topics, events_dsn, base_env, tmp_path
):
    start = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    message = lifecycle("welcome-42", ext_user_id="player-42", start=start)
    other = lifecycle(
        "sms-7",
        channel=Channel.SMS,
        ext_user_id="player-42",
        start=start + timedelta(hours=2),
        provider="twilio",
    )[:6]
    stranger = lifecycle("other-1", ext_user_id="player-99", start=start)[:3]
    read = vault_read(message[0], ms_after=10)
    # The vault publishes its facts on its own topic, in its own time.
    await produce_facts(kafka_bootstrap, topics, [vault_read(stranger[0]), read])
    await produce(kafka_bootstrap, topics.message_events, message + other + stranger)

    service = projector_process(base_env, events_dsn, tmp_path)
    env = service.env
    await service.start()
    pool = await migrated_pool(events_dsn)
    try:

        async def stored() -> bool:
            return (
                await count(pool, "SELECT count(*) FROM events")
                == len(message) + len(other) + len(stranger)
                and await count(pool, "SELECT count(*) FROM vault_audit_facts") == 2
            )

        await eventually(stored, within=60, what="every event and audit fact stored")
    finally:
        service.stop()
        await pool.close()

    mid = str(message[0].ext_message_id)
    shown = run_cli(env, "messages", "show", mid, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert [e["event_id"] for e in view["events"]] == [str(e.event_id) for e in message]
    assert [e["type"] for e in view["events"]] == [
        "message.accepted",
        "recipient.resolved",
        "dispatch.attempted",
        "dispatch.failed",
        "dispatch.attempted",
        "dispatch.succeeded",
        "callback.attempted",
        "callback.delivered",
        "status.reported",
        "callback.attempted",
        "callback.attempted",
        "callback.delivered",
        "status.reported",
        "callback.attempted",
        "callback.delivered",
    ]
    assert [e["version"] for e in view["events"]] == list(range(1, 16))
    assert view["events"][0]["content"]["subject"] == "Your weekly bonus"
    assert [r["audit_id"] for r in view["vault_reads"]] == [read["audit_id"]]
    assert view["vault_reads"][0] | {"at": None} == {
        "audit_id": read["audit_id"],
        "at": None,
        "caller": "resolver",
        "scope": "resolver",
        "purpose": "dispatch",
        "fields": ["email"],
        "decision": "read",
        "ext_user_id": "player-42",
        "request_id": "req-welcome-42",
    }
    state = view["message"]
    assert state["status"] == "opened"
    assert state["stage"] == "dispatched"
    assert state["attempts"] == 2
    assert set(state["status_times"]) == {"accepted", "delivered", "opened"}
    delivered_callback = state["callbacks"]["delivered"]
    assert (delivered_callback["attempts"], delivered_callback["outcome"]) == (2, "delivered")
    assert delivered_callback["at"] == view["events"][11]["occurred_at"]

    text = run_cli(env, "messages", "show", mid)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    accepted = next(i for i, line in enumerate(lines) if "message.accepted" in line)
    vault = next(i for i, line in enumerate(lines) if "vault read" in line)
    resolved = next(i for i, line in enumerate(lines) if "recipient.resolved" in line)
    assert accepted < vault < resolved  # the read sits where it happened

    found = run_cli(env, "messages", "find", "--ext-user-id", "player-42", "--format", "json")
    assert [m["uid"] for m in json.loads(found.stdout)] == ["sms-7", "welcome-42"]
    by_status = run_cli(
        env, "messages", "find", "--status", "opened", "--channel", "email", "--format", "json"
    )
    assert [m["uid"] for m in json.loads(by_status.stdout)] == ["welcome-42"]
    by_uid = run_cli(env, "messages", "find", "--uid", "sms-7", "--format", "json")
    assert [m["stage"] for m in json.loads(by_uid.stdout)] == ["dispatched"]
    in_window = run_cli(
        env,
        "messages",
        "find",
        "--since",
        (start + timedelta(hours=1)).isoformat(),
        "--until",
        (start + timedelta(hours=3)).isoformat(),
        "--format",
        "json",
    )
    assert [m["uid"] for m in json.loads(in_window.stdout)] == ["sms-7"]
    missing = run_cli(env, "messages", "show", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1
