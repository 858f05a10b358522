"""Issue 14's acceptance, every service a real process: a campaign goes out through the real
SMTP path; a remote MTA returns a DSN for one recipient and an ARF report for another to the
envelope sender each mail carried; Smartico hears ``failed`` and ``complained`` for exactly
those messages, once each; the vault suppresses those players and intake answers 5 for them
on e-mail.  A mail for any other address at the bounce port is refused at RCPT."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from functools import partial

import aiohttp
import aiosmtplib
import pytest

from shared.verp import BounceAddresses
from tests.bounce.samples import arf, dsn, send_as_remote_mta
from tests.dispatch.support import RecordingSmtpHandler, smtp_server
from tests.support.gateway import plan_gateway, service_processes, start_outside_world, started
from tests.support.polling import eventually
from tests.support.processes import run_cli

SERVICES = [
    "vault",
    "intake",
    "resolver",
    "dispatch-email",
    "status-ingest",
    "callback-relay",
    "bounce-receiver",
]
PLAYERS = {
    "bounce-player-dead": "nobody-here.hollowmere@bounce-needle-5521.example",
    "bounce-player-angry": "furious.ashgrove@bounce-needle-5521.example",
    "bounce-player-happy": "content.willowby@bounce-needle-5521.example",
}
DEAD, ANGRY, HAPPY = PLAYERS


async def answer(http: aiohttp.ClientSession, url: str, secret: str, body: dict) -> dict:
    async with http.post(url, json=body, headers={"Authorization": secret}) as response:
        assert response.status == 200
        result: dict = await response.json()
    return result


@pytest.mark.slow
async def test_bounces_and_complaints_reach_smartico_once_and_suppress_the_players(
    base_env, events_dsn, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    world = await start_outside_world(base_env)
    mx = RecordingSmtpHandler()
    server, smtp_port = await smtp_server(mx)
    ports, env = plan_gateway(base_env, SERVICES, events_dsn, vault_dsn, world, smtp_port)
    bounce_port = int(env["BLINDPOST_BOUNCE_SMTP_PORT"])
    verp = BounceAddresses.from_env(env).require()
    try:
        async with started(service_processes(SERVICES, env, ports, tmp_path)):
            intake = f"http://127.0.0.1:{ports['intake']}/v1/email"
            secret = env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]
            admin = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
            async with aiohttp.ClientSession() as http:
                for player, address in PLAYERS.items():
                    url = f"http://127.0.0.1:{ports['vault']}/v1/subjects/{player}"
                    async with http.put(url, json={"email": address}, headers=admin) as response:
                        assert response.status == 200

                def mail(player: str, uid: str) -> dict:
                    return {
                        "ext_user_id": player,
                        "from_email_address": "Casino <noreply@casino.example>",
                        "subject": "Your offer",
                        "body": "<p>Hello</p>",
                        "email_uid": uid,
                        "callback_url": world.url("/smartico/callback"),
                    }

                async def accepted(player: str) -> str | None:
                    result = await answer(http, intake, secret, mail(player, f"campaign-{player}"))
                    return str(result["ext_message_id"]) if result["error_code"] == 0 else None

                ids: dict[str, str] = {}
                for player in PLAYERS:
                    found = await eventually(
                        partial(accepted, player), within=20, what=f"intake to know {player}"
                    )
                    ids[player] = str(found)

                # The campaign reaches the players' mail server, each mail with its VERP sender.
                await eventually(lambda: len(mx.received) == 3, within=60, what="three mails")
                sender_of = {rcpts[0]: mail_from for mail_from, rcpts, _data in mx.received}
                envelope = {player: sender_of[address] for player, address in PLAYERS.items()}
                for player, sender in envelope.items():
                    assert str(verp.message_of(sender)) == ids[player]
                    assert PLAYERS[player].split("@")[0] not in sender and player not in sender

                # Not an open relay: anything but one of our VERP addresses is refused at RCPT.
                forged = envelope[HAPPY].replace(envelope[HAPPY][-20], "z", 1)
                for stranger in ("postmaster@example.org", forged, "b-" + "a" * 43 + "@x.example"):
                    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
                        await send_as_remote_mta(
                            bounce_port, stranger, b"Subject: hi\r\n\r\nhi\r\n"
                        )
                    assert refused.value.recipients[0].code == 550

                # A remote MTA returns a hard bounce and a feedback-loop report; the same bounce
                # arrives twice, as retrying MTAs do.
                dead_report = dsn(envelope[DEAD], PLAYERS[DEAD], status="5.1.1")
                await send_as_remote_mta(bounce_port, envelope[DEAD], dead_report)
                await send_as_remote_mta(
                    bounce_port, envelope[ANGRY], arf(envelope[ANGRY], PLAYERS[ANGRY])
                )
                await send_as_remote_mta(bounce_port, envelope[DEAD], dead_report)
                # A delayed DSN is not final: recorded, never reported.
                await send_as_remote_mta(
                    bounce_port,
                    envelope[HAPPY],
                    dsn(envelope[HAPPY], PLAYERS[HAPPY], action="delayed", status="4.4.7"),
                )
                # The sentinel: a success DSN for the happy player, sent last.
                await send_as_remote_mta(
                    bounce_port,
                    envelope[HAPPY],
                    dsn(envelope[HAPPY], PLAYERS[HAPPY], action="delivered", status="2.0.0"),
                )

                def reported() -> Counter[tuple[str, str]]:
                    return Counter((c["ext_message_id"], c["status"]) for c in world.callbacks)

                expected = [
                    (ids[DEAD], "failed"),
                    (ids[ANGRY], "complained"),
                    (ids[HAPPY], "delivered"),
                ]

                def all_reported() -> bool:
                    return all(reported()[key] for key in expected)

                await eventually(
                    all_reported,
                    within=60,
                    what="failed, complained and the sentinel's delivered",
                )
                final = {
                    key: n for key, n in reported().items() if key[1] not in ("accepted", "opened")
                }
                assert final == dict.fromkeys(expected, 1)

                # The vault suppressed the two players; intake answers 5 for them, 0 for the other.
                async def code(player: str, uid: str) -> int:
                    return int(
                        (await answer(http, intake, secret, mail(player, uid)))["error_code"]
                    )

                # A fresh uid each time: intake answers a repeated uid with its first answer, so
                # an attempt made before the suppression reached intake would stay 0 for ever.
                attempts = itertools.count()

                async def suppressed(player: str) -> bool:
                    return await code(player, f"next-{player}-{next(attempts)}") == 5

                for player in (DEAD, ANGRY):
                    await eventually(
                        partial(suppressed, player),
                        within=30,
                        what=f"intake to answer 5 for {player}",
                    )
                assert await code(HAPPY, f"next-{HAPPY}") == 0

            listed = run_cli(env, "suppressions", "list", "--format", "json", timeout=60)
            assert listed.returncode == 0, listed.stderr[-2000:]
            rows = {row["ext_user_id"]: row for row in json.loads(listed.stdout)}
            assert set(rows) == {DEAD, ANGRY}
            assert (rows[DEAD]["reason"], rows[DEAD]["detail"]) == ("hard_bounce", "5.1")
            assert (rows[ANGRY]["reason"], rows[ANGRY]["detail"]) == ("complaint", "abuse")
            assert rows[DEAD]["ext_message_id"] == ids[DEAD]
    finally:
        server.close()
        await world.stop()

    # Nothing of the reports is logged: no address, no name.
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    for address in PLAYERS.values():
        assert address.split("@")[0] not in logs
    assert "bounce-needle" not in logs
