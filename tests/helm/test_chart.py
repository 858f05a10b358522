"""The Helm chart renders, validates against the Kubernetes schemas, and keeps each
service's secrets to that service."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.cli import SERVICES

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "blindpost"
HELM = ROOT / "var" / "tools" / "bin" / "helm"
KUBERNETES_VERSION = "1.30.0"
CRDS = {"ServiceMonitor", "PrometheusRule"}
# The SMTP sink and the stand-ins for the outside world are for `make up` only.
DEPLOYED = sorted(set(SERVICES) - {"smtp-sink", "dev-sinks"})


@pytest.fixture(scope="module")
def helm() -> Path:
    subprocess.run(["bash", str(ROOT / "deploy" / "tools" / "install-helm.sh")], check=True)
    return HELM


def render(helm: Path, *sets: str) -> list[dict]:
    args = [str(helm), "template", "bp", str(CHART)]
    for value in sets:
        args += ["--set", value]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_chart_lints(helm):
    result = subprocess.run([str(helm), "lint", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_validates_against_the_kubernetes_schema(helm):
    docs = render(
        helm, "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true"
    )
    kinds = {d["kind"] for d in docs}
    assert CRDS <= kinds
    for doc in docs:
        if doc["kind"] in CRDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_one_deployment_per_service_with_probes_and_its_own_command(helm):
    deployments = by_kind(render(helm), "Deployment")
    assert sorted(name.removeprefix("bp-blindpost-") for name in deployments) == DEPLOYED
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["run", name.removeprefix("bp-blindpost-")]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_each_service_gets_only_its_own_secrets(helm):
    secrets = {
        name.removeprefix("bp-blindpost-"): set(doc["stringData"])
        for name, doc in by_kind(render(helm), "Secret").items()
    }
    holders = {
        key: {svc for svc, keys in secrets.items() if key in keys}
        for keys in secrets.values()
        for key in keys
    }
    assert holders["BLINDPOST_VAULT_KEKS"] == {"vault"}
    assert holders["BLINDPOST_VAULT_DATABASE_URL"] == {"vault"}
    assert holders["BLINDPOST_VAULT_BLIND_INDEX_KEY"] == {"vault"}
    for family in ("EMAIL", "SMS", "CIM"):
        assert holders[f"BLINDPOST_SEAL_PRIVATE_KEYS_{family}"] == {f"dispatch-{family.lower()}"}
    assert holders["BLINDPOST_INTAKE_SECRETS"] == {"intake"}
    assert holders["BLINDPOST_CALLBACK_API_KEY"] == {"callback-relay"}
    config = by_kind(render(helm), "ConfigMap")["bp-blindpost-config"]["data"]
    assert not [key for key in config if re.search("TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL", key)]


def test_only_vault_clients_reach_the_vault(helm):
    docs = render(helm)
    policy = by_kind(docs, "NetworkPolicy")["bp-blindpost-vault"]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    clients = {
        name.removeprefix("bp-blindpost-")
        for name, d in by_kind(docs, "Deployment").items()
        if d["spec"]["template"]["metadata"]["labels"].get("blindpost.io/vault-client") == "true"
    }
    assert allowed == {"blindpost.io/vault-client": "true"}
    assert clients == {"resolver", "status-ingest"}


def test_alert_rules_name_metrics_the_code_exports(helm):
    rule = by_kind(render(helm, "metrics.prometheusRule.enabled=true"), "PrometheusRule")[
        "bp-blindpost"
    ]
    source = "\n".join(
        p.read_text() for d in ("shared", "services") for p in (ROOT / d).rglob("*.py")
    )
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:  # recording rules too
            for metric in re.findall(r"\b(blindpost_[a-z_]+)", alert["expr"]):
                exported = re.sub(r"_(total|bucket|count|sum)$", "", metric)
                assert f'"{exported}' in source, (
                    f"{alert.get('alert') or alert['record']} uses {metric}, which no code exports"
                )
