"""Viber's delivery callbacks, every service a real process: Smartico posts a Viber message,
the dispatcher sends it through Viber's bot API (its stand-in answers with a message token),
Viber calls the bot's webhook back, signed, for that token; status ingest matches the token
to the message and Smartico hears ``delivered`` and ``opened`` once each.  The player's Viber
id, which every callback carries, is in no topic, table or log."""

from __future__ import annotations

import time
from collections import Counter

import aiohttp
import pytest

from tests.dispatch.support import Served
from tests.dispatch.test_channels import ViberBotApi
from tests.status_ingest import payloads as p
from tests.support.gateway import plan_gateway, service_processes, start_outside_world, started
from tests.support.leaks import all_table_text, all_topic_text, hits
from tests.support.polling import eventually

SERVICES = ["vault", "intake", "resolver", "dispatch-viber", "status-ingest", "callback-relay"]
PLAYER = "viber-player-1"
VIBER_ID = "Qm9vdGg-viberneedle-8812=="
NEEDLE = "viberneedle"


async def post(http: aiohttp.ClientSession, url: str, signed: p.Signed) -> int:
    async with http.post(url, data=signed.body, headers=signed.headers) as response:
        return response.status


@pytest.mark.slow
async def test_viber_callbacks_reach_smartico_once_matched_by_their_message_token(
    base_env, events_dsn, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    world = await start_outside_world(base_env)
    bot_api = ViberBotApi({})
    async with Served(bot_api.app()) as viber:
        ports, env = plan_gateway(
            base_env,
            SERVICES,
            events_dsn,
            vault_dsn,
            world,
            BLINDPOST_VIBER_PROVIDER="viber",
            BLINDPOST_VIBER_AUTH_TOKEN=p.VIBER_TOKEN,
            BLINDPOST_VIBER_SENDER_NAME="Amazing Casino",
            BLINDPOST_VIBER_BASE_URL=viber.url,
        )
        try:
            async with started(service_processes(SERVICES, env, ports, tmp_path)):
                webhook = f"http://127.0.0.1:{ports['status-ingest']}/webhooks/viber"
                secret = env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]
                admin = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
                async with aiohttp.ClientSession() as http:
                    subject = f"http://127.0.0.1:{ports['vault']}/v1/subjects/{PLAYER}"
                    async with http.put(subject, json={"viber_id": VIBER_ID}, headers=admin) as r:
                        assert r.status == 200

                    message = {
                        "ext_user_id": PLAYER,
                        "body": "Free spins tonight",
                        "im_uid": "viber-campaign-1",
                        "callback_url": world.url("/smartico/callback"),
                    }

                    async def accepted() -> str | None:
                        intake = f"http://127.0.0.1:{ports['intake']}/v1/viber"
                        async with http.post(
                            intake, json=message, headers={"Authorization": secret}
                        ) as response:
                            answer = await response.json()
                        return str(answer["ext_message_id"]) if answer["error_code"] == 0 else None

                    mid = await eventually(accepted, within=20, what="intake to know the player")
                    await eventually(lambda: bot_api.requests, within=60, what="the Viber send")
                    ((_headers, sent),) = bot_api.requests
                    assert (sent["receiver"], sent["tracking_data"]) == (VIBER_ID, mid)
                    token = 5741311803571721087 + 1  # what the stand-in answered

                    def callback(
                        event: str, auth: str = p.VIBER_TOKEN, at: int | None = None
                    ) -> p.Signed:
                        return p.viber(event, token, token=auth, timestamp_ms=at, user_id=VIBER_ID)

                    assert await post(http, webhook, callback("delivered", auth="not-ours")) == 401
                    assert await post(http, webhook, p.viber("webhook", 1)) == 200  # the URL check
                    delivered = callback("delivered")
                    assert await post(http, webhook, delivered) == 200
                    assert await post(http, webhook, delivered) == 409  # the very same request
                    # Viber's retry of the same event, signed at another time: the same event.
                    later = int(time.time() * 1000) + 1500
                    assert await post(http, webhook, callback("delivered", at=later)) == 200
                    # A reply from the player names no message of ours: not applied.
                    reply = p.viber(
                        "message",
                        4912661846655238999,
                        user_id=VIBER_ID,
                        sender={"id": VIBER_ID, "name": "Jane"},
                        message={"type": "text", "text": "who is this?"},
                    )
                    assert await post(http, webhook, reply) == 200
                    assert await post(http, webhook, callback("seen")) == 200

                    def reported() -> Counter[tuple[str, str]]:
                        return Counter((c["ext_message_id"], c["status"]) for c in world.callbacks)

                    expected = {(mid, "accepted"): 1, (mid, "delivered"): 1, (mid, "opened"): 1}
                    await eventually(
                        lambda: set(reported()) >= set(expected),
                        within=60,
                        what="accepted, delivered and opened at Smartico's stand-in",
                    )
                    assert reported() == expected
                    assert {c["type"] for c in world.callbacks} == {"sms"}
        finally:
            await world.stop()

    places = {
        f"topic {k}": v for k, v in (await all_topic_text(kafka_bootstrap, topics.prefix)).items()
    }
    places.update({f"table {k}": v for k, v in (await all_table_text(events_dsn)).items()})
    places.update({f"log {f.name}": f.read_text() for f in tmp_path.glob("*.log")})
    assert {place for place, text in places.items() if hits(text, [NEEDLE])} == set()
