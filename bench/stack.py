"""The whole gateway as `make up` runs it, for the benchmarks that measure it end to end
(the soak, the end-to-end figure): every service a process of its own on scratch topics and
scratch databases, Smartico's and the providers' stand-ins beside it, all removed after."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import BOOTSTRAP, bench_env, delete_topics_with_prefix
from tests.e2e.outside_world import OutsideWorld
from tests.support.databases import create_database, drop_database
from tests.support.gateway import (
    SERVICES,
    plan_gateway,
    service_processes,
    start_outside_world,
)
from tests.support.processes import ServiceProcess

# The gateway `make up` starts; the SMTP server is the benchmark's own, so that it counts
# what arrives.
GATEWAY = [service for service in SERVICES if service != "smtp-sink"]


@dataclass(frozen=True)
class Stack:
    processes: dict[str, ServiceProcess]
    ports: dict[str, int]
    env: dict[str, str]
    world: OutsideWorld
    prefix: str
    databases: dict[str, str]
    """Database name by its role in the gateway (events, vault)."""


@asynccontextmanager
async def running_gateway(
    label: str, var_dir: Path, smtp_port: int, **overrides: str
) -> AsyncIterator[Stack]:
    """Every service started and ready (logs in ``var_dir/logs``); stopped, its topics
    deleted and its databases dropped on the way out."""
    prefix = f"{label}{uuid.uuid4().hex[:8]}."
    events_db, events_dsn = await create_database(label, "blindpost_events")
    vault_db, vault_dsn = await create_database(label, "blindpost_vault")
    base_env = bench_env()
    # The local owner's DSN names the local database: the scratch one's owner is the vault's
    # role itself, and it migrates it.
    base_env.pop("BLINDPOST_VAULT_OWNER_DATABASE_URL", None)
    base_env |= {
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "BLINDPOST_TOPIC_PREFIX": prefix,
        "BLINDPOST_VAR_DIR": str(var_dir / "var"),
        "BLINDPOST_LOG_LEVEL": "INFO",
    }
    world = await start_outside_world(base_env)
    ports, env = plan_gateway(
        base_env, GATEWAY, events_dsn, vault_dsn, world, smtp_port, **overrides
    )
    processes = service_processes(GATEWAY, env, ports, var_dir / "logs")
    try:
        await asyncio.gather(*(p.start(timeout_s=120) for p in processes.values()))
        yield Stack(processes, ports, env, world, prefix, {"events": events_db, "vault": vault_db})
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes.values()))
        await world.stop()
        await delete_topics_with_prefix(BOOTSTRAP, prefix)
        await drop_database(events_db)
        await drop_database(vault_db)
