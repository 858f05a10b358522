"""A private broker as production runs one: a SASL_SSL listener (SCRAM-SHA-512 over TLS,
certificates from ``deploy/local/kafka-tls.sh``) and the KRaft ``StandardAuthorizer``
denying whatever no ACL grants.  Users are created at format time; ACLs are added with
``deploy/local/kafka/KafkaAcls.java`` as the super user."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from shared.settings import KafkaSettings
from tests.intake.private_infra import KAFKA_LIBS, ROOT, PrivateKafka

TLS_SCRIPT = ROOT / "deploy" / "local" / "kafka-tls.sh"
ACL_TOOL = ROOT / "deploy" / "local" / "kafka" / "KafkaAcls.java"
MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"


class SecureKafka(PrivateKafka):
    def __init__(self, home: Path, users: list[str]) -> None:
        super().__init__(home)
        self.tls = home / "tls"
        self.passwords = {user: secrets.token_urlsafe(32) for user in [ADMIN, *users]}

    def listener_properties(self) -> list[str]:
        admin_login = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{self.passwords[ADMIN]}";'
        )
        return [
            f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={admin_login}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.tls / 'broker.pem'}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.tls / 'ca.pem'}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The controller listener is loopback-only and unauthenticated (ANONYMOUS).
            f"super.users=User:{ADMIN};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]

    def format_arguments(self) -> list[str]:
        arguments = []
        for user, password in self.passwords.items():
            arguments += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        return arguments

    def format(self) -> None:
        subprocess.run(["bash", str(TLS_SCRIPT), str(self.tls)], check=True, capture_output=True)
        super().format()

    def settings(
        self, user: str, *, password: str | None = None, prefix: str = ""
    ) -> KafkaSettings:
        """What a service with this principal reads from its environment."""
        return KafkaSettings.from_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "BLINDPOST_TOPIC_PREFIX": prefix,
                "BLINDPOST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "BLINDPOST_KAFKA_SASL_MECHANISM": MECHANISM,
                "BLINDPOST_KAFKA_SASL_USERNAME": user,
                "BLINDPOST_KAFKA_SASL_PASSWORD": password or self.passwords[user],
                "BLINDPOST_KAFKA_SSL_CA_FILE": str(self.tls / "ca.pem"),
                "BLINDPOST_KAFKA_REPLICATION_FACTOR": "1",
                "BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS": "1",
            }
        )

    async def grant(self, *acls: str) -> None:
        """``principal:operation:resource-type:name:pattern``, e.g.
        ``User:intake:WRITE:TOPIC:blindpost.message-events:LITERAL``."""
        client = self.home / "admin.properties"
        client.write_text(
            "\n".join(
                [
                    f"bootstrap.servers={self.bootstrap}",
                    "security.protocol=SASL_SSL",
                    f"sasl.mechanism={MECHANISM}",
                    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
                    f'required username="{ADMIN}" password="{self.passwords[ADMIN]}";',
                    "ssl.truststore.type=PEM",
                    f"ssl.truststore.location={self.tls / 'ca.pem'}",
                    "",
                ]
            )
        )
        classes = await asyncio.to_thread(_compiled_acl_tool)
        process = await asyncio.create_subprocess_exec(
            "java",
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            f"{classes}:{KAFKA_LIBS}/*",
            "KafkaAcls",
            str(client),
            *acls,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"granting ACLs failed: {output.decode()[-2000:]}")


def _compiled_acl_tool() -> Path:
    """The ACL tool compiled once per version of its source (compiling it on every run
    would cost a test seconds)."""
    source = ACL_TOOL.read_bytes()
    classes = KAFKA_LIBS.parent / "acl-tool" / hashlib.sha256(source).hexdigest()[:12]
    if not (classes / "KafkaAcls.class").exists():
        staging = Path(tempfile.mkdtemp(dir=KAFKA_LIBS.parent))
        subprocess.run(
            ["javac", "-cp", f"{KAFKA_LIBS}/*", "-d", str(staging), str(ACL_TOOL)],
            check=True,
            capture_output=True,
        )
        classes.parent.mkdir(exist_ok=True)
        try:
            staging.rename(classes)
        except OSError:  # a concurrent run got there first
            shutil.rmtree(staging, ignore_errors=True)
    return classes
