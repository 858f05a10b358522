"""A Kafka broker and a PostgreSQL server of a test's own, to stop and start for real
without disturbing the shared ones other tests are using.

The broker runs from the same jars as ``deploy/local/infra.sh`` (``var/kafka/libs``) with the
same single-node KRaft configuration, on free ports, its data under a temporary folder.
PostgreSQL is a throw-away cluster from Debian's binaries (``initdb`` / ``pg_ctl``, run as
the ``postgres`` user), with the event store's role and one database.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import asyncpg

from tests.support.polling import eventually
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LIBS = ROOT / "var" / "kafka" / "libs"
LOG4J = ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _random_cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints (a URL-safe base64 UUID), without starting a
    JVM for it: a test's whole broker start-up is a few JVM launches on a busy machine."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka never hands those out (they read as options)
            return text


class PrivateKafka:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            "-Xmx384m",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.home}",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            f"{KAFKA_LIBS}/*",
            *args,
        ]

    def listener_properties(self) -> list[str]:
        """How clients reach the broker (a subclass secures it)."""
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ]

    def format_arguments(self) -> list[str]:
        """More ``StorageTool format`` arguments (e.g. SCRAM users)."""
        return []

    def format(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    "controller.listener.names=CONTROLLER",
                    *self.listener_properties(),
                    f"log.dirs={self.home / 'data'}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=2",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=2",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        cluster_id = _random_cluster_id()
        subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                *self.format_arguments(),
            ),
            check=True,
            capture_output=True,
        )

    async def start(self, timeout_s: float = 90.0) -> None:
        log = (self.home / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(self.home / "server.properties")),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        server_log = self.home / "server.log"
        started_marks = (
            server_log.read_text().count("Kafka Server started") if server_log.exists() else 0
        )
        process = self.process

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(
                    f"private Kafka exited: {(self.home / 'stdout.log').read_text()[-2000:]}"
                )
            return (
                _port_open(self.port)
                and server_log.exists()
                and server_log.read_text().count("Kafka Server started") > started_marks
            )

        await eventually(started, within=timeout_s, interval=0.2, what="private Kafka started")

    async def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator's restart does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PrivatePostgres:
    ROLE = "blindpost_events"
    PASSWORD = "blindpost_events_local"  # noqa: S105 - a throw-away local cluster

    def __init__(self) -> None:
        bindir = sorted(Path("/usr/lib/postgresql").iterdir())[-1] / "bin"
        self.initdb = bindir / "initdb"
        self.pg_ctl = bindir / "pg_ctl"
        # Outside pytest's tmp_path: the postgres user must be able to enter it.
        self.home = Path(tempfile.mkdtemp(prefix="bp-intake-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        shutil.chown(self.home, "postgres", "postgres")

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.ROLE}:{self.PASSWORD}@127.0.0.1:{self.port}/{self.ROLE}"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    async def create(self) -> None:
        self._as_postgres(str(self.initdb), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        await self.start()
        await self.add_database(self.ROLE, self.PASSWORD)

    async def add_database(self, role: str, password: str) -> str:
        """A role owning a database of its own name; its DSN."""
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            await conn.execute(f"CREATE DATABASE {role} OWNER {role}")
        finally:
            await conn.close()
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{role}"

    async def start(self, *extra_options: str) -> None:
        options = " ".join(
            (f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off",)
            + extra_options
        )
        await asyncio.to_thread(
            self._as_postgres,
            str(self.pg_ctl),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.home / "server.log"),
            "-w",
            "start",
        )

    async def start_refusing(self) -> None:
        """Up, but refusing every connection with "the database system is not accepting
        connections" (57P03, what clients meet while a crashed server recovers) until
        :meth:`stop_refusing`: a standby with no primary to follow and hot standby off."""
        self._as_postgres("touch", str(self.data / "standby.signal"))
        await self.start("-c hot_standby=off")

    async def stop_refusing(self) -> None:
        """The server started by :meth:`start_refusing` is started again as itself, taking
        connections.  (Not ``pg_ctl promote``: it can return while the server still
        refuses, or refuse a standby that has not yet entered archive recovery.)"""
        await self.stop("fast")
        self._as_postgres("rm", "-f", str(self.data / "standby.signal"))
        await self.start()

    async def stop(self, mode: str = "immediate") -> None:
        """``immediate``: the server dies without a clean shutdown, as in a crash."""
        await asyncio.to_thread(
            self._as_postgres, str(self.pg_ctl), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def destroy(self) -> None:
        try:
            self._as_postgres(str(self.pg_ctl), "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.home, ignore_errors=True)
