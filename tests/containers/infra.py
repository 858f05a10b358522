"""``BLINDPOST_TEST_INFRA=containers``: the integration tests run against a Kafka and a
PostgreSQL container (blindpost-kafka:dev and blindpost-postgres:dev, `make compose-images`)
instead of the local processes of deploy/local/infra.sh.

Imported first by tests/conftest.py: it starts them and points the environment the test
support reads (KAFKA_BOOTSTRAP_SERVERS, BLINDPOST_ADMIN_DATABASE_URL) at them, before any
module reads it.  What the environment already names wins: nothing is started for it.
The containers are removed when the test session's process exits.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable

from tests.support.ports import free_port

KAFKA_IMAGE = os.environ.get("BLINDPOST_KAFKA_IMAGE", "blindpost-kafka:dev")
POSTGRES_IMAGE = os.environ.get("BLINDPOST_POSTGRES_IMAGE", "blindpost-postgres:dev")
ADMIN = "blindpost_admin:blindpost_admin_local"


def wait_until(check: Callable[[], bool], what: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"BLINDPOST_TEST_INFRA=containers: {what} did not start in {within:.0f} s")
        time.sleep(0.5)


def start_kafka() -> str:
    from testcontainers.core.container import DockerContainer

    from tests.containers.engine import require_image

    port, controller = free_port(), free_port()
    # The host's network, so that the advertised address is the one clients dial.
    kafka = DockerContainer(
        require_image(KAFKA_IMAGE),
        env={
            "KAFKA_ADVERTISED_HOST": "127.0.0.1",
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(controller),
        },
        network_mode="host",
    ).start()
    atexit.register(kafka.stop)

    def started() -> bool:
        code, _ = kafka.exec(["grep", "-q", "Kafka Server started", "/var/lib/kafka/server.log"])
        return code == 0

    wait_until(started, "the Kafka container")
    return f"127.0.0.1:{port}"


def start_postgres() -> str:
    from testcontainers.core.container import DockerContainer

    from tests.containers.engine import require_image

    port = free_port()
    postgres = DockerContainer(
        require_image(POSTGRES_IMAGE),
        ports=[5432],
        env={"POSTGRES_FSYNC": "off"},
    ).with_bind_ports(5432, port)
    postgres.start()
    atexit.register(postgres.stop)

    def healthy() -> bool:
        wrapped = postgres.get_wrapped_container()
        wrapped.reload()
        return bool(wrapped.attrs["State"].get("Health", {}).get("Status") == "healthy")

    wait_until(healthy, "the PostgreSQL container")
    return f"postgresql://{ADMIN}@127.0.0.1:{port}/postgres"


if os.environ.get("BLINDPOST_TEST_INFRA") == "containers":
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = start_kafka()
    if not (os.environ.get("BLINDPOST_ADMIN_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        os.environ["BLINDPOST_ADMIN_DATABASE_URL"] = start_postgres()
