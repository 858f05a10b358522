"""Every pod is fenced by a default-deny NetworkPolicy that lets through only what its
service needs; the optional Ingress routes only the public paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helm.chart import (
    ALL_FEATURES,
    Doc,
    by_kind,
    install_helm,
    matches,
    render,
    workloads,
)

PRIVATE_PATHS = ("/metrics", "/readyz", "/healthz")


@pytest.fixture(scope="module", autouse=True)
def helm() -> Path:
    return install_helm()


def policies_for(docs: list[Doc], labels: dict[str, str]) -> list[Doc]:
    return [
        p
        for p in by_kind(docs, "NetworkPolicy").values()
        if matches(p["spec"]["podSelector"]["matchLabels"], labels)
    ]


def pod_labels(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def test_every_pod_is_selected_by_a_policy_denying_both_ways():
    docs = render(values=ALL_FEATURES)
    pods = [*workloads(docs).values(), *by_kind(docs, "Job").values()]
    assert len(pods) > 9
    for pod in pods:
        policies = policies_for(docs, pod_labels(pod))
        assert policies, f"{pod['metadata']['name']} is selected by no NetworkPolicy"
        for policy in policies:
            assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def egress_ports(policy: Doc) -> set[int]:
    return {port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])}


def test_each_service_reaches_only_dns_kafka_its_database_and_its_own_endpoints():
    docs = render()
    found = workloads(docs)
    egress = {name: egress_ports(policies_for(docs, pod_labels(w))[0]) for name, w in found.items()}
    for name, ports in egress.items():
        assert {53, 9092} <= ports, name
        assert all(
            rule.get("to")
            for p in policies_for(docs, pod_labels(found[name]))
            for rule in p["spec"]["egress"]
        ), f"{name} has an egress rule to anywhere"
    assert egress["vault"] == {53, 9092, 9093, 5432}
    assert egress["projector"] == {53, 9092, 9093, 5432}
    # the vault, and the events database for its read claims only (services/resolver/claims.py)
    assert egress["resolver"] == {53, 9092, 9093, 8081, 5432}
    assert 587 in egress["dispatch-email"]
    assert 443 not in egress["vault"] | egress["resolver"] | egress["intake"]


def test_the_vault_admits_its_clients_on_the_api_port_and_monitoring_on_metrics():
    docs = render()
    found = workloads(docs)
    [policy] = policies_for(docs, pod_labels(found["vault"]))
    rules = policy["spec"]["ingress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in rules}
    assert set(by_port) == {"http", "metrics"}
    assert by_port["metrics"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    client_selector = by_port["http"][0]["podSelector"]["matchLabels"]
    admitted = {name for name, w in found.items() if matches(client_selector, pod_labels(w))}
    # Intake and the dispatchers for players' content keys (docs/vault.md, "Content keys").
    dispatchers = {f"dispatch-{c}" for c in ("email", "sms", "viber", "whatsapp", "cim")}
    assert admitted == {"resolver", "status-ingest", "intake", *dispatchers}
    vault_port = found["vault"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert vault_port["name"] == "http"


def test_the_ingress_routes_only_public_paths_over_tls():
    docs = render("ingress.enabled=true")
    ingresses = by_kind(docs, "Ingress")
    backends = set()
    for ingress in ingresses.values():
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        assert hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["path"] != "/"
                assert not path["path"].startswith(PRIVATE_PATHS)
                assert path["backend"]["service"]["port"] == {"name": "http"}
                backends.add(path["backend"]["service"]["name"])
    assert backends == {"bp-blindpost-intake", "bp-blindpost-status-ingest"}
    assert not by_kind(render(), "Ingress")
