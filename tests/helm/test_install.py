"""The chart with every feature on installs into a real API server: every object is
accepted (server-side validation, CRDs included), the controllers create ReplicaSets and
Pods, a changed secret rolls only its service, and uninstalling leaves nothing but the
Kafka topics and the KEK epochs' volume the chart keeps on purpose."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tests.helm.chart import ALL_FEATURES, CHART, HELM, ROOT, install_helm, render, workloads
from tests.helm.kube import ControlPlane, await_binaries, missing_binaries
from tests.support.polling import eventually

NAMESPACE = "blindpost-chart-test"
RELEASE = "bp"
NEW_ADMIN_TOKEN = "rotated-vault-admin-token-0123456789abcdef"
pytestmark = [pytest.mark.slow, pytest.mark.needs_kube_build]

# Strimzi ships no Go module to take its CRDs from, and its Maven artifact io.strimzi:api
# builds them with an open schema (io.strimzi.api.kafka.Crds): these are the same, enough for
# the API server to store the chart's KafkaUsers and KafkaTopics (docs/kubernetes.md, 7).
STRIMZI_KINDS = {"KafkaUser": "kafkausers", "KafkaTopic": "kafkatopics"}


def _open_crd(kind: str, plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kafka.strimzi.io"},
        "spec": {
            "group": "kafka.strimzi.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1beta2",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    await_binaries()
    reason = missing_binaries()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(reason)  # CI builds them (make tools): their absence is a broken build
    if reason:
        pytest.skip(reason)
    install_helm()
    subprocess.run(["bash", str(ROOT / "deploy" / "tools" / "fetch-crds.sh")], check=True)
    plane = ControlPlane(tmp_path_factory.mktemp("kube"))
    try:
        plane.start()
        crds = [yaml.safe_load(p.read_text()) for p in (ROOT / "var/tools/crds").glob("*.yaml")]
        crds += [_open_crd(kind, plural) for kind, plural in STRIMZI_KINDS.items()]
        for crd in crds:
            plane.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        yield plane
    finally:
        plane.stop()


def helm(cluster: ControlPlane, *args: str) -> None:
    result = subprocess.run(
        [str(HELM), *args, "--kubeconfig", str(cluster.kubeconfig), "-n", NAMESPACE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def owned_by(items: list[dict], owner: str) -> list[dict]:
    return [
        item
        for item in items
        if any(ref["name"] == owner for ref in item["metadata"].get("ownerReferences", []))
    ]


def release_objects(cluster: ControlPlane) -> dict[str, list[str]]:
    paths = {
        "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
        "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
        "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
        "Pod": "/api/v1/namespaces/{ns}/pods",
        "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
        "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
        "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
        "Service": "/api/v1/namespaces/{ns}/services",
        "Secret": "/api/v1/namespaces/{ns}/secrets",
        "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
        "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
        "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
        "HorizontalPodAutoscaler": "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        "ScaledObject": "/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
        "ServiceMonitor": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors",
        "PrometheusRule": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules",
        "KafkaUser": "/apis/kafka.strimzi.io/v1beta2/namespaces/{ns}/kafkausers",
        "KafkaTopic": "/apis/kafka.strimzi.io/v1beta2/namespaces/{ns}/kafkatopics",
    }
    found = {}
    for kind, path in paths.items():
        names = [
            item["metadata"]["name"]
            for item in cluster.items(path.format(ns=NAMESPACE))
            if item["metadata"]["name"].startswith(f"{RELEASE}-")
        ]
        if names:
            found[kind] = sorted(names)
    return found


async def test_install_upgrade_and_uninstall(cluster: ControlPlane):
    expected = workloads(render(values=ALL_FEATURES))
    helm(cluster, "install", RELEASE, str(CHART), "-f", str(ALL_FEATURES), "--create-namespace")

    def every_workload_has_pods() -> bool:
        pods = cluster.items(f"/api/v1/namespaces/{NAMESPACE}/pods")
        sets = cluster.items(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets")
        for workload in expected.values():
            name = workload["metadata"]["name"]
            owners = [name]
            if workload["kind"] == "Deployment":
                owners = [rs["metadata"]["name"] for rs in owned_by(sets, name)]
            if not any(owned_by(pods, owner) for owner in owners):
                return False
        return True

    await eventually(every_workload_has_pods, within=60, what="a Pod for every workload")

    def replica_sets(deployment: str) -> int:
        sets = cluster.items(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets")
        return len(owned_by(sets, f"{RELEASE}-blindpost-{deployment}"))

    assert replica_sets("vault") == replica_sets("intake") == 1
    helm(
        cluster,
        "upgrade",
        RELEASE,
        str(CHART),
        "-f",
        str(ALL_FEATURES),
        "--set",
        f"secrets.vault.values.BLINDPOST_VAULT_ADMIN_TOKEN={NEW_ADMIN_TOKEN}",
    )
    await eventually(lambda: replica_sets("vault") == 2, within=60, what="the vault rolling")
    assert replica_sets("intake") == 1, "a secret of the vault rolled intake"

    helm(cluster, "uninstall", RELEASE)
    rendered = render(values=ALL_FEATURES)
    kept = sorted(d["metadata"]["name"] for d in rendered if d["kind"] == "KafkaTopic")
    # The KEK epochs' volume outlives the release: deleting it would shred every subject.
    epochs = [d["metadata"]["name"] for d in rendered if d["kind"] == "PersistentVolumeClaim"]
    await eventually(
        lambda: release_objects(cluster) == {"KafkaTopic": kept, "PersistentVolumeClaim": epochs},
        within=60,
        what="nothing left but the kept KafkaTopics and the KEK epochs' volume",
        details=lambda: str(release_objects(cluster)),
    )
