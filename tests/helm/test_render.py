"""The Helm chart lints and renders with each of its ci/ values files, every object passes
the Kubernetes schemas, values are type-checked, and missing or weak secrets stop a render."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.cli import SERVICES
from tests.helm.chart import (
    ALL_FEATURES,
    CHART,
    CI_VALUES,
    HELM,
    by_kind,
    container,
    helm_template,
    install_helm,
    render,
    workloads,
)

KUBERNETES_VERSION = "1.30.0"
# Custom resources: kubernetes-validate knows only the built-in kinds, so these are checked
# by test_custom_resources_are_well_formed instead.
CRDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "KafkaUser", "KafkaTopic"}
# The SMTP sink and the stand-ins for the outside world are for `make up` only.
DEPLOYED = sorted(set(SERVICES) - {"smtp-sink", "dev-sinks"})


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    return install_helm()


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_chart_lints_with_each_ci_values_file(values: Path):
    result = subprocess.run(
        [str(HELM), "lint", "--strict", str(CHART), "-f", str(values)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_values_file_turns_every_optional_feature_on():
    kinds = {doc["kind"] for doc in render(values=ALL_FEATURES)}
    assert {"ScaledObject", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy"} <= kinds
    assert CRDS <= kinds


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_object_validates_against_the_kubernetes_schema(values: Path):
    for doc in render(values=values):
        if doc["kind"] in CRDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def operator_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the OpenAPI schema of KEDA's and prometheus-operator's CRDs."""
    fetched = subprocess.run(
        ["bash", str(CHART.parents[1] / "deploy" / "tools" / "fetch-crds.sh")],
        capture_output=True,
        text=True,
    )
    if fetched.returncode != 0:
        pytest.skip(f"the operators' CRDs could not be fetched: {fetched.stderr.strip()}")
    schemas = {}
    for path in (CHART.parents[1] / "var" / "tools" / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[api_version, crd["spec"]["names"]["kind"]] = version["schema"][
                "openAPIV3Schema"
            ]
    return schemas


def test_keda_and_prometheus_operator_objects_match_their_crds():
    schemas = operator_schemas()
    checked = set()
    for doc in render(values=ALL_FEATURES):
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        # No meta-schema check: the CRDs use Go regex syntax Python's re rejects.
        jsonschema.Draft7Validator(schema).validate(doc)
        checked.add(doc["kind"])
    assert checked == {"ScaledObject", "ServiceMonitor", "PrometheusRule"}


def test_custom_resources_are_well_formed():
    docs = render(values=ALL_FEATURES)
    names = {d["metadata"]["name"] for d in docs if d["kind"] in WORKLOAD_KIND_NAMES}
    for scaled in by_kind(docs, "ScaledObject").values():
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        assert scaled["spec"]["scaleTargetRef"]["name"] in names
        for trigger in scaled["spec"]["triggers"]:
            assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
    for kind in ("KafkaUser", "KafkaTopic"):
        for doc in by_kind(docs, kind).values():
            assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
            assert doc["metadata"]["labels"]["strimzi.io/cluster"]
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])
    for monitor in by_kind(docs, "ServiceMonitor").values():
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


WORKLOAD_KIND_NAMES = {"Deployment", "StatefulSet"}


def test_values_are_type_checked():
    result = helm_template("services.intake.replicas=notanumber")
    assert result.returncode != 0
    assert "/services/intake/replicas" in result.stderr
    assert helm_template("intake.replicas=notanumber").returncode != 0
    assert helm_template("kafka.securityProtocol=TLS").returncode != 0


def test_default_values_refuse_to_render_and_name_the_missing_secrets():
    result = helm_template(values=None)
    assert result.returncode != 0
    for name in (
        "secrets.vault.values.BLINDPOST_VAULT_KEKS",
        "secrets.intake.values.BLINDPOST_INTAKE_SECRETS",
        "secrets.resolver.values.BLINDPOST_VAULT_RESOLVER_TOKEN",
    ):
        assert name in result.stderr


def test_a_service_with_an_existing_secret_needs_no_values():
    docs = render(*_existing_secrets(), values=None)
    assert not by_kind(docs, "Secret")
    vault = workloads(docs)["vault"]
    refs = [s["secretRef"]["name"] for s in container(vault)["envFrom"] if "secretRef" in s]
    assert refs == ["my-vault-secret"]


def _existing_secrets() -> list[str]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return [f"secrets.{name}.existingSecret=my-{name}-secret" for name in values["secrets"]]


@pytest.mark.parametrize(
    "setting",
    [
        "secrets.vault.values.BLINDPOST_VAULT_ADMIN_TOKEN=short-token",
        "secrets.intake.values.BLINDPOST_INTAKE_SECRETS=a-long-enough-secret-0123456789abcdef\\,short",
    ],
)
def test_short_secrets_are_refused_without_showing_them(setting: str):
    result = helm_template(setting)
    assert result.returncode != 0
    key = setting.split("=")[0]
    assert key in result.stderr
    assert "short" not in result.stderr.replace("shorter", "")


def test_one_workload_per_service_with_probes_and_its_own_command():
    found = workloads(render())
    assert sorted(found) == DEPLOYED
    for name, workload in found.items():
        c = container(workload)
        assert c["args"] == ["run", name]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_each_service_gets_only_its_own_secrets():
    secrets = {
        name.removeprefix("bp-blindpost-"): set(doc["stringData"])
        for name, doc in by_kind(render(), "Secret").items()
    }
    holders = {
        key: {svc for svc, keys in secrets.items() if key in keys}
        for keys in secrets.values()
        for key in keys
    }
    assert holders["BLINDPOST_VAULT_KEKS"] == {"vault"}
    assert holders["BLINDPOST_VAULT_DATABASE_URL"] == {"vault"}
    assert holders["BLINDPOST_VAULT_BLIND_INDEX_KEY"] == {"vault"}
    # The phone keys open SMS, Viber and WhatsApp addresses: their three dispatchers hold them.
    phones = {"dispatch-sms", "dispatch-viber", "dispatch-whatsapp"}
    for family, dispatchers in (
        ("EMAIL", {"dispatch-email"}),
        ("SMS", phones),
        ("CIM", {"dispatch-cim"}),
    ):
        assert holders[f"BLINDPOST_SEAL_PRIVATE_KEYS_{family}"] == dispatchers
    assert holders["BLINDPOST_INTAKE_SECRETS"] == {"intake"}
    assert holders["BLINDPOST_CALLBACK_API_KEY"] == {"callback-relay"}
    config = by_kind(render(), "ConfigMap")["bp-blindpost-config"]["data"]
    assert not [key for key in config if re.search("TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL", key)]


def test_alert_rules_name_metrics_the_code_exports():
    rule = by_kind(render("metrics.prometheusRule.enabled=true"), "PrometheusRule")["bp-blindpost"]
    source = "\n".join(
        p.read_text() for d in ("shared", "services") for p in (CHART.parents[1] / d).rglob("*.py")
    )
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:  # recording rules too
            for metric in re.findall(r"\b(blindpost_[a-z_]+)", alert["expr"]):
                exported = re.sub(r"_(total|bucket|count|sum)$", "", metric)
                name = alert.get("alert") or alert["record"]
                assert f'"{exported}' in source, f"{name} uses {metric}, which no code exports"


def _leaves(tree: object, path: str = "") -> list[str]:
    if isinstance(tree, dict) and tree and path not in MAPS:
        return [
            leaf for key, sub in tree.items() for leaf in _leaves(sub, f"{path}.{key}".lstrip("."))
        ]
    return [path]


# Values that are maps of free-form entries: the README documents the map, not each entry.
MAPS = {
    "config",
    "kafka.topics",
    "networkPolicy.external",
    "podSecurityContext",
    "securityContext",
    "admin.resources",
    "topicsJob.resources",
    "kekEpochs.resources",
    "contentRetention.resources",
}


def test_the_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = [
        leaf
        for leaf in _leaves(values)
        if not leaf.startswith(("secrets.", "services.")) and f"`{leaf}`" not in readme
    ]
    assert not undocumented
    for section in (
        "secrets.<service>.existingSecret",
        "secrets.<service>.values",
        "services.<service>.replicas",
    ):
        assert f"`{section}`" in readme
