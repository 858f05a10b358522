"""What the chart tells each service: where the other services are (whatever the release
is called), how to reach Kafka, what topics look like, and how to stop gracefully."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shared.topics import ALL_TOPICS, MESSAGE_EVENTS
from tests.helm.chart import (
    ALL_FEATURES,
    by_kind,
    container,
    environment,
    helm_template,
    install_helm,
    render,
    workloads,
)

READINESS_CHECK_TIMEOUT_S = 2  # shared/http.py gives each readiness check 2 s


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    return install_helm()


@pytest.mark.parametrize("release", ["blindpost", "bp", "blindpost-prod-eu-west-1"])
def test_every_service_url_names_a_service_of_the_same_release(release: str):
    docs = render(release=release)
    services = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Service"}
    in_cluster = []
    for name, workload in workloads(docs).items():
        for var, value in environment(docs, workload).items():
            if not (var.endswith("_URL") and isinstance(value, str) and "://" in value):
                continue
            url = urlsplit(value)
            if url.scheme.startswith("postgres") or "." in (url.hostname or ""):
                continue  # a database, or a name outside the cluster
            in_cluster.append((name, var))
            assert url.hostname in services, f"{name}: {var} names no Service of {release}"
            ports = [p["port"] for p in services[url.hostname]["spec"]["ports"]]
            assert url.port in ports, f"{name}: {var} names a port its Service lacks"
    assert ("resolver", "BLINDPOST_VAULT_URL") in in_cluster
    assert ("status-ingest", "BLINDPOST_VAULT_URL") in in_cluster


def test_only_the_topics_job_creates_topics_with_the_configured_shape():
    docs = render(
        "kafka.replicationFactor=3",
        "kafka.minInsyncReplicas=2",
        "kafka.topics.blindpost\\.dispatch\\.sms.partitions=16",
    )
    for workload in workloads(docs).values():
        assert environment(docs, workload)["BLINDPOST_KAFKA_CREATE_TOPICS"] == "false"
    job = by_kind(docs, "Job")["bp-blindpost-topics"]
    env = {e["name"]: e.get("value") for e in container(job)["env"]}
    assert container(job)["args"] == ["topics", "create"]
    assert env["BLINDPOST_KAFKA_CREATE_TOPICS"] == "true"
    assert env["BLINDPOST_KAFKA_REPLICATION_FACTOR"] == "3"
    assert env["BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    # The code's per-topic overrides (BLINDPOST_TOPIC_<NAME>_PARTITIONS / _RETENTION_MS).
    assert env["BLINDPOST_TOPIC_DISPATCH_SMS_PARTITIONS"] == "16"
    assert env["BLINDPOST_TOPIC_MESSAGE_EVENTS_RETENTION_MS"] == str(MESSAGE_EVENTS.retention_ms)
    assert "BLINDPOST_TOPIC_VAULT_SUBJECT_FACTS_RETENTION_MS" not in env  # compacted
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] > 0
    assert container(job)["resources"]["requests"]
    assert "bp-blindpost-topics" not in by_kind(render("kafka.createTopics=false"), "Job")


def test_topic_defaults_are_the_codes():
    values = json.loads(json.dumps(render_values()["kafka"]["topics"]))
    assert set(values) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        assert values[spec.name]["partitions"] == spec.partitions, spec.name
        if spec.compacted:
            assert values[spec.name]["compacted"] is True
        else:
            assert values[spec.name]["retentionMs"] == spec.retention_ms, spec.name


def render_values() -> dict:
    import yaml

    from tests.helm.chart import CHART

    values: dict = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def test_kafka_tls_and_sasl_reach_every_service_and_job():
    docs = render(values=ALL_FEATURES)
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    assert config["BLINDPOST_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["BLINDPOST_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["BLINDPOST_KAFKA_SSL_CA_FILE"] == "/etc/blindpost/kafka/ca/ca.crt"
    pods = list(workloads(docs).values()) + list(by_kind(docs, "Job").values())
    assert len(pods) > len(workloads(docs))
    users = set()
    for pod in pods:
        env = {e["name"]: e for e in container(pod)["env"]}
        password = env["BLINDPOST_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        users.add(env["BLINDPOST_KAFKA_SASL_USERNAME"]["value"])
        assert password["name"] == env["BLINDPOST_KAFKA_SASL_USERNAME"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container(pod)["volumeMounts"]}
        assert mounts["kafka-ca"] == "/etc/blindpost/kafka/ca"
        if pod["kind"] == "Job":
            assert environment(docs, pod).get("BLINDPOST_KAFKA_SECURITY_PROTOCOL") == "SASL_SSL"
    kafka_users = {u["metadata"]["name"] for u in by_kind(docs, "KafkaUser").values()}
    assert users <= kafka_users


def test_mutual_tls_mounts_each_services_own_certificate():
    from tests.helm.chart import CHART

    docs = render(values=CHART / "ci" / "tls-client-auth-values.yaml")
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    assert config["BLINDPOST_KAFKA_SSL_CERT_FILE"] == "/etc/blindpost/kafka/client/client.crt"
    assert config["BLINDPOST_KAFKA_SSL_KEY_FILE"] == "/etc/blindpost/kafka/client/client.key"
    for name, workload in workloads(docs).items():
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert volumes["kafka-client"]["secret"]["secretName"] == f"bp-blindpost-kafka-{name}"


def test_rollouts_drain_before_the_kill():
    docs = render("shutdown.timeoutSeconds=45")
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    assert config["BLINDPOST_SHUTDOWN_TIMEOUT_S"] == "45"
    for name, workload in workloads(docs).items():
        pod = workload["spec"]["template"]["spec"]
        c = container(workload)
        pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        assert pod["terminationGracePeriodSeconds"] > 45 + pre_stop, name
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["timeoutSeconds"] > READINESS_CHECK_TIMEOUT_S, (name, probe)
        spread = pod["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["labelSelector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for d in by_kind(docs, "PodDisruptionBudget").values()
    }
    assert {"intake", "vault", "resolver", "status-ingest"} <= budgets


def test_each_resolver_replica_keeps_its_instance_id_across_restarts():
    docs = render()
    resolver = workloads(docs)["resolver"]
    assert resolver["kind"] == "StatefulSet"
    assert resolver["spec"]["serviceName"] in by_kind(docs, "Service")
    env = {e["name"]: e for e in container(resolver)["env"]}
    # A StatefulSet pod's name is <statefulset>-<ordinal>: the same after a restart.
    assert env["BLINDPOST_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_metrics_have_their_own_port_and_the_environment_is_not_local():
    docs = render()
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    assert config["BLINDPOST_ENV"] != "local"
    for workload in workloads(docs).values():
        ports = {p["name"]: p["containerPort"] for p in container(workload)["ports"]}
        assert ports["metrics"] == int(config["BLINDPOST_METRICS_PORT"]) != ports["http"]
    assert config["BLINDPOST_SMTP_TLS"] == "starttls"


def test_admin_jobs_run_vault_commands_with_the_vaults_secret():
    docs = render(
        "admin.vaultImport.enabled=true",
        "admin.vaultImport.claimName=imports",
        "admin.rotateKek.enabled=true",
    )
    jobs = {j["metadata"]["name"]: j for j in by_kind(docs, "Job").values()}
    commands = {tuple(container(j)["args"][:2]) for j in jobs.values()}
    assert {("vault", "import"), ("vault", "rotate-kek")} <= commands
    for job in jobs.values():
        if container(job)["args"][0] != "vault":
            continue
        assert container(job)["envFrom"] == [
            {"configMapRef": {"name": "bp-blindpost-config"}},
            {"secretRef": {"name": "bp-blindpost-vault"}},
        ]
        assert job["spec"]["activeDeadlineSeconds"] > 0


def test_the_kek_epochs_are_rotated_by_a_cronjob_and_only_it_writes_their_volume():
    docs = render(values=ALL_FEATURES)
    cron = by_kind(docs, "CronJob")["bp-blindpost-rotate-epochs"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job = pod["containers"][0]
    assert job["args"] == ["vault", "rotate-epochs", "--no-progress"]
    assert {"secretRef": {"name": "bp-blindpost-vault"}} in job["envFrom"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    directory = config["BLINDPOST_VAULT_KEK_EPOCHS_DIR"]
    (claim,) = by_kind(docs, "PersistentVolumeClaim")

    def mounts(spec: dict) -> dict[str, bool]:
        """Whether each container mounting the epochs' volume may write it."""
        volumes = {
            v["name"]
            for v in spec["volumes"]
            if v.get("persistentVolumeClaim", {}).get("claimName") == claim
        }
        return {
            c["name"]: not m.get("readOnly", False)
            for c in spec["containers"]
            for m in c.get("volumeMounts", [])
            if m["name"] in volumes and m["mountPath"] == directory
        }

    assert mounts(pod) == {"rotate-epochs": True}
    found = {name: mounts(w["spec"]["template"]["spec"]) for name, w in workloads(docs).items()}
    assert {name: m for name, m in found.items() if m} == {"vault": {"vault": False}}


def test_content_keys_are_expired_by_a_cronjob_with_the_event_stores_retention():
    docs = render(values=ALL_FEATURES)
    cron = by_kind(docs, "CronJob")["bp-blindpost-expire-content-keys"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job,) = pod["containers"]
    assert job["args"] == ["vault", "expire-content-keys"]
    assert {"secretRef": {"name": "bp-blindpost-vault"}} in job["envFrom"]
    assert {"configMapRef": {"name": "bp-blindpost-config"}} in job["envFrom"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # One number for the store and the keys: both read it from the shared ConfigMap.
    config = by_kind(docs, "ConfigMap")["bp-blindpost-config"]["data"]
    assert config["BLINDPOST_BODY_RETENTION_DAYS"] == "30"
    assert config["BLINDPOST_VAULT_CONTENT_PERIOD_DAYS"] == "7"
    off = render("contentRetention.enabled=false")
    assert "bp-blindpost-expire-content-keys" not in by_kind(off, "CronJob")


def test_kek_epochs_need_a_master_secret():
    result = helm_template(
        "secrets.vault.values.BLINDPOST_VAULT_KEK_EPOCH_MASTER=", values=ALL_FEATURES
    )
    assert result.returncode != 0
    assert "secrets.vault.values.BLINDPOST_VAULT_KEK_EPOCH_MASTER" in result.stderr
    off = render(
        "kekEpochs.enabled=false", "secrets.vault.values.BLINDPOST_VAULT_KEK_EPOCH_MASTER="
    )
    assert "bp-blindpost-rotate-epochs" not in by_kind(off, "CronJob")
    assert not by_kind(off, "PersistentVolumeClaim")
    assert (
        "BLINDPOST_VAULT_KEK_EPOCHS_DIR"
        not in by_kind(off, "ConfigMap")["bp-blindpost-config"]["data"]
    )


def test_only_the_vault_s_migration_step_gets_the_schema_owner_s_dsn():
    docs = render(values=ALL_FEATURES)
    found = workloads(docs)
    [migrate] = found["vault"]["spec"]["template"]["spec"]["initContainers"]
    assert migrate["args"] == ["vault", "migrate"]
    assert {"secretRef": {"name": "bp-blindpost-vault-migrations"}} in migrate["envFrom"]
    for name, workload in found.items():
        refs = [s.get("secretRef", {}).get("name") for s in container(workload)["envFrom"]]
        assert "bp-blindpost-vault-migrations" not in refs, name
    holders = [
        name
        for name, secret in by_kind(docs, "Secret").items()
        if "BLINDPOST_VAULT_OWNER_DATABASE_URL" in secret.get("stringData", {})
    ]
    assert holders == ["bp-blindpost-vault-migrations"]
    # Without an owner DSN there is no migration step (the vault's role migrates).
    assert "initContainers" not in workloads(render())["vault"]["spec"]["template"]["spec"]


def test_notes_never_send_operators_into_a_pod_without_the_keys():
    from tests.helm.chart import CHART

    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "kubectl exec" not in notes
    assert "admin.vaultImport.enabled=true" in notes


@pytest.mark.parametrize("on", [False, True])
def test_parking_a_domain_for_complaints_reaches_the_email_dispatcher_alone(on: bool):
    sets = ("services.dispatch-email.parkOnComplaints=true",) if on else ()
    docs = render(*sets)
    setting = "BLINDPOST_DISPATCH_EMAIL_PARK_ON_COMPLAINTS"
    holders = {
        name: environment(docs, workload)[setting]
        for name, workload in workloads(docs).items()
        if setting in environment(docs, workload)
    }
    assert holders == {"dispatch-email": "true" if on else "false"}
