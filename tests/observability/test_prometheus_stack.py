"""Every dashboard panel and every recording rule against a real Prometheus scraping a
running stack (every service a real process): after some traffic each query returns data,
so no panel in Grafana queries a metric that does not exist.  And with two replicas of a
consumer group, the lag the dashboards show is the broker's, not twice it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaProducer

from shared.kafka.admin import ensure_topics
from shared.topics import ALL_TOPICS, Topics
from tests.conftest import TEST_PARTITIONS
from tests.e2e.outside_world import OutsideWorld
from tests.e2e.test_end_to_end import post
from tests.observability.prometheus import RULES, Prometheus
from tests.support.events import accepted
from tests.support.gateway import plan_gateway, port_variable, start_outside_world
from tests.support.kafka import end_offsets, publish
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "helm" / "blindpost" / "dashboards"
# Enough services for every metric the dashboards read (one dispatcher stands for the
# three: they share their code and metrics), kept few so the stack starts fast.
SCRAPED = ["vault", "intake", "resolver", "dispatch-email", "status-ingest", "callback-relay"]
PLAYER = "obs-player-1"
STALLED_BACKLOG = 12


def panel_queries() -> list[tuple[str, str]]:
    """(dashboard/panel title, expression) for every target of every committed dashboard."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                queries.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return queries


def recorded_series() -> list[str]:
    """A selector for each recording rule (its name and the labels it adds)."""
    selectors = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                labels = ",".join(f'{k}="{v}"' for k, v in rule.get("labels", {}).items())
                selectors.append(f"{rule['record']}{{{labels}}}")
    return selectors


@pytest.mark.slow
async def test_every_panel_and_recording_rule_has_data_and_lag_is_not_doubled(
    base_env, events_dsn, vault_dsn, kafka_bootstrap, topics, tmp_path
):
    world = await start_outside_world(base_env)
    ports, env = plan_gateway(
        base_env,
        [*SCRAPED, "smtp-sink"],
        events_dsn,
        vault_dsn,
        world,
        BLINDPOST_METRICS_LAG_INTERVAL_S="1",
    )
    logs = tmp_path / "logs"
    processes = [
        ServiceProcess(service, env, port, logs / f"{service}.log")
        for service, port in ports.items()
    ]
    # Two resolvers of another installation (their own topics) whose vault is up but
    # answers every lookup 503: their group stays behind by the records published to it.
    refusing_vault = await start_unavailable_vault()
    stalled = Topics(f"{topics.prefix}stalled.")
    await ensure_topics(
        kafka_bootstrap,
        stalled,
        [dataclasses.replace(spec, partitions=TEST_PARTITIONS) for spec in ALL_TOPICS],
    )
    stalled_ports = [free_port(), free_port()]
    for n, port in enumerate(stalled_ports):
        stalled_env = {
            **env,
            "BLINDPOST_TOPIC_PREFIX": stalled.prefix,
            "BLINDPOST_VAULT_URL": refusing_vault.url,
            "BLINDPOST_RESOLVER_INSTANCE": f"stalled-{n}",
            port_variable("resolver"): str(port),
        }
        processes.append(
            ServiceProcess("resolver", stalled_env, port, logs / f"stalled-resolver-{n}.log")
        )
    targets = [(s, ports[s]) for s in SCRAPED]
    targets += [("resolver", port) for port in stalled_ports]
    prometheus = Prometheus(tmp_path / "prometheus", targets)
    try:
        await asyncio.gather(
            prometheus.start(), *(process.start(timeout_s=60) for process in processes)
        )
        await publish(
            kafka_bootstrap, stalled.message_events, [accepted() for _ in range(STALLED_BACKLOG)]
        )
        async with aiohttp.ClientSession() as http:
            await send_traffic(http, env, ports, world, topics, kafka_bootstrap)
            await lag_is_the_brokers(http, prometheus, kafka_bootstrap, stalled)
            await every_query_has_data(http, prometheus)
            # Both e-mails were timed from acceptance to the SMTP relay taking them.
            handed = await prometheus.query(
                http,
                'sum(blindpost_pipeline_step_seconds_count{step="provider_accepted",'
                'family="email",outcome="sent"})',
            )
            assert [float(s["value"][1]) for s in handed] == [2]
    finally:
        for process in processes:
            process.stop()
        prometheus.stop()
        await world.stop()
        await refusing_vault.runner.cleanup()


@dataclasses.dataclass
class UnavailableVault:
    runner: web.AppRunner
    url: str


async def start_unavailable_vault() -> UnavailableVault:
    """Healthy to the resolver's readiness check, 503 to every lookup."""

    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def unavailable(request: web.Request) -> web.Response:
        return web.json_response({"error": "temporarily unavailable"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthy)
    app.router.add_route("*", "/v1/{tail:.*}", unavailable)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return UnavailableVault(runner, f"http://127.0.0.1:{port}")


async def send_traffic(
    http: aiohttp.ClientSession,
    env: dict[str, str],
    ports: dict[str, int],
    world: OutsideWorld,
    topics: Topics,
    kafka_bootstrap: str,
) -> None:
    """E-mails through to Smartico's callbacks, plus the rarer
    things the dashboards count: a vault refusal, an unparsable record, a forged webhook."""
    vault = f"http://127.0.0.1:{ports['vault']}"
    admin = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_ADMIN_TOKEN']}"}
    async with http.put(
        f"{vault}/v1/subjects/{PLAYER}",
        json={"email": "obs.player@example.com", "phone": "+44 7911 123456"},
        headers=admin,
    ) as response:
        assert response.status == 200, await response.text()
    async with http.get(f"{vault}/v1/subjects/{PLAYER}") as response:
        assert response.status == 401  # no token: refused before any I/O, counted apart
    auditor = {"Authorization": f"Bearer {env['BLINDPOST_VAULT_AUDITOR_TOKEN']}"}
    async with http.put(
        f"{vault}/v1/subjects/{PLAYER}", json={"email": "x@example.com"}, headers=auditor
    ) as response:
        assert response.status == 403  # a token outside its scope: refused, audited, counted
    intake = f"http://127.0.0.1:{ports['intake']}"
    secret = env["BLINDPOST_INTAKE_SECRETS"].split(",")[0]
    callback_url = world.url("/smartico/callback")
    common = {"ext_user_id": PLAYER, "callback_url": callback_url}
    bodies = {
        "email": {
            **common,
            "from_email_address": "Amazing <noreply@amazing.example>",
            "subject": "Offer",
            "body": "<p>Hi</p>",
            "email_uid": "obs-email-1",
        },
        "preview": {
            **common,
            "from_email_address": "Amazing <noreply@amazing.example>",
            "subject": "Offer",
            "body": "<p>Hi</p>",
            "email_uid": "obs-preview-1",
            "activity_type": "preview",
            "to_email_address": "obs.reviewer@example.com",
        },
    }
    ids = set()
    for body in bodies.values():
        answer = await post(http, f"{intake}/v1/email", secret, body)
        assert answer["error_code"] == 0, answer
        ids.add(answer["ext_message_id"])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.message_events, b"not an event", key=b"obs")
    finally:
        await producer.stop()
    status_ingest = f"http://127.0.0.1:{ports['status-ingest']}"
    async with http.post(f"{status_ingest}/webhooks/generic", data=b"{}") as response:
        assert response.status >= 400
    await eventually(
        lambda: (
            {(c["ext_message_id"], c["status"]) for c in world.callbacks}
            >= {(mid, "accepted") for mid in ids}
        ),
        within=60,
        what="Smartico told every message was accepted",
    )


async def _equal(shown: Awaitable[dict[int, float]], expected: dict[int, int]) -> bool:
    return await shown == expected


async def lag_is_the_brokers(
    http: aiohttp.ClientSession, prometheus: Prometheus, kafka_bootstrap: str, stalled: Topics
) -> None:
    group = stalled.group("resolver")
    # Nothing of the stalled group is ever committed: its lag is every record on the topic.
    broker = await end_offsets(kafka_bootstrap, stalled.message_events)
    assert sum(broker.values()) == STALLED_BACKLOG

    async def both_replicas_report_it() -> bool:
        raw = await prometheus.query(
            http, f'blindpost_kafka_consumer_lag_messages{{group="{group}"}}'
        )
        return len(raw) == 2 * len(broker) and all(float(s["value"][1]) > 0 for s in raw)

    await eventually(both_replicas_report_it, within=30, interval=0.5, what="both replicas' lag")

    async def recorded() -> dict[int, float]:
        shown = await prometheus.query(
            http, f'blindpost:kafka_consumer_lag_messages:max{{group="{group}"}}'
        )
        return {int(s["metric"]["partition"]): float(s["value"][1]) for s in shown}

    # Rules are evaluated on their own interval, after the scrape that fed them: the
    # recorded series shows the backlog once a later evaluation ran, never twice it.
    await eventually(
        lambda: _equal(recorded(), broker), within=30, interval=0.5, what="the recorded lag"
    )
    total = await prometheus.query(
        http, f'blindpost:kafka_consumer_lag_messages:sum{{group="{group}"}}'
    )
    assert [float(s["value"][1]) for s in total] == [STALLED_BACKLOG]
    # What the old alert summed: twice the broker's number with two replicas.
    raw_sum = await prometheus.query(
        http, f'sum(blindpost_kafka_consumer_lag_messages{{group="{group}"}})'
    )
    assert [float(s["value"][1]) for s in raw_sum] == [2 * STALLED_BACKLOG]
    age = await prometheus.query(
        http, f'blindpost:kafka_consumer_oldest_unprocessed_age_seconds:max{{group="{group}"}}'
    )
    assert age and all(float(s["value"][1]) > 0 for s in age)


async def every_query_has_data(http: aiohttp.ClientSession, prometheus: Prometheus) -> None:
    expressions = [*panel_queries(), *((f"rule {s}", s) for s in recorded_series())]
    assert len(expressions) > 40

    async def empty() -> list[str]:
        results = await asyncio.gather(*(prometheus.query(http, expr) for _, expr in expressions))
        return [
            f"{name}: {expr}"
            for (name, expr), result in zip(expressions, results, strict=True)
            if not result
        ]

    missing: list[str] = []

    async def all_have_data() -> bool:
        missing[:] = await empty()
        return not missing

    await eventually(
        all_have_data,
        within=30,
        interval=1,
        what="data for every panel and recording rule",
        details=lambda: "\n".join(missing),
    )
