"""The PII leak test: distinctive addresses and numbers go through the vault (API and bulk
import) and the resolver as real processes; then every Kafka topic of this installation,
every column of the vault database outside the ciphertext columns, every log line and every
command's output are searched for them.  Zero hits."""

from __future__ import annotations

import json

import aiohttp
import pytest

from shared.domain import Channel, ChannelFamily
from shared.kafka import start_producer
from shared.sealing import SealingKeyring
from shared.work import DispatchWork
from tests.support.kafka import read_topic
from tests.support.leaks import VAULT_CIPHERTEXT_COLUMNS, all_table_text, all_topic_text, hits
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, run_cli
from tests.vault.support import accepted_event

EMAIL = "zebulon.quixotic@leakcheck-7731.org"
PHONE, PHONE_E164 = "+44 7400 987654", "+447400987654"
VIBER = "viber-needle-5521"
IMPORTED_EMAIL = "philippa.marrowbone@leakcheck-7731.org"
IMPORTED_PHONE, IMPORTED_E164 = "+357 99 765432", "+35799765432"
BAD_EMAIL = "quixotic.invalid@@leakcheck-7731.org"
NEEDLES = [
    "zebulon",
    "quixotic",
    "marrowbone",
    "leakcheck",
    "740098765",
    "7400 98765",
    "99765432",
    "99 765432",
    "viber-needle",
]


@pytest.mark.slow
async def test_no_address_or_number_leaks_anywhere(
    vault_env, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    vault_port, resolver_port = free_port(), free_port()
    env = {
        **vault_env,
        "BLINDPOST_LOG_LEVEL": "DEBUG",
        "BLINDPOST_VAULT_PORT": str(vault_port),
        "BLINDPOST_RESOLVER_PORT": str(resolver_port),
        "BLINDPOST_VAULT_URL": f"http://127.0.0.1:{vault_port}",
    }
    outputs: list[str] = []
    import_file = tmp_path / "players.jsonl"
    import_file.write_text(
        json.dumps({"ext_user_id": "imported-1", "email": IMPORTED_EMAIL, "phone": IMPORTED_PHONE})
        + "\n"
        + json.dumps({"ext_user_id": "imported-2", "email": BAD_EMAIL})
        + "\n"
    )
    done = run_cli(env, "vault", "import", str(import_file))
    outputs.append(done.stdout + done.stderr)
    assert "imported 1 subjects, rejected 1 lines" in done.stdout

    vault = await ServiceProcess("vault", env, vault_port, tmp_path / "vault.log").start()
    resolver = await ServiceProcess(
        "resolver", env, resolver_port, tmp_path / "resolver.log"
    ).start()
    try:
        admin = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
        base = f"http://127.0.0.1:{vault_port}"
        async with aiohttp.ClientSession(headers=admin) as http:
            for path, body in [
                ("/v1/subjects/player-1", {"email": EMAIL, "phone": PHONE, "viber_id": VIBER}),
                ("/v1/subjects/player-2", {"email": BAD_EMAIL}),
                ("/v1/subjects/player-3", {"phone": "+44 7400 98765", "email": EMAIL}),
                ("/v1/subjects/player-4", {"email": EMAIL}),
            ]:
                async with http.put(base + path, json=body) as response:
                    outputs.append(await response.text())
            async with http.get(base + "/v1/subjects/player-1") as response:
                outputs.append(await response.text())
            async with http.post(base + "/v1/lookups", json={"phone": PHONE}) as response:
                outputs.append(await response.text())
            async with http.delete(base + "/v1/subjects/player-4") as response:
                assert response.status == 200

        events = [
            accepted_event("player-1", Channel.EMAIL),
            accepted_event("player-1", Channel.SMS),
            accepted_event("player-1", Channel.VIBER),
            accepted_event("imported-1", Channel.SMS),
            accepted_event("imported-1", Channel.EMAIL),
            accepted_event("player-4", Channel.EMAIL),  # erased
        ]
        producer = await start_producer(kafka_bootstrap)
        try:
            for event in events:
                await producer.send_and_wait(topics.message_events, event.to_bytes(), key=event.key)
        finally:
            await producer.stop()
        email_work = await read_topic(kafka_bootstrap, topics.dispatch(Channel.EMAIL), expect=2)
        sms_work = [
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.SMS), expect=2),
            *await read_topic(kafka_bootstrap, topics.dispatch(Channel.VIBER), expect=1),
        ]
        await read_topic(kafka_bootstrap, topics.message_events, expect=12)
    finally:
        resolver.stop()
        vault.stop()

    # The addresses did travel, sealed, to the dispatchers that may open them.
    opened = set()
    for family, records in ((ChannelFamily.EMAIL, email_work), (ChannelFamily.SMS, sms_work)):
        keys = SealingKeyring.parse([env[f"BLINDPOST_SEAL_PRIVATE_KEYS_{family.value.upper()}"]])
        for record in records:
            work = DispatchWork.from_bytes(record.value)
            opened.add(keys.open(work.sealed_recipient, work.sealing_context()).decode())
    assert opened == {EMAIL, PHONE_E164, VIBER, IMPORTED_E164, IMPORTED_EMAIL}

    outputs.append(run_cli(env, "audit", "pii", "--user", "player-1", "--format", "json").stdout)
    outputs.append(run_cli(env, "audit", "verify").stdout)

    places: dict[str, str] = {}
    places.update(
        {f"topic {k}": v for k, v in (await all_topic_text(kafka_bootstrap, topics.prefix)).items()}
    )
    places.update(
        {
            f"table {k}": v
            for k, v in (await all_table_text(vault_dsn, VAULT_CIPHERTEXT_COLUMNS)).items()
        }
    )
    places["vault log"] = (tmp_path / "vault.log").read_text()
    places["resolver log"] = (tmp_path / "resolver.log").read_text()
    places.update({f"command output {n}": text for n, text in enumerate(outputs)})
    assert len([p for p in places if p.startswith("topic")]) >= 8
    assert "table audit_log.fields" in places and len(places["vault log"]) > 0

    # The search does find what it looks for (the import file holds every kind of needle).
    sample = import_file.read_text() + EMAIL + PHONE + PHONE_E164 + IMPORTED_E164 + VIBER
    assert set(hits(sample, NEEDLES)) == set(NEEDLES)
    leaks = {place: hits(text, NEEDLES) for place, text in places.items() if hits(text, NEEDLES)}
    assert leaks == {}
