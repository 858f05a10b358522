"""The whole gateway on a private Kafka and a private PostgreSQL (both restarted by the
run: the shared ones are never touched), every service a real process, and the faults of
a chaos run, each of which returns once the fault is over (not once the gateway recovered:
the run waits for messages flowing end to end for that)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from shared.kafka_settings import topic_env_name
from shared.topics import ALL_TOPICS
from tests.chaos.world import ChaosWorld, FaultyMailServer
from tests.dispatch.support import smtp_server
from tests.intake.private_infra import PrivateKafka, PrivatePostgres
from tests.support.gateway import SERVICES as GATEWAY_SERVICES
from tests.support.gateway import plan_gateway, port_variable, service_processes
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.private_infra import add_database, private_kafka, private_postgres
from tests.support.processes import ServiceProcess

# Every service but the SMTP sink (the run has an SMTP server of its own that can refuse).
SERVICES = [service for service in GATEWAY_SERVICES if service != "smtp-sink"]
CONSUMERS = ["projector", "resolver", "dispatch-email", "dispatch-sms", "dispatch-cim"]
CONSUMERS.append("callback-relay")
VAULT_ROLE, VAULT_PASSWORD = "blindpost_vault", "blindpost_vault_local"  # noqa: S105 - local
# Retries and leases at the scale of a test, not of production (a day of retries, leases of
# a minute): what a fault leaves behind is retried within seconds of its end.
QUICK_RECOVERY = {
    "BLINDPOST_CALLBACK_RETRY_MAX_S": "2",
    # Smartico's stand-in shares the test's process with everything else: a short timeout
    # there is a repeat (the request arrived, the answer came too late).
    "BLINDPOST_CALLBACK_LEASE_S": "30",
    "BLINDPOST_DISPATCH_PARK_INITIAL_S": "1",
    "BLINDPOST_DISPATCH_PARK_MAX_S": "4",
    "BLINDPOST_DISPATCH_BREAKER_COOLDOWN_S": "2",
    "BLINDPOST_DISPATCH_SEND_TIMEOUT_S": "5",
    "BLINDPOST_DISPATCH_LEASE_SLACK_S": "3",
    "BLINDPOST_VAULT_TIMEOUT_S": "3",
    # Two partitions a topic, as every test's topics (tests/conftest.py): enough for two
    # replicas to share a group, and a broker that restarts in seconds, not minutes.
    **{f"BLINDPOST_TOPIC_{topic_env_name(spec.name)}_PARTITIONS": "2" for spec in ALL_TOPICS},
}


@dataclass
class ChaosGateway:
    kafka: PrivateKafka
    postgres: PrivatePostgres
    world: ChaosWorld
    mails: FaultyMailServer
    env: dict[str, str]
    ports: dict[str, int]
    logs: Path
    processes: dict[str, ServiceProcess]
    retired: list[ServiceProcess]  # replicas killed along the way (their logs count)
    # Services that exited by themselves and were started again, as Kubernetes would.
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    _planned: set[str] = field(default_factory=set)  # down on purpose right now

    async def start(self) -> None:
        await asyncio.gather(*(p.start(timeout_s=90) for p in self.processes.values()))

    async def supervise(self) -> None:
        """Restarts a service that exited on its own (a crash on a fault it should have
        ridden out): counted, so the report shows it, and the run goes on as it would in
        production."""
        while True:
            await asyncio.sleep(1.0)  # a supervisor's polling period
            for service, process in list(self.processes.items()):
                exited = process.process is not None and process.process.poll() is not None
                if exited and service not in self._planned:
                    self.unplanned_exits[service] += 1
                    await process.start(timeout_s=90)

    def stop(self) -> None:
        for process in [*self.processes.values(), *self.retired]:
            process.kill()

    def all_processes(self) -> list[ServiceProcess]:
        return [*self.processes.values(), *self.retired]

    # The faults -------------------------------------------------------------------------

    async def kill_and_restart(self, service: str) -> None:
        self._planned.add(service)
        try:
            self.processes[service].kill()
            await self.processes[service].start(timeout_s=90)
        finally:
            self._planned.discard(service)

    async def restart_broker(self) -> None:
        await self.kafka.stop()
        try:
            await self.kafka.start(timeout_s=120)
        except AssertionError as exc:
            log = (self.kafka.home / "server.log").read_text(errors="replace")
            raise AssertionError(f"{exc}\n{log[-3000:]}") from None

    async def restart_postgres(self) -> None:
        await self.postgres.stop("immediate")
        await self.postgres.start()

    async def vault_down(self, seconds: float) -> None:
        self._planned.add("vault")
        try:
            self.processes["vault"].kill()
            await asyncio.sleep(seconds)  # the fault's length, not a wait for an outcome
            await self.processes["vault"].start(timeout_s=90)
        finally:
            self._planned.discard("vault")

    async def smtp_refusing(self, seconds: float) -> None:
        def refuse(on: bool) -> None:
            self.mails.refusing = on

        await _for_a_while(refuse, lambda: self.mails.refused, seconds, "a mail answered 421")

    async def smartico_down(self, seconds: float) -> None:
        def down(on: bool) -> None:
            self.world.smartico_down = on

        await _for_a_while(down, lambda: self.world.callbacks_refused, seconds, "a callback refused")

    async def replica_killed_mid_rebalance(self, service: str) -> None:
        """A second replica joins the group; while it is joining (up, not yet ready: the
        group is rebalancing) the first is SIGKILLed, and the second carries on alone."""
        first = self.processes[service]
        self._planned.add(service)
        port = free_port()
        second = ServiceProcess(
            service,
            {**self.env, port_variable(service): str(port)},
            port,
            self.logs / f"{service}-replica-{port}.log",
        )
        joining = asyncio.create_task(second.start(timeout_s=90))
        await eventually(
            lambda: _answers(port, "/healthz"), within=60, what=f"a second {service} up"
        )
        first.kill()
        self.retired.append(first)
        self.processes[service] = second
        try:
            await joining
        finally:
            self._planned.discard(service)


async def _for_a_while(
    switch: Callable[[bool], None], refused: Callable[[], int], seconds: float, what: str
) -> None:
    """A fault on for ``seconds`` (its length, not a wait for an outcome), and on until it
    refused something: only then did it meet traffic."""
    before = refused()
    switch(True)
    try:
        await asyncio.sleep(seconds)
        await eventually(lambda: refused() > before, within=60, what=what)
    finally:
        switch(False)


async def _answers(port: int, path: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}{path}") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


@asynccontextmanager
async def chaos_gateway(base_env: dict[str, str], logs: Path) -> AsyncIterator[ChaosGateway]:
    """Private infrastructure, the outside world and every service's process (started)."""
    async with AsyncExitStack() as stack:
        # Side by side: each is seconds of start-up on a busy machine.
        kafka, postgres = await asyncio.gather(
            stack.enter_async_context(private_kafka(logs / "kafka")),
            stack.enter_async_context(private_postgres()),
        )
        vault_dsn = await add_database(postgres, VAULT_ROLE, VAULT_PASSWORD)
        mails = FaultyMailServer()
        smtp, smtp_port = await smtp_server(mails)
        world = ChaosWorld(callback_api_key=base_env["BLINDPOST_CALLBACK_API_KEY"])
        await world.start()
        ports, env = plan_gateway(
            {**base_env, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap},
            SERVICES,
            postgres.dsn,
            vault_dsn,
            world,
            smtp_port,
            **QUICK_RECOVERY,
        )
        processes = service_processes(SERVICES, env, ports, logs)
        gateway = ChaosGateway(kafka, postgres, world, mails, env, ports, logs, processes, [])
        supervisor: asyncio.Task[None] | None = None
        try:
            await gateway.start()
            supervisor = asyncio.create_task(gateway.supervise())
            yield gateway
        finally:
            if supervisor:
                supervisor.cancel()
            gateway.stop()
            await world.stop()
            smtp.close()
