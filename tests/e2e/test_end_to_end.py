"""The whole gateway, every service a real process, against the real broker and database:
Smartico posts e-mail, SMS, WhatsApp, custom IM and a preview; the mail arrives at a real
SMTP server, the SMS and IM at stand-ins speaking the providers' formats; the player opens,
clicks and unsubscribes; Smartico receives every status exactly once; the event log shows
the whole timeline.  Then every topic, every table outside the vault's ciphertext, every
log line and every command's output is searched for the player's address and number.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import json
import re
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.dispatch.providers.cim import verify_signature
from tests.support.gateway import SERVICES, plan_gateway, start_outside_world
from tests.support.leaks import VAULT_CIPHERTEXT_COLUMNS, all_table_text, all_topic_text, hits
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, run_cli

EMAIL = "octavia.brightwater@e2e-needle-4417.com"
PHONE, PHONE_E164 = "+44 7911 123417", "+447911123417"
PREVIEW_EMAIL = "reviewer.quillfeather@e2e-needle-4417.com"
NEEDLES = ["brightwater", "quillfeather", "e2e-needle", "7911123417", "7911 123417"]
PLAYER = "e2e-player-1"


async def post(http: aiohttp.ClientSession, url: str, secret: str, body: dict) -> dict:
    """Posts as Smartico does; retries only 'User was not found' while the directory catches
    up with the subject the vault just published."""

    async def answered() -> dict | None:
        async with http.post(url, json=body, headers={"Authorization": secret}) as response:
            assert response.status == 200
            answer: dict = await response.json()
        return answer if answer["error_code"] != 1 else None

    return await eventually(answered, within=10, what=f"intake to know the player ({url})")


def blindpost(env: dict[str, str], seen: list[str], *args: str) -> str:
    """The command's report (stdout); all it printed, log lines too, goes to the leak search."""
    done = run_cli({**env, "PATH": "/usr/bin:/bin"}, *args, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    seen.append(done.stdout + done.stderr)
    return done.stdout


@pytest.mark.slow
async def test_a_campaign_goes_out_statuses_come_back_and_no_address_leaks(
    base_env, events_dsn, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    world = await start_outside_world(base_env)
    ports, env = plan_gateway(
        base_env, SERVICES, events_dsn, vault_dsn, world, BLINDPOST_LOG_LEVEL="DEBUG"
    )
    logs = tmp_path / "logs"
    processes = [
        ServiceProcess(service, env, ports[service], logs / f"{service}.log")
        for service in SERVICES
    ]
    outputs: list[str] = []
    try:
        await asyncio.gather(*(process.start(timeout_s=60) for process in processes))
        intake = f"http://127.0.0.1:{ports['intake']}"
        secret = env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]
        callback_url = world.url("/smartico/callback?tenant=42")
        async with aiohttp.ClientSession() as http:
            async with http.put(
                f"http://127.0.0.1:{ports['vault']}/v1/subjects/{PLAYER}",
                json={"email": EMAIL, "phone": PHONE},
                headers={"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"},
            ) as response:
                outputs.append(await response.text())
                assert response.status == 200, outputs[-1]

            email_body = {
                "ext_user_id": PLAYER,
                "from_email_address": "Amazing <noreply@amazing.example>",
                "reply_to_email_address": "Amazing <support@amazing.example>",
                "subject": "The best offer",
                "body": '<html><body><p>Hi!</p><a href="https://amazing.example/offer">Get it</a></body></html>',
                "text_body": "Hi! https://amazing.example/offer",
                "email_uid": "e2e-email-1",
                "callback_url": callback_url,
            }
            sms_body = {
                "ext_user_id": PLAYER,
                "body": "Best offer ever",
                "callback_url": callback_url,
            }
            answers = {
                "email": await post(http, f"{intake}/v1/email", secret, email_body),
                "sms": await post(
                    http, f"{intake}/v1/sms", secret, {**sms_body, "im_uid": "e2e-sms-1"}
                ),
                "whatsapp": await post(
                    http, f"{intake}/v1/whatsapp", secret, {**sms_body, "im_uid": "e2e-wa-1"}
                ),
                "cim": await post(
                    http,
                    f"{intake}/v1/cim",
                    secret,
                    {
                        **sms_body,
                        "im_uid": "e2e-cim-1",
                        "extension": {"title": "Microsoft is raising", "action": "BUY"},
                    },
                ),
                "preview": await post(
                    http,
                    f"{intake}/v1/email",
                    secret,
                    {
                        **email_body,
                        "email_uid": "e2e-preview-1",
                        "activity_type": "preview",
                        "to_email_address": PREVIEW_EMAIL,
                    },
                ),
            }
            outputs.append(json.dumps(answers))
            assert {kind: a["error_code"] for kind, a in answers.items()} == dict.fromkeys(
                answers, 0
            )
            ids = {kind: a["ext_message_id"] for kind, a in answers.items()}
            # A retry of the same request is the same message, never a second one.
            again = await post(http, f"{intake}/v1/email", secret, email_body)
            assert again == answers["email"]

            # Everything arrives where it should, once.
            mail_dir = Path(env["BLINDPOST_VAR_DIR"]) / "mail"
            await eventually(
                lambda: len(list(mail_dir.glob("*.eml"))) == 2, within=60, what="2 mails"
            )
            mails = sorted(mail_dir.glob("*.eml"))
            await eventually(lambda: len(world.sms) == 2, within=60, what="2 SMS")
            await eventually(lambda: len(world.cim) == 1, within=60, what="the custom IM")
            by_recipient = {
                m["To"]: m
                for m in (
                    email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                    for p in mails
                )
            }
            assert set(by_recipient) == {EMAIL, PREVIEW_EMAIL}
            assert sorted(s["to"] for s in world.sms) == [PHONE_E164, PHONE_E164]
            assert sorted(s["channel"] for s in world.sms) == ["sms", "whatsapp"]
            cim_body, cim_signature = world.cim[0]
            assert verify_signature(
                [env["BLINDPOST_CIM_SIGNING_SECRET"].encode()], cim_signature, cim_body
            )
            assert json.loads(cim_body)["extension"]["title"] == "Microsoft is raising"

            # Every message is reported accepted, with the callback URL's own parameters kept.
            await eventually(
                lambda: (
                    {(c["ext_message_id"], c["status"]) for c in world.callbacks}
                    >= {(mid, "accepted") for mid in ids.values()}
                ),
                within=60,
                what="accepted for every message",
            )
            assert {c["tenant"] for c in world.callbacks} == {"42"}
            channel_of = {c["ext_message_id"]: c["type"] for c in world.callbacks}
            assert [channel_of[ids[k]] for k in ("email", "sms", "whatsapp", "cim", "preview")] == [
                "email",
                "sms",
                "sms",
                "cim",
                "email",
            ]

            # The player opens, clicks and unsubscribes.
            mail = by_recipient[EMAIL]
            html_part, plain_part = mail.get_body(("html",)), mail.get_body(("plain",))
            assert html_part is not None and plain_part is not None
            html = html_part.get_content()
            assert plain_part.get_content().startswith("Hi!")
            pixel_link = re.search(r'<img src="([^"]+/t/o/[^"]+)"', html)
            click_link = re.search(r'href="([^"]+/t/c/[^"]+)"', html)
            assert pixel_link and click_link, html
            pixel, click = pixel_link.group(1), click_link.group(1)
            unsubscribe = mail["List-Unsubscribe"].strip("<>")
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            async with http.get(pixel) as response:
                assert response.status == 200 and response.content_type == "image/gif"
            async with http.get(click, allow_redirects=False) as response:
                assert response.status == 302
                assert response.headers["Location"] == "https://amazing.example/offer"
            async with http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}) as response:
                assert response.status == 200
            expected = {
                (ids["email"], status)
                for status in ("accepted", "opened", "clicked", "unsubscribed")
            }
            await eventually(
                lambda: {(c["ext_message_id"], c["status"]) for c in world.callbacks} >= expected,
                within=60,
                what="opened, clicked and unsubscribed",
            )
            # The opt-out reached the vault, and through its facts, intake.
            opted_out = await eventually_answer(
                http, f"{intake}/v1/email", secret, {**email_body, "email_uid": "e2e-email-2"}, 5
            )
            outputs.append(json.dumps(opted_out))

        reported = Counter((c["ext_message_id"], c["status"]) for c in world.callbacks)
        assert max(reported.values()) == 1, f"a status reported twice: {reported}"
        assert all(c["api_key"] == env["BLINDPOST_CALLBACK_API_KEY"] for c in world.callbacks)

        # The event log tells the whole story, with the vault read made for the message.
        def timeline() -> dict[str, Any] | None:
            view = json.loads(
                blindpost(env, outputs, "messages", "show", ids["email"], "--format", "json")
            )
            types = [event["type"] for event in view["events"]]
            return view if types.count("callback.delivered") >= 4 else None

        view = await eventually(timeline, within=60, what="the timeline to include every callback")
        assert view is not None
        outputs.append(json.dumps(view))
        types = [event["type"] for event in view["events"]]

        def last(event_type: str) -> int:
            return len(types) - 1 - types[::-1].index(event_type)

        for earlier, later in [
            ("message.accepted", "recipient.resolved"),
            ("recipient.resolved", "dispatch.attempted"),
            ("dispatch.attempted", "dispatch.succeeded"),
            ("dispatch.succeeded", "status.reported"),
            ("status.reported", "callback.delivered"),
        ]:
            assert types.index(earlier) < last(later), types
        assert types.count("status.reported") == 3  # opened, clicked, unsubscribed
        assert [r["purpose"] for r in view["vault_reads"]] == ["dispatch", "one-click-unsubscribe"]
        # The trail of the address's use: the vault's audited read for this message, then
        # the dispatcher process that handed it to the provider.
        read = view["vault_reads"][0]
        assert (read["decision"], read["caller"], read["fields"]) == ("read", "resolver", ["email"])
        (attempt,) = [e for e in view["events"] if e["type"] == "dispatch.attempted"]
        assert attempt["payload"]["dispatcher"] == socket.gethostname()  # no instance id set
        assert read["at"] < attempt["occurred_at"]
        blindpost(env, outputs, "messages", "show", ids["sms"])
        blindpost(env, outputs, "events", "verify")
        blindpost(env, outputs, "audit", "verify")
        blindpost(env, outputs, "audit", "pii", "--user", PLAYER, "--format", "json")
    finally:
        for process in processes:
            process.stop()
        await world.stop()

    # Nothing anywhere holds the address or the number, except the vault's ciphertext and the
    # outside world that was meant to receive them.
    places: dict[str, str] = {}
    places.update(
        {f"topic {k}": v for k, v in (await all_topic_text(kafka_bootstrap, topics.prefix)).items()}
    )
    places.update({f"events table {k}": v for k, v in (await all_table_text(events_dsn)).items()})
    places.update(
        {
            f"vault table {k}": v
            for k, v in (await all_table_text(vault_dsn, VAULT_CIPHERTEXT_COLUMNS)).items()
        }
    )
    places.update({f"log {p.name}": p.read_text() for p in logs.glob("*.log")})
    places.update({f"output {n}": text for n, text in enumerate(outputs)})
    places["callbacks received by Smartico"] = json.dumps(world.callbacks)
    assert sum(len(text) for key, text in places.items() if key.startswith("log")) > 10_000
    assert any(key.startswith("events table events.") for key in places)
    assert set(hits(EMAIL + PHONE + PHONE_E164 + PREVIEW_EMAIL, NEEDLES)) == set(NEEDLES)
    leaks = {place: hits(text, NEEDLES) for place, text in places.items() if hits(text, NEEDLES)}
    assert leaks == {}


async def eventually_answer(
    http: aiohttp.ClientSession, url: str, secret: str, body: dict, code: int
) -> dict:
    """Posts new messages (a fresh uid each time) until intake gives ``code``."""
    attempts = itertools.count()

    async def answered() -> dict | None:
        fresh = {**body, "email_uid": f"{body['email_uid']}-{next(attempts)}"}
        async with http.post(url, json=fresh, headers={"Authorization": secret}) as response:
            answer: dict = await response.json()
        return answer if answer["error_code"] == code else None

    return await eventually(answered, within=30, interval=0.2, what=f"error_code {code}")
