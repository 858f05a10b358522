"""Crypto-shredding of message content, through the whole gateway (every service a real
process): a player gets e-mails and a custom IM, they arrive in clear at a real SMTP server
and the IM receiver; one more e-mail is resolved while its dispatcher is down.  The player is
erased through the vault's API.  Then no topic (read uncommitted, from the beginning), no
table of either database and no log line holds a subject, body or extension sent to them, as
written, in hex or in base64; the message still held by the dispatcher ends ``failed`` with
``content_erased``; and ``blindpost messages show`` still lists every state of every message."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
from typing import Any

import aiohttp
import pytest

from tests.support.gateway import outside_the_gateway, plan_gateway, service_processes
from tests.support.leaks import all_table_text, all_topic_text, hits
from tests.support.polling import eventually
from tests.support.processes import run_cli

SERVICES = ["vault", "projector", "intake", "resolver", "dispatch-email", "dispatch-cim"]
PLAYER = "shred-player-1"
SUBJECTS = ["Quinceleaf bonus 7731", "Marrowgate news 2290"]
BODIES = ["<p>Velvetfern spins 5518</p>", "<p>Hollowmere cashback 6604</p>"]
TEXT_BODY = "Thistlewick plain 8812"
EXTENSION_TITLE = "Brackenhold offer 3391"
LATE_SUBJECT, LATE_BODY = "Stillwater late 4471", "<p>Larkspur late 9925</p>"
WORDS = [
    "Quinceleaf",
    "Marrowgate",
    "Velvetfern",
    "Hollowmere",
    "Thistlewick",
    "Brackenhold",
    "Stillwater",
    "Larkspur",
]


def base64_forms(word: str) -> list[str]:
    """The word's base64 as it shows inside any longer base64 text, at each of the three
    alignments (standard and URL-safe alphabets alike), edges that depend on neighbours cut."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + word.encode()).decode().rstrip("=")
        middle = encoded[(shift * 4 + 2) // 3 + 1 : -2]
        forms += [middle, middle.replace("+", "-").replace("/", "_")]
    return forms


def needles() -> list[str]:
    return WORDS + [form for word in WORDS for form in base64_forms(word)]


def show(env: dict[str, str], ext_message_id: str) -> dict[str, Any]:
    done = run_cli({**env, "PATH": "/usr/bin:/bin"}, "messages", "show", ext_message_id,
                   "--format", "json", timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    view: dict[str, Any] = json.loads(done.stdout)
    return view


def types_of(env: dict[str, str], ext_message_id: str) -> list[str]:
    return [event["type"] for event in show(env, ext_message_id)["events"]]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_an_erased_players_content_is_gone_everywhere_and_every_state_stays(
    base_env, events_dsn, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    async with outside_the_gateway(base_env) as outside:
        # Status ingest is not started; its port is in the environment (tracking links).
        ports, env = plan_gateway(
            base_env,
            [*SERVICES, "status-ingest"],
            events_dsn,
            vault_dsn,
            outside.world,
            outside.smtp_port,
        )
        processes = service_processes(SERVICES, env, ports, tmp_path / "logs")
        vault = f"http://127.0.0.1:{ports['vault']}"
        admin = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
        smartico = {"Authorization": env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]}
        intake = f"http://127.0.0.1:{ports['intake']}"
        try:
            await asyncio.gather(*(p.start(timeout_s=60) for p in processes.values()))
            async with aiohttp.ClientSession() as http:
                async with http.put(
                    f"{vault}/v1/subjects/{PLAYER}",
                    json={"email": "shred.player@example.org"},
                    headers=admin,
                ) as response:
                    assert response.status == 200, await response.text()

                async def send(channel: str, body: dict[str, Any]) -> str:
                    async def accepted() -> str:
                        async with http.post(
                            f"{intake}/v1/{channel}", json=body, headers=smartico
                        ) as response:
                            answer = await response.json()
                        # 1 while intake's directory catches up with the vault's facts.
                        assert answer["error_code"] in (0, 1), answer
                        return str(answer.get("ext_message_id") or "")

                    return await eventually(accepted, within=20, what=f"{channel} accepted")

                common = {"ext_user_id": PLAYER, "callback_url": "http://127.0.0.1:9/cb"}
                mail = {**common, "from_email_address": "Casino <news@casino.example>"}
                ids = [
                    await send(
                        "email",
                        {
                            **mail,
                            "subject": SUBJECTS[0],
                            "body": BODIES[0],
                            "text_body": TEXT_BODY,
                            "email_uid": "shred-1",
                        },
                    ),  # fmt: skip
                    await send(
                        "email",
                        {**mail, "subject": SUBJECTS[1], "body": BODIES[1], "email_uid": "shred-2"},
                    ),
                    await send(
                        "cim",
                        {
                            **common,
                            "body": BODIES[0],
                            "im_uid": "shred-3",
                            "extension": {"title": EXTENSION_TITLE},
                        },
                    ),  # fmt: skip
                ]
                # Delivered in clear where they were meant to go.
                await eventually(
                    lambda: len(outside.mails.received) == 2, within=60, what="both mails"
                )
                await eventually(lambda: len(outside.world.cim) == 1, within=60, what="the IM")
                subjects = {
                    str(email.message_from_bytes(data, policy=email.policy.default)["Subject"])
                    for _from, _to, data in outside.mails.received
                }
                assert subjects == set(SUBJECTS)
                first = next(
                    message
                    for message in (
                        email.message_from_bytes(data, policy=email.policy.default)
                        for _from, _to, data in outside.mails.received
                    )
                    if str(message["Subject"]) == SUBJECTS[0]
                )
                html = first.get_body(("html",))
                assert html is not None and "Velvetfern spins 5518" in html.get_content()
                cim = json.loads(outside.world.cim[0][0])
                assert cim["extension"] == {"title": EXTENSION_TITLE}
                assert cim["body"] == BODIES[0]

                # One more, resolved while its dispatcher is away: it will meet the erasure.
                processes["dispatch-email"].stop()
                late = await send(
                    "email",
                    {**mail, "subject": LATE_SUBJECT, "body": LATE_BODY, "email_uid": "shred-4"},
                )
                ids.append(late)
                await eventually(
                    lambda: "recipient.resolved" in types_of(env, late),
                    within=60,
                    what="the late mail resolved",
                )
                await eventually(
                    lambda: all("dispatch.succeeded" in types_of(env, mid) for mid in ids[:3]),
                    within=60,
                    what="every delivery in the event store",
                )

                async with http.delete(f"{vault}/v1/subjects/{PLAYER}", headers=admin) as response:
                    assert response.status == 200, await response.text()
                await processes["dispatch-email"].start(timeout_s=60)

                def late_failure() -> dict[str, Any]:
                    events = show(env, late)["events"]
                    return next((e for e in events if e["type"] == "dispatch.failed"), {})

                failed = await eventually(late_failure, within=60, what="the late mail failed")
                assert failed["payload"]["reason"] == "content_erased"
                assert len(outside.mails.received) == 2  # never sent
        finally:
            for process in processes.values():
                process.stop()

    # Every state of every message is still told...
    delivered = ["message.accepted", "recipient.resolved", "dispatch.attempted"]
    for mid in ids[:3]:
        types = types_of(env, mid)
        assert all(t in types for t in [*delivered, "dispatch.succeeded"]), types
        assert show(env, mid)["message"]["stage"] == "dispatched"
    assert show(env, late)["message"]["status"] == "failed"
    assert "message.accepted" in types_of(env, late)

    # ... and no copy of what was said is readable anywhere.
    places: dict[str, str] = {}
    topic_text = await all_topic_text(kafka_bootstrap, topics.prefix)
    places.update({f"topic {name}": text for name, text in topic_text.items()})
    places.update({f"events table {k}": v for k, v in (await all_table_text(events_dsn)).items()})
    places.update({f"vault table {k}": v for k, v in (await all_table_text(vault_dsn)).items()})
    places.update({f"log {p.name}": p.read_text() for p in (tmp_path / "logs").glob("*.log")})
    assert any(name.endswith("message-events") for name in topic_text)
    assert places["events table events.content"].count("sealed") >= 4
    assert any(key.startswith("events table dispatch_ledger") for key in places)
    # The search would see the words had they stayed in any of the forms searched.
    sample = (
        json.dumps({"subject": SUBJECTS[0]}) + base64.b64encode(b"x" + TEXT_BODY.encode()).decode()
    )
    assert "Quinceleaf" in hits(sample, needles())
    assert set(hits(sample, needles())) & set(base64_forms("Thistlewick"))
    leaks = {place: hits(text, needles()) for place, text in places.items()}
    assert {place: found for place, found in leaks.items() if found} == {}
