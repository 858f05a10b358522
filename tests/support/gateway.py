"""The whole gateway on this machine, for the tests that run every service at once (as
processes or as containers): the services, their ports, and one environment wiring them to
each other, to the test's databases and to the stand-ins for the outside world."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.dispatch.support import RecordingSmtpHandler, smtp_server
from tests.e2e.outside_world import OutsideWorld
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

SERVICES = [
    "smtp-sink",
    "vault",
    "projector",
    "intake",
    "resolver",
    "dispatch-email",
    "dispatch-sms",
    "dispatch-viber",
    "dispatch-whatsapp",
    "dispatch-cim",
    "status-ingest",
    "callback-relay",
    "bounce-receiver",
]


def port_variable(service: str) -> str:
    return "BLINDPOST_" + service.upper().replace("-", "_") + "_PORT"


def gateway_env(
    base_env: dict[str, str],
    ports: dict[str, int],
    *,
    events_dsn: str,
    vault_dsn: str,
    world: OutsideWorld,
    smtp_port: int,
    bounce_smtp_port: int,
) -> dict[str, str]:
    """Every service's port, both databases, the vault and tracking URLs, the SMTP server
    and the outside world's stand-ins (SMS and WhatsApp through the generic provider)."""
    return {
        **base_env,
        **{port_variable(service): str(port) for service, port in ports.items()},
        "DATABASE_URL": events_dsn,
        "BLINDPOST_VAULT_DATABASE_URL": vault_dsn,
        "BLINDPOST_VAULT_URL": f"http://127.0.0.1:{ports['vault']}",
        "BLINDPOST_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['status-ingest']}",
        "BLINDPOST_SMTP_HOST": "127.0.0.1",
        "BLINDPOST_SMTP_PORT": str(smtp_port),
        # Where remote MTAs return bounces and feedback reports (the mails' VERP senders).
        "BLINDPOST_BOUNCE_SMTP_PORT": str(bounce_smtp_port),
        "BLINDPOST_SMS_PROVIDER": "generic",
        "BLINDPOST_WHATSAPP_PROVIDER": "generic",
        "BLINDPOST_SMS_HTTP_URL": world.url("/sms"),
        "BLINDPOST_CIM_URL": world.url("/cim"),
        # Smartico's stand-in speaks plain http: allowed only as an explicit http:// entry.
        "BLINDPOST_CALLBACK_ALLOWED_HOSTS": f"http://127.0.0.1:{world.port}",
        "BLINDPOST_CALLBACK_RETRY_INITIAL_S": "0.5",
    }


async def start_outside_world(base_env: dict[str, str]) -> OutsideWorld:
    world = OutsideWorld(callback_api_key=base_env["BLINDPOST_CALLBACK_API_KEY"])
    await world.start()
    return world


@dataclass(frozen=True)
class Outside:
    """What the gateway reaches outside itself: an SMTP server that records every mail, and
    the stand-ins for Smartico and the providers."""

    mails: RecordingSmtpHandler
    smtp_port: int
    world: OutsideWorld


@asynccontextmanager
async def outside_the_gateway(base_env: dict[str, str]) -> AsyncIterator[Outside]:
    """The SMTP server and the outside world, both stopped on the way out (what they
    recorded stays readable after)."""
    mails = RecordingSmtpHandler()
    smtp, smtp_port = await smtp_server(mails)
    try:
        world = await start_outside_world(base_env)
        try:
            yield Outside(mails, smtp_port, world)
        finally:
            await world.stop()
    finally:
        smtp.close()


def plan_gateway(
    base_env: dict[str, str],
    services: list[str],
    events_dsn: str,
    vault_dsn: str,
    world: OutsideWorld,
    smtp_port: int | None = None,
    **overrides: str,
) -> tuple[dict[str, int], dict[str, str]]:
    """A free port per service and the environment they all run with (``overrides`` last)."""
    ports = {service: free_port() for service in services}
    env = gateway_env(
        base_env,
        ports,
        events_dsn=events_dsn,
        vault_dsn=vault_dsn,
        world=world,
        smtp_port=smtp_port or free_port(),
        bounce_smtp_port=free_port(),
    )
    return ports, {**env, **overrides}


def service_processes(
    services: list[str], env: dict[str, str], ports: dict[str, int], logs: Path
) -> dict[str, ServiceProcess]:
    """One real process per service (not started), each logging to ``logs/<service>.log``."""
    return {
        service: ServiceProcess(service, env, ports[service], logs / f"{service}.log")
        for service in services
    }


@asynccontextmanager
async def started(
    processes: dict[str, ServiceProcess], timeout_s: float = 60.0
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Every process started and ready, side by side; all stopped on the way out."""
    try:
        await asyncio.gather(*(p.start(timeout_s=timeout_s) for p in processes.values()))
        yield processes
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes.values()))
