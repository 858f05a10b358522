"""The chart's monitoring objects: kube-prometheus-stack finds them by the labels given in
values, the ServiceMonitor names each service as the rules expect, runbook links get their
base URL, and each dashboard ships as a ConfigMap Grafana's sidecar picks up."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "blindpost"
HELM = ROOT / "var" / "tools" / "bin" / "helm"


@pytest.fixture(scope="module")
def helm() -> Path:
    subprocess.run(["bash", str(ROOT / "deploy" / "tools" / "install-helm.sh")], check=True)
    return HELM


def render(helm: Path, *sets: str) -> list[dict]:
    # The chart refuses to render without its secrets: the test secrets of its CI values.
    secrets = CHART / "ci" / "secrets-values.yaml"
    args = [str(helm), "template", "bp", str(CHART), "--namespace", "apps", "-f", str(secrets)]
    for value in sets:
        args += ["--set", value]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def one(docs: list[dict], kind: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def test_service_monitor_and_rules_carry_the_release_label_and_values(helm):
    docs = render(
        helm,
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=kps",
        "metrics.serviceMonitor.namespace=monitoring",
        "metrics.serviceMonitor.interval=30s",
        "metrics.serviceMonitor.relabelings[0].targetLabel=cluster",
        "metrics.serviceMonitor.relabelings[0].replacement=eu-1",
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=kps",
        "metrics.prometheusRule.runbookBaseUrl=https://git.example.com/blindpost/-/blob/main/",
    )
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["apps"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "30s"
    assert [r["targetLabel"] for r in endpoint["relabelings"]] == ["service", "cluster"]
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    urls = [
        r["annotations"]["runbook_url"]
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    ]
    assert urls and all(
        u.startswith("https://git.example.com/blindpost/-/blob/main/docs/runbooks.md#")
        for u in urls
    )


def test_each_dashboard_is_a_configmap_for_grafanas_sidecar(helm):
    assert not [
        d for d in render(helm) if d["kind"] == "ConfigMap" and "dashboard" in d["metadata"]["name"]
    ]
    docs = render(
        helm, "dashboards.enabled=true", "dashboards.annotations.grafana_folder=Blindpost"
    )
    maps = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    ]
    files = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert sorted(name for m in maps for name in m["data"]) == files
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Blindpost"}
        [(name, text)] = config_map["data"].items()
        assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())
